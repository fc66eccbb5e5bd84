import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { isTerminal } from '../decision.ts';
import { type OutcomeEventDetail, outcomeEventId, toPutEventsEntry } from '../events/outcome-event.ts';
import { type EventPublisher, publishAll } from '../events/publisher.ts';
import { keys, type SelfieResult, selfieResultSchema, withoutNulls } from '../results/records.ts';

export interface PublishDeps {
  publisher: EventPublisher;
  eventBusName: string;
  maxResendRounds?: number;
}

/**
 * A stream record is an outcome when it writes a result item in a decision state. Decided items
 * are never updated again (every transition is conditional), so each decision is seen once.
 */
export function outcomeOf(record: DynamoDBRecord): OutcomeEventDetail | undefined {
  const image = record.dynamodb?.NewImage;
  if (!image || record.eventName === 'REMOVE') return undefined;
  const item = unmarshall(image as Record<string, AttributeValue>);
  if (item.sk !== keys.result || !isTerminal(String(item.state))) return undefined;
  // A reviewer's verdict adds `review` to a decided item; that write is not a new outcome (the review
  // command publishes its own event). A later decision (after a redrive) is newer than the review.
  const reviewedAt = (item.review as { at?: unknown } | undefined)?.at;
  if (typeof reviewedAt === 'string' && typeof item.decidedAt === 'string' && reviewedAt >= item.decidedAt) {
    return undefined;
  }
  // An operator's later write to a decided item (reconcile settling an uncertain call) moves updatedAt
  // past decidedAt; it is not a new outcome either.
  if (
    typeof item.updatedAt === 'string' &&
    typeof item.decidedAt === 'string' &&
    item.updatedAt > item.decidedAt
  ) {
    return undefined;
  }
  return toOutcomeDetail(selfieResultSchema.parse(withoutNulls(item)));
}

export function toOutcomeDetail(result: SelfieResult): OutcomeEventDetail {
  const decidedAt = result.decidedAt ?? result.updatedAt;
  const v1 = {
    schemaVersion: 1 as const,
    eventId: outcomeEventId(result.selfieId, decidedAt),
    selfieId: result.selfieId,
    bucket: result.bucket,
    key: result.key,
    batchId: result.batchId,
    decision: result.decision ?? (result.state as OutcomeEventDetail['decision']),
    reason: result.reason ?? null,
    liveScore: result.liveScore ?? null,
    popScore: result.popScore ?? null,
    vendorStatus: result.vendorStatus ?? null,
    transactionReference: result.transactionReference ?? null,
    debitStatus: result.debitStatus ?? null,
    duplicateOf: result.duplicateOf ?? null,
    attempts: result.attempts,
    paidCalls: result.paidCalls,
    uncertainCalls: result.uncertainCalls,
    receivedAt: result.receivedAt,
    decidedAt,
  };
  // Version 2 only for uploads that carried IDs: version 1 consumers see no change otherwise.
  if (result.subjectId === undefined && result.correlationId === undefined) return v1;
  return {
    ...v1,
    schemaVersion: 2,
    subjectId: result.subjectId ?? null,
    correlationId: result.correlationId ?? null,
  };
}

/**
 * Publishes one event per decided selfie in the stream batch and returns the sequence numbers of
 * records whose event still could not be published (stream item failures: Lambda retries from there).
 */
export async function publishOutcomes(records: readonly DynamoDBRecord[], deps: PublishDeps) {
  // A decided item that does not fit the event schema fails alone, as a stream item failure (on AWS it
  // then reaches the on-failure queue), instead of failing every outcome in the batch.
  const unreadable: { record: DynamoDBRecord; error: string }[] = [];
  const outcomes = records.flatMap((record) => {
    try {
      const detail = outcomeOf(record);
      return detail ? [{ record, detail }] : [];
    } catch (error) {
      unreadable.push({ record, error: error instanceof Error ? error.message : String(error) });
      return [];
    }
  });
  const unpublished = await publishAll(
    deps.publisher,
    outcomes.map(({ detail }) => toPutEventsEntry(detail, deps.eventBusName)),
    { maxResendRounds: deps.maxResendRounds ?? 3 },
  );
  const failedSequenceNumbers = [
    ...unreadable.map(({ record }) => record),
    ...unpublished.map(({ index }) => outcomes[index]?.record),
  ]
    .map((record) => record?.dynamodb?.SequenceNumber)
    .filter((n): n is string => typeof n === 'string');
  return {
    published: outcomes.length - unpublished.length,
    unpublished,
    unreadable: unreadable.map(({ error }) => error),
    failedSequenceNumbers,
  };
}
