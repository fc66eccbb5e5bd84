import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startDynamoDbLocal } from '../../local-cloud/dynamodb-local.ts';
import { startS3SqsEmulator } from '../../local-cloud/fauxqs.ts';
import { createLocalResources, type LocalResources } from '../../local-cloud/resources.ts';
import { type RunningSandbox, type StartSandboxOptions, startSandbox } from '../../sandbox/server.ts';
import { createDocumentClient, createS3Client, createSqsClient } from '../../shared/aws-clients.ts';
import type { VerifySelfieMessage } from '../../shared/messages.ts';
import { SelfieLifecycle } from '../../shared/results/selfie-lifecycle.ts';
import { selfieIdOf } from '../../shared/selfie.ts';

/**
 * The emulators and the sandbox, in memory, with the stack's resources created: what a bench needs
 * to run a handler against something real. Everything stops in `stop()` (DynamoDB Local included).
 */
export async function startLocalServices(sandboxOptions: StartSandboxOptions = {}) {
  const [emulator, dynamodb, sandbox] = await Promise.all([
    startS3SqsEmulator(0),
    startDynamoDbLocal(),
    startSandbox({ port: 0, seed: 'bench', ...sandboxOptions }),
  ]);
  const stop = async () => {
    await Promise.allSettled([emulator.stop(), dynamodb.stop(), sandbox.stop()]);
  };
  try {
    const endpoints = {
      region: 'us-east-1',
      s3: emulator.endpoint,
      sqs: emulator.endpoint,
      dynamodb: dynamodb.endpoint,
      localCredentials: true,
    };
    const s3 = createS3Client(endpoints);
    const sqs = createSqsClient(endpoints);
    const db = createDocumentClient(endpoints);
    const resources: LocalResources = await createLocalResources({ s3, sqs, db }, 150);
    const repository = new SelfieLifecycle(db, resources.tableName);
    return {
      endpoints,
      s3,
      sqs,
      db,
      resources,
      repository,
      sandbox: sandbox as RunningSandbox,
      /** Uploads an object and records it RECEIVED, as enqueue would; returns its work-queue message. */
      async putSelfie(key: string, bytes: Buffer): Promise<VerifySelfieMessage> {
        await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: key, Body: bytes }));
        const ref = { bucket: resources.bucket, key };
        const message = {
          ...ref,
          selfieId: selfieIdOf(ref),
          batchId: key.split('/')[1] ?? 'bench',
          receivedAt: new Date().toISOString(),
        };
        await repository.recordReceived(message);
        return message;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export type LocalServices = Awaited<ReturnType<typeof startLocalServices>>;
