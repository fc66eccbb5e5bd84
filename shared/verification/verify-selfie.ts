import type { VerifySelfieMessage } from '../messages.ts';
import { type Delivery, DeliveryRun, type VerificationDeps, type VerificationOutcome } from './delivery.ts';
import { callVendor } from './steps/call-vendor.ts';
import { checkImage } from './steps/check-image.ts';
import { claimContent } from './steps/content-claim.ts';
import { decideAfterCall, decideFromVerdict } from './steps/decide.ts';
import { takeLease } from './steps/lease.ts';
import { resumeOwnAttempts } from './steps/own-answer.ts';

export type { Delivery, VerificationDeps, VerificationOutcome } from './delivery.ts';

/**
 * One selfie, one delivery, as a table of contents. Each step keeps one money rule (see
 * docs/money-rules.md); a step that ends the delivery returns its outcome, and the flow stops there.
 */
export async function verifySelfie(
  message: VerifySelfieMessage,
  delivery: Delivery,
  deps: VerificationDeps,
): Promise<VerificationOutcome> {
  const run = new DeliveryRun(message, delivery, deps);

  const lease = await takeLease(run);
  if ('kind' in lease) return lease;

  try {
    const earlier = await resumeOwnAttempts(run, lease.earlierLease);
    if (earlier.answered?.verdict) {
      run.log.warn('Deciding from an answer an earlier delivery paid for', {
        attempt: earlier.answered.attempt,
      });
      run.resumeContentClaim(earlier.answered.sha256);
      return await decideFromVerdict(run, earlier.answered.verdict, earlier.answered.transactionReference);
    }

    const image = await checkImage(run);
    if ('kind' in image) return image;

    const claim = await claimContent(run, image.sha256);
    if (claim !== 'claimed') return claim;

    const called = await callVendor(run, image.jpeg, earlier);
    return await decideAfterCall(run, called);
  } catch (error) {
    await run.releaseLeaseAfterError();
    throw error;
  }
}
