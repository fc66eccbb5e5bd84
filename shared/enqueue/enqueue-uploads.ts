import { createHash } from 'node:crypto';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { S3EventRecord } from 'aws-lambda';
import { DECISIONS, IN_FLIGHT_STATES } from '../decision.ts';
import { serializeVerifySelfieMessage, type VerifySelfieMessage } from '../messages.ts';
import { keys } from '../results/records.ts';
import { NO_CALLS, type SelfieLifecycle } from '../results/selfie-lifecycle.ts';
import { batchIdOf, decodeS3EventKey, isFolderMarker, selfieIdOf } from '../selfie.ts';
import { reason } from '../verification/reasons.ts';

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
  /** Decided REJECTED here, never queued: selfie ids too long for the table's keys (KEY_TOO_LONG). */
  rejected: number;
  ignored: number;
}

const SQS_BATCH_LIMIT = 10;

/** DynamoDB's limits on a key attribute's value, in UTF-8 bytes (table and index keys alike). */
const PARTITION_KEY_MAX_BYTES = 2048;
const SORT_KEY_MAX_BYTES = 1024;

/**
 * The longest selfie id every key that holds it can take, computed from the key builders: the id is
 * in the result's pk (`SELFIE#<id>`), the byBatch sort key (`<state>#<id>`, every state) and the
 * byDecisionDate sort key (`<decidedAt>#<id>`, decidedAt a fixed-width ISO instant). The last is the
 * longest, so this is 1024 - 25 = 999 bytes. An S3 key may be 1024 bytes, so real ids can exceed it.
 */
export const MAX_SELFIE_ID_BYTES = Math.min(
  PARTITION_KEY_MAX_BYTES - Buffer.byteLength(keys.selfie('')),
  ...[...IN_FLIGHT_STATES, ...DECISIONS].map(
    (state) => SORT_KEY_MAX_BYTES - Buffer.byteLength(keys.batchIndexSk(state, '')),
  ),
  SORT_KEY_MAX_BYTES - Buffer.byteLength(keys.decisionSk(new Date(0).toISOString(), '')),
);

/**
 * The id a selfie whose real id does not fit the keys is recorded under: `sha256:` + the hex SHA-256 of
 * the full id. Deterministic, so S3's redelivery finds the same record; it cannot be a real id (those
 * start with `s3://`), and the result keeps bucket, key and versionId in full as plain attributes.
 */
export function hashedSelfieId(selfieId: string): string {
  return `sha256:${createHash('sha256').update(selfieId, 'utf8').digest('hex')}`;
}

/** How long the enqueue invocation's lease on a too-long selfie lasts; the decision follows at once. */
const REJECT_LEASE_MS = 60_000;

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
  let rejected = 0;
  for (const message of messages) {
    if (Buffer.byteLength(message.selfieId, 'utf8') > MAX_SELFIE_ID_BYTES) {
      if (await rejectKeyTooLong(message, deps.repository, now().toISOString())) rejected++;
      else alreadyKnown++;
      continue;
    }
    const created = await deps.repository.recordReceived(message);
    if (created || (await deps.repository.needsEnqueue(message.selfieId))) toSend.push(message);
    else alreadyKnown++;
  }
  for (let start = 0; start < toSend.length; start += SQS_BATCH_LIMIT) {
    const group = toSend.slice(start, start + SQS_BATCH_LIMIT);
    await sendAll(deps, group);
    await Promise.all(group.map((m) => deps.repository.markEnqueued(m.selfieId, now().toISOString())));
  }
  return { enqueued: toSend.length, alreadyKnown, rejected, ignored };
}

/**
 * Decides a selfie whose id is too long for the table's keys REJECTED (KEY_TOO_LONG) here, before it
 * reaches the work queue: otherwise every delivery would pay the vendor and then fail at the decision
 * write. The simplest honest record: the same lifecycle as any selfie (RECEIVED, leased, decided, with
 * the batch counts and the outcome event that go with it), only under the hashed id, because the real
 * one cannot be stored in the index sort keys; the reason names both lengths and the hashed id.
 * Idempotent: S3's redelivery finds the record decided and counts it as already known.
 * Returns true when this call decided it.
 */
async function rejectKeyTooLong(message: VerifySelfieMessage, repository: SelfieLifecycle, at: string) {
  const selfieId = hashedSelfieId(message.selfieId);
  await repository.recordReceived({ ...message, selfieId });
  const leaseId = `enqueue-${selfieId}`;
  const lease = await repository.acquireLease(selfieId, {
    id: leaseId,
    until: Date.parse(at) + REJECT_LEASE_MS,
    receiveCount: 0,
    at,
  });
  if (lease.status !== 'acquired') return false;
  const bytes = Buffer.byteLength(message.selfieId, 'utf8');
  return repository.recordDecision(
    { selfieId, batchId: message.batchId, leaseId },
    {
      decision: 'REJECTED',
      reason: reason(
        'KEY_TOO_LONG',
        `the selfie id (s3://bucket/key) is ${bytes} bytes; the results table's keys hold at most ${MAX_SELFIE_ID_BYTES} ` +
          `(DynamoDB sort keys: ${SORT_KEY_MAX_BYTES} bytes), so it is recorded under ${selfieId}, the SHA-256 of the id. ` +
          'Shorten the file or folder name and upload it again.',
      ),
      decidedAt: at,
      totals: NO_CALLS,
      summarized: NO_CALLS,
    },
  );
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
