import { metricNames } from '../../metric-names.ts';
import { countBy } from '../../observability.ts';
import { type PreflightAccepted, preflightSelfie } from '../../preflight/index.ts';
import { selfieIdsFrom } from '../../selfie-metadata.ts';
import type { DeliveryRun, VerificationOutcome } from '../delivery.ts';

/**
 * Preflight: nothing is sent to the vendor (and nothing paid) for an object that is gone, an upload
 * whose applicant IDs are malformed, or an image the vendor would refuse. Each ends REJECTED with its
 * specific reason.
 */
export async function checkImage(run: DeliveryRun): Promise<PreflightAccepted | VerificationOutcome> {
  const loaded = await run.deps.loadSelfie(run.message);
  if (!loaded) {
    return run.decide({
      decision: 'REJECTED',
      reason: { code: 'OBJECT_NOT_FOUND', detail: 'the object was deleted before it was verified' },
    });
  }
  // Malformed applicant IDs are the caller's mistake, refused before anything is paid for.
  const ids = selfieIdsFrom(loaded.metadata);
  if (!ids.ok) return run.decide({ decision: 'REJECTED', reason: ids.reason });
  run.ids = ids.ids;
  const bytes = loaded.bytes;
  const preflight = await preflightSelfie(bytes, run.deps.preflightLimits);
  run.sha256 = preflight.sha256;
  if (!preflight.ok) {
    const { reason, message } = preflight.rejection;
    countBy(run.deps.metrics, metricNames.preflightRejections, 'reason', reason);
    return run.decide({ decision: 'REJECTED', reason: { code: reason, detail: message } });
  }
  run.preflight = { format: preflight.format, original: preflight.original, final: preflight.final };
  return preflight;
}
