import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import { isTerminal } from '../shared/decision.ts';
import { toPutEventsEntry } from '../shared/events/outcome-event.ts';
import { type EventPublisher, PUT_EVENTS_MAX_ENTRIES, publishAll } from '../shared/events/publisher.ts';
import { toOutcomeDetail } from '../shared/publish/publish-outcomes.ts';
import { keys, type SelfieResult } from '../shared/results/records.ts';
import type { AuditQueries } from './audit-queries.ts';

/** What happened to one selfie's outcome. */
export interface RepublishedOutcome {
  selfieId: string;
  /** published: PutEvents accepted it; failed: still refused after the resend rounds; undecided/missing: nothing to publish. */
  result: 'published' | 'failed' | 'undecided' | 'missing';
  decision?: string;
  eventId?: string;
  error?: string;
}

export interface RepublishSummary {
  dryRun: boolean;
  published: number;
  failed: number;
  outcomes: RepublishedOutcome[];
}

export interface RepublishOptions {
  queries: AuditQueries;
  publisher: EventPublisher;
  eventBusName: string;
  /** A batch's decided results (index byBatch), or the named selfies (by key). */
  select: { batchId: string } | { selfieIds: readonly string[] };
  dryRun: boolean;
  maxResendRounds?: number;
  onOutcome?: (outcome: RepublishedOutcome) => void;
}

/**
 * Publishes the outcome events of decided selfies again, built from the results table exactly as the
 * stream's publish builds them (`toOutcomeDetail`): same detail, same `eventId` (a hash of selfie id
 * and decidedAt), so a consumer that already has an outcome recognises the copy and drops it. For
 * consumers that missed a publish (a PutEvents that kept failing, a target that was down, a
 * stream batch that reached the publish failure queue). Undecided selfies have no outcome yet and
 * are listed, not published. A dry run lists what would be published.
 */
export async function republishOutcomes(options: RepublishOptions): Promise<RepublishSummary> {
  const summary: RepublishSummary = { dryRun: options.dryRun, published: 0, failed: 0, outcomes: [] };
  for await (const page of selected(options)) {
    const decided: SelfieResult[] = [];
    for (const item of page) {
      if (typeof item === 'string') report({ selfieId: item, result: 'missing' });
      else if (!isTerminal(item.state)) report({ selfieId: item.selfieId, result: 'undecided' });
      else decided.push(item);
    }
    const details = decided.map(toOutcomeDetail);
    if (options.dryRun) {
      for (const d of details) {
        report({ selfieId: d.selfieId, result: 'published', decision: d.decision, eventId: d.eventId });
      }
      continue;
    }
    const unpublished = await publishAll(
      options.publisher,
      details.map((d) => toPutEventsEntry(d, options.eventBusName)),
      { maxResendRounds: options.maxResendRounds ?? 3 },
    );
    const failedAt = new Map(unpublished.map((u) => [u.index, u]));
    for (const [index, d] of details.entries()) {
      const failure = failedAt.get(index);
      const base = { selfieId: d.selfieId, decision: d.decision, eventId: d.eventId };
      if (failure) {
        summary.failed += 1;
        report({
          ...base,
          result: 'failed',
          error: `${failure.errorCode}${failure.errorMessage ? `: ${failure.errorMessage}` : ''}`,
        });
      } else {
        summary.published += 1;
        report({ ...base, result: 'published' });
      }
    }
  }
  return summary;

  function report(outcome: RepublishedOutcome) {
    summary.outcomes.push(outcome);
    options.onOutcome?.(outcome);
  }
}

/** Pages of results to republish; a selfie id with no result comes back as that id. */
async function* selected(options: RepublishOptions): AsyncGenerator<Array<SelfieResult | string>> {
  const { select, queries } = options;
  if ('batchId' in select) {
    yield* queries.batchPages(select.batchId);
    return;
  }
  for (let start = 0; start < select.selfieIds.length; start += PUT_EVENTS_MAX_ENTRIES) {
    const ids = select.selfieIds.slice(start, start + PUT_EVENTS_MAX_ENTRIES);
    yield await Promise.all(ids.map(async (id) => (await queries.getResult(id)) ?? id));
  }
}

/**
 * What Lambda writes to the publish function's on-failure queue when a stream batch exhausted its
 * retries: not the records, only where they are in the table's stream (which keeps them 24 hours).
 */
export const publishFailureMessageSchema = z.looseObject({
  DDBStreamBatchInfo: z.looseObject({
    shardId: z.string().min(1),
    startSequenceNumber: z.string().regex(/^\d+$/),
    endSequenceNumber: z.string().regex(/^\d+$/),
    streamArn: z.string().min(1),
    approximateArrivalOfFirstRecord: z.string().optional(),
    approximateArrivalOfLastRecord: z.string().optional(),
  }),
});
export type StreamPointer = z.infer<typeof publishFailureMessageSchema>['DDBStreamBatchInfo'];

/** Only these calls are used; the local cloud's DynamoDB Local serves them too. */
export type StreamReader = Pick<DynamoDBStreamsClient, 'send'>;

/** Pages of a closed-range read that may come back empty while the shard is still open. */
const MAX_EMPTY_PAGES = 5;

/**
 * The selfies whose decided result items lie between the pointer's first and last sequence numbers.
 * Throws the stream's own error (TrimmedDataAccessException, ResourceNotFoundException) when the
 * records are gone: the stream keeps them 24 hours.
 */
export async function selfiesAtPointer(streams: StreamReader, pointer: StreamPointer): Promise<string[]> {
  const end = BigInt(pointer.endSequenceNumber);
  const selfieIds = new Set<string>();
  let iterator = (
    await streams.send(
      new GetShardIteratorCommand({
        StreamArn: pointer.streamArn,
        ShardId: pointer.shardId,
        ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        SequenceNumber: pointer.startSequenceNumber,
      }),
    )
  ).ShardIterator;
  let empty = 0;
  while (iterator && empty < MAX_EMPTY_PAGES) {
    const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
    const records = page.Records ?? [];
    empty = records.length === 0 ? empty + 1 : 0;
    for (const record of records) {
      if (BigInt(record.dynamodb?.SequenceNumber ?? '0') > end) return [...selfieIds];
      const image = record.dynamodb?.NewImage;
      if (!image) continue;
      const item = unmarshall(image as Record<string, AttributeValue>);
      if (item.sk === keys.result && isTerminal(String(item.state)) && typeof item.selfieId === 'string') {
        selfieIds.add(item.selfieId);
      }
    }
    iterator = page.NextShardIterator;
  }
  return [...selfieIds];
}

export interface ReplayedPointer {
  messageId: string;
  /** replayed: its selfies republished, message deleted (dry run: would be); failed: some refused, kept;
   * expired: the stream no longer has the records, kept; unreadable: not an on-failure message, kept. */
  result: 'replayed' | 'failed' | 'expired' | 'unreadable';
  selfieIds: string[];
  detail?: string;
}

export interface ReplayOptions {
  sqs: SQSClient;
  publishFailureQueueUrl: string;
  streams: StreamReader;
  /** Republishes these selfies' outcomes (republishOutcomes with `selfieIds`). */
  republish: (selfieIds: string[]) => Promise<RepublishSummary>;
  dryRun: boolean;
  onPointer?: (pointer: ReplayedPointer) => void;
}

/**
 * `republish --from-failures`: reads each pointer on the publish on-failure queue, finds the decided
 * selfies in that stretch of the stream, republishes their outcomes from the table (current state,
 * stable event ids), and deletes the message once every one was accepted. A message whose records
 * the stream no longer holds is kept and reported with its time window, for a `republish --batch`.
 */
export async function replayPublishFailures(options: ReplayOptions): Promise<ReplayedPointer[]> {
  const { sqs } = options;
  const replayed: ReplayedPointer[] = [];
  const received: Message[] = [];
  const seen = new Set<string>();
  try {
    for (;;) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.publishFailureQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: 120,
        }),
      );
      const messages = (out.Messages ?? []).filter((m) => !seen.has(m.MessageId ?? ''));
      if (messages.length === 0) break;
      for (const message of messages) {
        seen.add(message.MessageId ?? '');
        const pointer = await replayOne(message);
        replayed.push(pointer);
        options.onPointer?.(pointer);
        if (pointer.result === 'replayed' && !options.dryRun) {
          await sqs.send(
            new DeleteMessageCommand({
              QueueUrl: options.publishFailureQueueUrl,
              ReceiptHandle: message.ReceiptHandle ?? '',
            }),
          );
        } else received.push(message);
      }
    }
  } finally {
    // What stays on the queue is visible again at once, for the next run or the console.
    for (let start = 0; start < received.length; start += 10) {
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: options.publishFailureQueueUrl,
          Entries: received.slice(start, start + 10).map((m, i) => ({
            Id: String(i),
            ReceiptHandle: m.ReceiptHandle ?? '',
            VisibilityTimeout: 0,
          })),
        }),
      );
    }
  }
  return replayed;

  async function replayOne(message: Message): Promise<ReplayedPointer> {
    const messageId = message.MessageId ?? '';
    let pointer: StreamPointer;
    try {
      pointer = publishFailureMessageSchema.parse(JSON.parse(message.Body ?? '')).DDBStreamBatchInfo;
    } catch {
      return { messageId, result: 'unreadable', selfieIds: [], detail: 'not a stream on-failure record' };
    }
    let selfieIds: string[];
    try {
      selfieIds = await selfiesAtPointer(options.streams, pointer);
    } catch (error) {
      const name = error instanceof Error ? error.name : '';
      if (
        !['TrimmedDataAccessException', 'ResourceNotFoundException', 'ExpiredIteratorException'].includes(
          name,
        )
      ) {
        throw error;
      }
      return {
        messageId,
        result: 'expired',
        selfieIds: [],
        detail: `the stream no longer holds these records (${name}); they arrived ${
          pointer.approximateArrivalOfFirstRecord ?? '?'
        } to ${pointer.approximateArrivalOfLastRecord ?? '?'}: republish the batches decided then (--batch), then delete the message`,
      };
    }
    if (options.dryRun || selfieIds.length === 0) return { messageId, result: 'replayed', selfieIds };
    const summary = await options.republish(selfieIds);
    return summary.failed === 0
      ? { messageId, result: 'replayed', selfieIds }
      : { messageId, result: 'failed', selfieIds, detail: `${summary.failed} event(s) refused` };
  }
}
