import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createDocumentClient, createS3Client } from '../../shared/aws-clients.ts';
import { emulatorEndpoints, uniqueName } from '../support/emulators.ts';

describe('emulators started by the test setup', () => {
  it('stores and returns an S3 object whose key has spaces, unicode and +', async () => {
    // Prepare
    const s3 = createS3Client(emulatorEndpoints());
    const bucket = uniqueName('bucket');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const key = 'uploads/batch 1/Zoë + friend.jpg';

    // Act
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'bytes' }));
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));

    // Assess
    expect(await object.Body?.transformToString()).toBe('bytes');
  });

  it('answers DynamoDB calls', async () => {
    const ddb = createDocumentClient(emulatorEndpoints());
    const tables = await ddb.send(new ListTablesCommand({}));
    expect(Array.isArray(tables.TableNames)).toBe(true);
  });
});
