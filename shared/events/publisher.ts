import { setTimeout as sleep } from 'node:timers/promises';
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';

/** PutEvents accepts at most this many entries per call. */
export const PUT_EVENTS_MAX_ENTRIES = 10;

export interface PutEventsResultEntry {
  eventId?: string;
  errorCode?: string;
  errorMessage?: string;
}

export interface PutEventsResult {
  failedEntryCount: number;
  /** One per input entry, in the same order, like AWS. */
  entries: PutEventsResultEntry[];
}

/** Where outcome events go: EventBridge on AWS, the LocalEventBus on one machine. */
export interface EventPublisher {
  putEvents(entries: PutEventsRequestEntry[]): Promise<PutEventsResult>;
}

/** The AWS host: PutEvents on a real bus. */
export class EventBridgePublisher implements EventPublisher {
  constructor(private readonly client: Pick<EventBridgeClient, 'send'>) {}

  async putEvents(entries: PutEventsRequestEntry[]): Promise<PutEventsResult> {
    const output = await this.client.send(new PutEventsCommand({ Entries: entries }));
    const results = entries.map((_, index): PutEventsResultEntry => {
      const result = output.Entries?.[index];
      // AWS always answers one result per entry; a missing one is treated as failed so it is resent.
      if (!result)
        return {
          errorCode: 'MissingResultEntry',
          errorMessage: 'PutEvents returned no result for this entry',
        };
      return {
        ...(result.EventId ? { eventId: result.EventId } : {}),
        ...(result.ErrorCode ? { errorCode: result.ErrorCode } : {}),
        ...(result.ErrorMessage ? { errorMessage: result.ErrorMessage } : {}),
      };
    });
    return { failedEntryCount: output.FailedEntryCount ?? results.filter(isFailed).length, entries: results };
  }
}

export interface UnpublishedEntry {
  /** Position in the entries given to publishAll, so a caller can map it back to its source record. */
  index: number;
  entry: PutEventsRequestEntry;
  errorCode: string;
  errorMessage?: string;
}

export interface PublishAllOptions {
  /** Rounds of resending the failed entries after the first send. */
  maxResendRounds: number;
  /** Wait before resend round n: resendDelayMs * 2^(n-1). Default 100 ms. */
  resendDelayMs?: number;
}

/**
 * Sends entries in groups of 10, resends only the entries that failed (PutEvents fails entry by
 * entry, e.g. ThrottlingException or InternalFailure), and returns those still failing after the
 * last round. A call that throws counts as a failure of every entry it carried.
 */
export async function publishAll(
  publisher: EventPublisher,
  entries: readonly PutEventsRequestEntry[],
  options: PublishAllOptions,
): Promise<UnpublishedEntry[]> {
  const resendDelayMs = options.resendDelayMs ?? 100;
  let pending: UnpublishedEntry[] = entries.map((entry, index) => ({ index, entry, errorCode: 'NotSent' }));

  for (let round = 0; round <= options.maxResendRounds && pending.length > 0; round++) {
    if (round > 0 && resendDelayMs > 0) await sleep(resendDelayMs * 2 ** (round - 1));
    const stillFailing: UnpublishedEntry[] = [];
    for (let start = 0; start < pending.length; start += PUT_EVENTS_MAX_ENTRIES) {
      stillFailing.push(
        ...(await sendGroup(publisher, pending.slice(start, start + PUT_EVENTS_MAX_ENTRIES))),
      );
    }
    pending = stillFailing;
  }
  return pending;
}

async function sendGroup(publisher: EventPublisher, group: UnpublishedEntry[]): Promise<UnpublishedEntry[]> {
  let result: PutEventsResult;
  try {
    result = await publisher.putEvents(group.map(({ entry }) => entry));
  } catch (error) {
    const errorMessage = error instanceof Error ? error.message : String(error);
    const errorCode = error instanceof Error ? error.name : 'PutEventsFailed';
    return group.map(({ index, entry }) => ({ index, entry, errorCode, errorMessage }));
  }
  if (result.failedEntryCount === 0) return [];
  return group.flatMap(({ index, entry }, position) => {
    const outcome = result.entries[position];
    if (outcome && !isFailed(outcome)) return [];
    return [
      {
        index,
        entry,
        errorCode: outcome?.errorCode ?? 'MissingResultEntry',
        ...(outcome?.errorMessage ? { errorMessage: outcome.errorMessage } : {}),
      },
    ];
  });
}

function isFailed(result: PutEventsResultEntry): boolean {
  return result.errorCode !== undefined || result.eventId === undefined;
}
