import { isTerminal } from '../../decision.ts';
import type { DeliveryRun, VerificationOutcome } from '../delivery.ts';
import { HELD_RECHECK_SECONDS } from '../policy.ts';
import { reason } from '../reasons.ts';
import { SpendReservation } from './budget.ts';

/**
 * Load: the selfie's result. A message with no record (e.g. redriven into a fresh table) is recorded
 * rather than lost; a decided selfie is never touched again; a HELD one leaves HELD only when its
 * spend caps have room again (a raised cap, or a new day).
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
  if (existing.state === 'HELD') {
    if (!(await new SpendReservation(run).hasRoom())) {
      return run.wait(
        reason('BUDGET_EXHAUSTED', 'still held: the spend cap is reached'),
        HELD_RECHECK_SECONDS,
      );
    }
    await selfies.releaseHold(existing, run.now().toISOString());
  }
  return 'go';
}
