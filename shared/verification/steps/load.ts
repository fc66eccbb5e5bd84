import { isTerminal } from '../../decision.ts';
import type { DeliveryRun, VerificationOutcome } from '../delivery.ts';

/**
 * Load: the selfie's result. A message with no record (e.g. redriven into a fresh table) is recorded
 * rather than lost; a decided selfie is never touched again; a HELD one is released to try its budget
 * once more (a raised cap or a new day may have made room).
 */
export async function loadResult(run: DeliveryRun): Promise<'go' | VerificationOutcome> {
  const { selfies } = run.deps;
  const existing = await selfies.getResult(run.selfieId);
  if (!existing) {
    await selfies.recordReceived(run.message);
    return 'go';
  }
  if (isTerminal(existing.state)) {
    run.log.info('Selfie already decided; skipping', { decision: existing.state });
    return { kind: 'already-decided' };
  }
  if (existing.state === 'HELD') await selfies.releaseHold(existing, run.now().toISOString());
  return 'go';
}
