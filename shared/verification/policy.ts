/**
 * Every delay and pause the verify flow uses, in one place, each with why it has the value it has.
 * Changing a number here changes behaviour on AWS and on the local cloud alike.
 */

/** A lease outlives its delivery's deadline by this much, so a slow final write still holds it. */
export const LEASE_GRACE_MS = 30_000;

/** How long a delivery waits before looking again when another delivery of the same selfie holds the lease. */
export const LEASE_BUSY_RETRY_SECONDS = 60;

/**
 * A content claim lives a minute past the delivery's deadline: long enough for the owner to record its
 * decision, short enough that a crashed owner does not block identical images for long.
 */
export const CONTENT_CLAIM_GRACE_SECONDS = 60;

/**
 * Waiting for an identical image's twin: the twin usually decides within seconds, so look again after
 * 5 s, doubling, and then every 30 s. The cap keeps a waiter close behind a twin that was slow (a
 * restarted host, a busy vendor): a longer one only made the batch wait for the waiter. A wait is a
 * new message, not a redelivery, so it never uses up the selfie's delivery budget (maxReceiveCount).
 */
export function twinWaitSeconds(waitsSoFar: number): number {
  return Math.min(30, 5 * 2 ** Math.max(0, waitsSoFar));
}

/**
 * A HELD selfie (spend cap reached) looks at the budget again every 5 minutes: a raised cap (prop or
 * `budget` command) or a new day's budget then releases it without anyone re-uploading. The `budget`
 * command also re-queues held selfies at once.
 */
export const HELD_RECHECK_SECONDS = 300;

/** While the vendor circuit is open, a waiting selfie looks again after this long (SQS's longest delay is 900 s). */
export const BREAKER_WAIT_SECONDS = 60;

/** How long the circuit stays open after a systemic answer before one probe call is let through. */
export const BREAKER_OPEN_MS = 30_000;

/**
 * A storm of 5xx or uncertain answers opens the circuit too: at least this many in the window, making
 * up at least half of the answers in it. One flaky call is a selfie's problem; twenty are the vendor's.
 */
export const BREAKER_STORM = { windowMs: 30_000, minFailures: 10, minFailureRatio: 0.5 } as const;

/** How long a message waits before its next real delivery (a failure, not a wait): doubles, capped at 15 minutes. */
export function redeliveryDelaySeconds(receiveCount: number): number {
  return Math.min(900, 30 * 2 ** Math.max(0, receiveCount - 1));
}

/**
 * A paid answer is written with in-process retries before the delivery gives up, because giving up
 * would leave an open attempt that the next delivery must treat as a possible second charge.
 * Full jitter from 100 ms, doubling to 2 s, for as long as the delivery's deadline allows.
 */
export const RECORD_RETRY = { baseMs: 100, maxMs: 2_000 } as const;

/** DynamoDB cancels concurrent transactions on one item (TransactionConflict): retry them with full jitter. */
export const TRANSACTION_CONFLICT_RETRY = { attempts: 8, baseMs: 20, maxMs: 1_000 } as const;

/** The SQS maximum for DelaySeconds. */
export const MAX_MESSAGE_DELAY_SECONDS = 900;
