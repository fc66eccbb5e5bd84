import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { S3EventRecord } from 'aws-lambda';
import { serializeVerifySelfieMessage, type VerifySelfieMessage } from '../messages.ts';
import type { SelfieLifecycle } from '../results/selfie-lifecycle.ts';
import { batchIdOf, decodeS3EventKey, isFolderMarker, selfieIdOf } from '../selfie.ts';

export interface EnqueueDeps {
  repository: SelfieLifecycle;
  sqs: SQSClient;
  workQueueUrl: string;
  uploadPrefix: string;
  now?: () => Date;
  /** Rounds of resending entries SendMessageBatch reported as failed, before the invocation fails. */
  maxResendRounds?: number;
}

export interface EnqueueSummary {
  enqueued: number;
  alreadyKnown: number;
  ignored: number;
}

const SQS_BATCH_LIMIT = 10;

/** Turns ObjectCreated records into work: the S3 event shape, decoded once, becomes one message per selfie. */
export function selfieMessagesFrom(records: readonly S3EventRecord[], uploadPrefix: string, now: Date) {
  const messages: VerifySelfieMessage[] = [];
  let ignored = 0;
  for (const record of records) {
    const key = decodeS3EventKey(record.s3.object.key);
    const batchId = batchIdOf(key, uploadPrefix);
    if (
      !record.eventName.startsWith('ObjectCreated') ||
      !batchId ||
      isFolderMarker(key, record.s3.object.size)
    ) {
      ignored++;
      continue;
    }
    const ref = {
      bucket: record.s3.bucket.name,
      key,
      ...(record.s3.object.versionId ? { versionId: record.s3.object.versionId } : {}),
    };
    messages.push({
      ...ref,
      selfieId: selfieIdOf(ref),
      batchId,
      receivedAt: record.eventTime || now.toISOString(),
    });
  }
  return { messages, ignored };
}

/**
 * Records each upload as RECEIVED (once) and sends it to the work queue. A selfie already known is
 * not sent again unless an earlier invocation recorded it but failed before sending it. Anything
 * that still cannot be sent fails the invocation, so S3's retry brings it back rather than losing it.
 */
export async function enqueueUploads(
  records: readonly S3EventRecord[],
  deps: EnqueueDeps,
): Promise<EnqueueSummary> {
  const now = deps.now ?? (() => new Date());
  const { messages, ignored } = selfieMessagesFrom(records, deps.uploadPrefix, now());
  const toSend: VerifySelfieMessage[] = [];
  let alreadyKnown = 0;
  for (const message of messages) {
    const created = await deps.repository.recordReceived(message);
    if (created || (await deps.repository.needsEnqueue(message.selfieId))) toSend.push(message);
    else alreadyKnown++;
  }
  for (let start = 0; start < toSend.length; start += SQS_BATCH_LIMIT) {
    const group = toSend.slice(start, start + SQS_BATCH_LIMIT);
    await sendAll(deps, group);
    await Promise.all(group.map((m) => deps.repository.markEnqueued(m.selfieId, now().toISOString())));
  }
  return { enqueued: toSend.length, alreadyKnown, ignored };
}

async function sendAll(deps: EnqueueDeps, group: VerifySelfieMessage[]): Promise<void> {
  let pending = group.map((message, index) => ({
    Id: String(index),
    MessageBody: serializeVerifySelfieMessage(message),
  }));
  const rounds = deps.maxResendRounds ?? 3;
  for (let round = 0; round <= rounds && pending.length > 0; round++) {
    const out = await deps.sqs.send(
      new SendMessageBatchCommand({ QueueUrl: deps.workQueueUrl, Entries: pending }),
    );
    const failedIds = new Set((out.Failed ?? []).map((f) => f.Id));
    pending = pending.filter((entry) => failedIds.has(entry.Id));
  }
  if (pending.length > 0) {
    throw new Error(
      `SendMessageBatch kept failing for ${pending.length} selfie(s); failing the invocation so S3 retries it`,
    );
  }
}
