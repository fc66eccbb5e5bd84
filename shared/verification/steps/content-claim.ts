import { metricNames } from '../../metric-names.ts';
import { MetricUnit } from '../../observability.ts';
import type { DeliveryRun, VerificationOutcome } from '../delivery.ts';
import { CONTENT_CLAIM_GRACE_SECONDS, twinWaitSeconds } from '../policy.ts';

/**
 * Content claim: identical bytes are paid for once. The first selfie to claim an image's SHA-256 calls
 * the vendor; a twin reuses its decided outcome, or waits while it is being verified (a wait is not a
 * failed delivery, so a slow twin can never make this selfie fail).
 */
export async function claimContent(
  run: DeliveryRun,
  sha256: string,
): Promise<'claimed' | VerificationOutcome> {
  const ttlSeconds = Math.max(
    CONTENT_CLAIM_GRACE_SECONDS,
    Math.ceil((run.delivery.deadline - run.now().getTime()) / 1000) + CONTENT_CLAIM_GRACE_SECONDS,
  );
  const claim = await run.deps.claims.claim(sha256, run.selfieId, run.now(), ttlSeconds);
  if (claim.kind === 'claimed') {
    run.ownsContentClaim = true;
    return 'claimed';
  }
  if (claim.kind === 'busy') {
    return run.wait(
      {
        code: 'DUPLICATE_IN_PROGRESS',
        detail: `identical image is being verified as ${claim.ownerSelfieId}`,
      },
      twinWaitSeconds(run.message.waits ?? 0),
    );
  }
  const owner = claim.owner;
  run.deps.metrics.addMetric(metricNames.duplicatesReused, MetricUnit.Count, 1);
  return run.decide({
    decision: owner.decision ?? 'REVIEW',
    reason: {
      code: 'DUPLICATE_OF',
      detail: `same image bytes as ${owner.selfieId}, decided ${owner.decidedAt}: ${owner.reason}`,
    },
    duplicateOf: owner.selfieId,
    vendorStatus: owner.vendorStatus,
    vendorResponseCode: owner.vendorResponseCode,
    liveScore: owner.liveScore ?? null,
    popScore: owner.popScore ?? null,
    debitStatus: null,
    transactionReference: owner.transactionReference,
  });
}
