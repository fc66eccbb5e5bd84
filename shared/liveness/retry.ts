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

export type StopReason = 'completed' | 'permanent' | 'max_attempts' | 'deadline';

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
  /** Writes the attempt ahead of the call and returns the transactionReference to send. */
  beginAttempt(attempt: number): Promise<string>;
  /** Records the attempt as soon as it ends; `result` carries the vendor's answer for the record. */
  endAttempt(record: AttemptRecord, result: CallResult): Promise<void>;
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1); injectable so the jitter can be tested. */
  random?: () => number;
  now?: () => number;
}

export interface VerifyWithRetriesResult {
  /** The last call's result; null only when the deadline left no room for a single attempt. */
  final: CallResult | null;
  attempts: AttemptRecord[];
  stoppedBecause: StopReason;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
 * Calls the vendor until it decides, refuses for good, or the attempt or time budget runs out. PENDING and
 * retryable outcomes are retried with exponential backoff and full jitter (or the vendor's Retry-After);
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
  const sleep = options.sleep ?? defaultSleep;
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
    if (wait > 0) await sleep(wait);

    const attempt = firstAttempt + index;
    const transactionReference = await options.beginAttempt(attempt);
    final = await client.call(image, transactionReference);
    const record = toRecord(attempt, transactionReference, final);
    attempts.push(record);
    await options.endAttempt(record, final);

    if (final.outcome === 'completed') return { final, attempts, stoppedBecause: 'completed' };
    if (final.outcome === 'permanent') return { final, attempts, stoppedBecause: 'permanent' };
  }
  return { final, attempts, stoppedBecause: 'max_attempts' };
}
