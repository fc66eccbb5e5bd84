import type { PreflightRejectionReason } from '../preflight/result.ts';

/**
 * Why a selfie ended where it did, or why a delivery did not finish it. A reason is a typed code plus a
 * human detail; the code is what code branches on and what audits filter by, never a parsed string.
 */
export type ReasonCode =
  // Decisions
  | 'VENDOR_VERDICT'
  | 'DUPLICATE_OF'
  | 'OBJECT_NOT_FOUND'
  | 'VENDOR_BAD_REQUEST'
  | 'VENDOR_ERROR'
  | 'UNCERTAIN_CHARGE'
  | 'RETRIES_EXHAUSTED'
  | PreflightRejectionReason
  | 'KEY_TOO_LONG'
  | 'BAD_METADATA'
  // Waits: the selfie is fine and will be verified later; none of these uses up its deliveries.
  | 'DUPLICATE_IN_PROGRESS'
  | 'VENDOR_PAUSED'
  | 'BUDGET_EXHAUSTED'
  | 'LEASE_BUSY'
  // A delivery that ran out of attempts or time: the next delivery tries again.
  | 'VENDOR_PENDING'
  | 'VENDOR_UNAVAILABLE'
  | 'VENDOR_NO_ANSWER'
  | 'NO_TIME_LEFT';

export interface Reason {
  code: ReasonCode;
  detail: string;
}

export function reason(code: ReasonCode, detail: string): Reason {
  return { code, detail };
}

/** The one line stored as `reason` / `lastError` and shown to people: `CODE: detail`. */
export function formatReason(r: Reason): string {
  return `${r.code}: ${r.detail}`;
}
