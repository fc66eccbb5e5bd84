import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { pipelineSettings } from '../shared/settings.ts';
import { ensureResultsTable } from './results-table.ts';
import type { SqsQueueRef } from './sqs-event-source.ts';

/**
 * Fixed names: a selfie's id contains the bucket name, so the bucket must be the same on every run
 * for results kept in the file-backed table to match re-uploaded files.
 */
export const localResourceNames = {
  bucket: 'liveness-batch-selfies',
  tableName: 'liveness-batch-results',
  workQueue: 'liveness-batch-work',
  deadLetterQueue: 'liveness-batch-work-dlq',
  reviewQueue: 'liveness-batch-review',
  opsQueue: 'liveness-batch-ops',
} as const;

export interface LocalResources {
  bucket: string;
  tableName: string;
  workQueue: SqsQueueRef;
  deadLetterQueue: SqsQueueRef;
  reviewQueue: SqsQueueRef;
  opsQueue: SqsQueueRef;
}

async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string> = {},
): Promise<SqsQueueRef> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (!QueueUrl) throw new Error(`CreateQueue ${name} returned no URL`);
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  const queueArn = out.Attributes?.QueueArn;
  if (!queueArn) throw new Error(`Queue ${name} has no ARN`);
  return { queueUrl: QueueUrl, queueArn };
}

const retentionSeconds = (days: number) => String(days * 24 * 3600);

/**
 * The resources the CDK stack deploys, created in the emulators: the selfie bucket, the work queue
 * with its DLQ and redrive policy, the review and ops queues the rules target, and the results table.
 */
export async function createLocalResources(
  clients: { s3: S3Client; sqs: SQSClient; db: DynamoDBDocumentClient },
  workQueueVisibilitySeconds: number,
): Promise<LocalResources> {
  const names = localResourceNames;
  await clients.s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
  const deadLetterQueue = await createQueue(clients.sqs, names.deadLetterQueue, {
    MessageRetentionPeriod: retentionSeconds(pipelineSettings.deadLetterQueue.retentionDays),
  });
  const [workQueue, reviewQueue, opsQueue] = await Promise.all([
    createQueue(clients.sqs, names.workQueue, {
      VisibilityTimeout: String(workQueueVisibilitySeconds),
      MessageRetentionPeriod: retentionSeconds(pipelineSettings.workQueue.retentionDays),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: deadLetterQueue.queueArn,
        maxReceiveCount: pipelineSettings.workQueue.maxReceiveCount,
      }),
    }),
    createQueue(clients.sqs, names.reviewQueue),
    createQueue(clients.sqs, names.opsQueue),
  ]);
  await ensureResultsTable(clients.db, names.tableName);
  return {
    bucket: names.bucket,
    tableName: names.tableName,
    workQueue,
    deadLetterQueue,
    reviewQueue,
    opsQueue,
  };
}
