import type { CallResult } from '../liveness/client.ts';
import type { AttemptCharge, AttemptItem } from '../results/records.ts';
import type { CallTotals } from '../results/selfie-lifecycle.ts';

/**
 * Money rule: what one call cost. It is `paid` when the answer says the wallet was debited
 * (`transactionStatus` successful, any case), whatever the verification status: VERIFIED, NOT
 * VERIFIED, PENDING, or a 200 with a non-"00" code. It is `uncertain` when the request was sent and
 * no readable answer came back. Otherwise nothing was debited. See docs/money-rules.md.
 */
export function chargeOf(result: CallResult): AttemptCharge {
  if (result.outcome === 'uncertain') return 'uncertain';
  return result.debited ? 'paid' : 'none';
}

/**
 * The charge of an attempt as stored. An attempt still open was sent by a delivery that never saw
 * its answer: uncertain. Attempts written before charges were stored: completed meant paid.
 * `reconcile` may since have settled an uncertain charge against the vendor's statement.
 */
export function storedChargeOf(attempt: AttemptItem): AttemptCharge {
  if (attempt.settled) return attempt.settled === 'paid' ? 'paid' : 'none';
  if (attempt.charge) return attempt.charge;
  if (attempt.outcome === 'open' || attempt.outcome === 'uncertain') return 'uncertain';
  return attempt.outcome === 'completed' ? 'paid' : 'none';
}

/** Calls and charges over a selfie's attempts, counted from the attempt items themselves. */
export function totalsOfAttempts(attempts: readonly AttemptItem[]): CallTotals {
  const charges = attempts.map(storedChargeOf);
  return {
    calls: attempts.length,
    paid: charges.filter((c) => c === 'paid').length,
    uncertain: charges.filter((c) => c === 'uncertain').length,
  };
}

/** Adds one call's charge to running totals. */
export function addCall(totals: CallTotals, charge: AttemptCharge): CallTotals {
  return {
    calls: totals.calls + 1,
    paid: totals.paid + (charge === 'paid' ? 1 : 0),
    uncertain: totals.uncertain + (charge === 'uncertain' ? 1 : 0),
  };
}
