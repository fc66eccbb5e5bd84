import { setTimeout as defaultSleep } from 'node:timers/promises';
import type { CallOutcome, CallResult, LivenessCaller } from './client.ts';

/** One call to the vendor as the results table records it. */
export interface AttemptRecord {
  /** Numbering continues across SQS redeliveries (`firstAttempt`). */
  attempt: number;
  transactionReference: string;
  startedAt: string;
  endedAt: string;
  httpStatus?: number;
  responseCode?: string;
  outcome: CallOutcome;
  /** Short, secret-free reason ("PENDING (code 01)", "HTTP 500", "no answer within 15000 ms"). */
  detail?: string;
}

export type StopReason = 'completed' | 'permanent' | 'max_attempts' | 'deadline' | 'refused';

/** Whether the next call may be made: a spend cap, a paused vendor or too many uncertain calls can say no. */
export type CallPermit = { ok: true } | { ok: false; refusal: string };

export interface VerifyWithRetriesOptions {
  client: LivenessCaller;
  image: Buffer;
  /** The number of the first attempt made here; attempts already made by earlier deliveries come before it. */
  firstAttempt: number;
  /** Attempts allowed in this invocation. */
  maxAttempts: number;
  /** Epoch ms by which every attempt must have ended (e.g. now + Lambda remaining time - a margin). */
  deadline: number;
  backoff: { baseMs: number; maxMs: number };
  /**
   * Asked before every call, after the time check; a refusal stops the loop with `refused`. The
   * permit is taken before any call that may be charged (e.g. one unit of a spend cap).
   */
  mayCall?: (attempt: number) => Promise<CallPermit>;
  /**
   * The reference of an attempt a crashed delivery left open: the first call here resends it, by the
   * same rule as a retry after an uncertain call.
   */
  resumeReference?: string;
  /**
   * Writes the attempt ahead of the call and returns the transactionReference to send: `reuse` when
   * the rule says the previous reference must be sent again, else a new one.
   */
  beginAttempt(attempt: number, reuse?: string): Promise<string>;
  /** Records the attempt as soon as it ends; `result` carries the vendor's answer for the record. */
  endAttempt(record: AttemptRecord, result: CallResult): Promise<void>;
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1); injectable so the jitter can be tested. */
  random?: () => number;
  now?: () => number;
}

export interface VerifyWithRetriesResult {
  /** The last call's result; null when the deadline or a refusal left no room for a single attempt. */
  final: CallResult | null;
  attempts: AttemptRecord[];
  stoppedBecause: StopReason;
  /** Why `mayCall` refused, when it did. */
  refusal?: string;
}

/**
 * Money rule: after a call with no readable answer (uncertain: it may have been charged), the retry
 * sends the SAME transactionReference, so a vendor that deduplicates by reference charges once. A
 * definitive answer (PENDING, a 5xx or 429 with a response) was not a charge for a verdict, so the
 * next call gets a new reference and the vendor cannot mistake it for the earlier one.
 */
export function referenceToReuse(previous: { outcome: CallOutcome; reference: string } | undefined) {
  return previous?.outcome === 'uncertain' ? previous.reference : undefined;
}

/** Full jitter: a uniform wait in [0, min(maxMs, baseMs * 2^retryIndex)). */
export function fullJitterDelay(
  retryIndex: number,
  backoff: { baseMs: number; maxMs: number },
  random: () => number,
): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** retryIndex);
  return Math.floor(random() * ceiling);
}

function toRecord(attempt: number, transactionReference: string, result: CallResult): AttemptRecord {
  return {
    attempt,
    transactionReference,
    startedAt: result.startedAt,
    endedAt: result.endedAt,
    ...(result.httpStatus === undefined ? {} : { httpStatus: result.httpStatus }),
    ...(result.responseCode === undefined ? {} : { responseCode: result.responseCode }),
    outcome: result.outcome,
    detail: result.detail,
  };
}

/**
 * Calls the vendor until it decides, refuses for good, or the attempt or time budget runs out. PENDING,
 * uncertain and retryable outcomes are retried with exponential backoff and full jitter (or the vendor's Retry-After);
 * an attempt is only started when its wait plus the client's timeout still ends before the deadline.
 */
export async function verifyWithRetries(options: VerifyWithRetriesOptions): Promise<VerifyWithRetriesResult> {
  const { client, image, firstAttempt, maxAttempts, deadline, backoff } = options;
  if (!Number.isSafeInteger(firstAttempt) || firstAttempt < 1) {
    throw new RangeError(`firstAttempt must be a positive integer, got ${firstAttempt}`);
  }
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(`maxAttempts must be a positive integer, got ${maxAttempts}`);
  }
  const sleep = options.sleep ?? ((ms: number) => defaultSleep(ms));
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;

  const attempts: AttemptRecord[] = [];
  let final: CallResult | null = null;
  for (let index = 0; index < maxAttempts; index++) {
    let wait = 0;
    if (final !== null) {
      wait =
        final.outcome === 'retryable' && final.retryAfterMs !== undefined
          ? final.retryAfterMs
          : fullJitterDelay(index - 1, backoff, random);
    }
    if (now() + wait + client.timeoutMs > deadline) return { final, attempts, stoppedBecause: 'deadline' };
    const attempt = firstAttempt + index;
    const permit = options.mayCall ? await options.mayCall(attempt) : ({ ok: true } as const);
    if (!permit.ok) return { final, attempts, stoppedBecause: 'refused', refusal: permit.refusal };
    if (wait > 0) await sleep(wait);

    const previous = attempts.at(-1);
    const reuse =
      index === 0
        ? options.resumeReference
        : referenceToReuse(
            previous && { outcome: previous.outcome, reference: previous.transactionReference },
          );
    const transactionReference = await options.beginAttempt(attempt, reuse);
    final = await client.call(image, transactionReference);
    const record = toRecord(attempt, transactionReference, final);
    attempts.push(record);
    await options.endAttempt(record, final);

    if (final.outcome === 'completed') return { final, attempts, stoppedBecause: 'completed' };
    if (final.outcome === 'permanent') return { final, attempts, stoppedBecause: 'permanent' };
  }
  return { final, attempts, stoppedBecause: 'max_attempts' };
}
