import { decide } from '../../decision-policy.ts';
import type { AttemptItem } from '../../results/records.ts';
import type { DeliveryRun, VerificationOutcome } from '../delivery.ts';
import { BREAKER_WAIT_SECONDS } from '../policy.ts';
import { isSystemic } from '../vendor-breaker.ts';
import type { CallStepResult } from './call-vendor.ts';

type Verdict = NonNullable<AttemptItem['verdict']>;

/** Decide from the vendor's verdict (this delivery's call, or one an earlier delivery paid for). */
export function decideFromVerdict(run: DeliveryRun, verdict: Verdict, fallbackReference?: string) {
  const decision = decide(
    { status: verdict.verificationStatus, liveScore: verdict.liveScore, popScore: verdict.popScore },
    run.deps.thresholds,
  );
  return run.decide({
    decision: decision.decision,
    reason: { code: 'VENDOR_VERDICT', detail: decision.reason },
    vendorStatus: verdict.verificationStatus,
    vendorResponseCode: verdict.responseCode,
    vendorResponse: verdict.raw,
    liveScore: verdict.liveScore,
    popScore: verdict.popScore,
    debitStatus: verdict.debitStatus,
    ...((verdict.transactionReference ?? fallbackReference)
      ? { transactionReference: verdict.transactionReference ?? fallbackReference }
      : {}),
    reusable: true,
  });
}

/**
 * Decide after the call step: a verdict decides; a refusal waits (paused vendor), holds (spend cap)
 * or goes to a person (too many uncertain calls); a selfie-specific refusal by the vendor ends
 * REJECTED or FAILED; anything else is unfinished and the next delivery tries again.
 */
export async function decideAfterCall(
  run: DeliveryRun,
  called: CallStepResult,
): Promise<VerificationOutcome> {
  const { final, refusal } = called;
  if (final?.outcome === 'completed') {
    return decideFromVerdict(run, {
      verificationStatus: final.verificationStatus,
      liveScore: final.liveScore,
      popScore: final.popScore,
      debitStatus: final.debitStatus,
      responseCode: final.responseCode,
      transactionReference: final.transactionReference,
      raw: final.raw,
    });
  }
  if (refusal?.by === 'uncertain-limit') return run.decide({ decision: 'REVIEW', reason: refusal.reason });
  if (refusal?.by === 'budget') return run.hold(refusal.reason);
  if (refusal?.by === 'vendor-paused') return run.wait(refusal.reason, BREAKER_WAIT_SECONDS);
  if (final?.outcome === 'permanent') {
    if (isSystemic(final)) {
      // The vendor or its gateway is failing for everyone: the circuit is open; this selfie waits.
      return run.wait({ code: 'VENDOR_PAUSED', detail: final.detail }, BREAKER_WAIT_SECONDS);
    }
    const badInput = final.reason === 'bad_request';
    return run.decide({
      decision: badInput ? 'REJECTED' : 'FAILED',
      reason: { code: badInput ? 'VENDOR_BAD_REQUEST' : 'VENDOR_ERROR', detail: final.detail },
      ...(final.responseCode ? { vendorResponseCode: final.responseCode } : {}),
      lastError: { code: 'VENDOR_ERROR', detail: final.detail },
    });
  }
  if (!final)
    return run.unfinished({
      code: 'NO_TIME_LEFT',
      detail: 'no time left in this invocation for a vendor call',
    });
  const code =
    final.outcome === 'pending'
      ? 'VENDOR_PENDING'
      : final.outcome === 'uncertain'
        ? 'VENDOR_NO_ANSWER'
        : 'VENDOR_UNAVAILABLE';
  return run.unfinished({ code, detail: final.detail });
}
