import { randomUUID } from 'node:crypto';
import { isTerminal } from '../../decision.ts';
import { countedSoFar } from '../../results/selfie-lifecycle.ts';
import type { DeliveryRun, VerificationOutcome } from '../delivery.ts';
import { HELD_RECHECK_SECONDS, LEASE_BUSY_RETRY_SECONDS, LEASE_GRACE_MS } from '../policy.ts';
import { reason } from '../reasons.ts';
import { SpendReservation } from './budget.ts';

/**
 * Lease: only the delivery holding the selfie's processing lease may call the vendor, record an
 * answer, or end the selfie. Two deliveries of one message (SQS is at-least-once) never pay side by side.
 *
 * A first delivery asks for the lease with no read before it; when the write is refused, the item it
 * returns says why. A message that has waited before (held by the spend cap, a busy lease, a twin, a
 * paused vendor) reads first instead: a HELD selfie looks again every few minutes, and a read is the
 * cheaper look. Either way a message with no record (e.g. redriven into a fresh table) is recorded
 * rather than lost, a decided selfie is never touched again, and a HELD one leaves HELD only when its
 * spend caps have room again (a raised cap, or a new day).
 * Returns whether an earlier delivery held a lease, which is when attempts may exist to resume.
 */
export async function takeLease(run: DeliveryRun): Promise<{ earlierLease: boolean } | VerificationOutcome> {
  if (run.message.waits) {
    const looked = await lookFirst(run);
    if (looked !== 'go') return looked;
  }
  let acquired = await acquire(run);
  if (acquired.result.status === 'missing' || acquired.result.status === 'held') {
    const ready = await makeLeasable(run, acquired.result.status);
    if (ready !== 'go') return ready;
    acquired = await acquire(run);
  }
  const { leaseId, result } = acquired;
  switch (result.status) {
    case 'terminal':
      return alreadyDecided(run, result.decision);
    case 'missing':
      // Recorded a moment ago and gone again (purged): nothing left to verify.
      return { kind: 'already-decided' };
    case 'leased':
      return run.wait(
        reason('LEASE_BUSY', 'another delivery of this selfie is in progress'),
        LEASE_BUSY_RETRY_SECONDS,
      );
    case 'held':
      return run.wait(reason('BUDGET_EXHAUSTED', 'held for spend budget'), HELD_RECHECK_SECONDS);
    case 'acquired': {
      run.holder = { selfieId: run.selfieId, batchId: run.message.batchId, leaseId };
      const counted = countedSoFar(result.before);
      run.totals = counted.totals;
      run.summarized = counted.summarized;
      return { earlierLease: result.earlierLease };
    }
  }
}

/** The read before the lease, for a message that has waited: decided, unrecorded or HELD are handled here. */
async function lookFirst(run: DeliveryRun): Promise<'go' | VerificationOutcome> {
  const existing = await run.deps.selfies.getResult(run.selfieId);
  if (!existing) return makeLeasable(run, 'missing');
  if (isTerminal(existing.state)) return alreadyDecided(run, existing.state);
  if (existing.state === 'HELD') return makeLeasable(run, 'held');
  return 'go';
}

/** Records an unrecorded selfie, or brings a HELD one back to RECEIVED when its caps have room. */
async function makeLeasable(
  run: DeliveryRun,
  status: 'missing' | 'held',
): Promise<'go' | VerificationOutcome> {
  const { selfies } = run.deps;
  if (status === 'missing') {
    await selfies.recordReceived(run.message);
    return 'go';
  }
  if (!(await new SpendReservation(run).hasRoom())) {
    return run.wait(reason('BUDGET_EXHAUSTED', 'still held: the spend cap is reached'), HELD_RECHECK_SECONDS);
  }
  await selfies.releaseHold(run.message, run.now().toISOString());
  return 'go';
}

function alreadyDecided(run: DeliveryRun, decision: string): VerificationOutcome {
  run.log.info('Selfie already decided; skipping', { decision });
  return { kind: 'already-decided' };
}

async function acquire(run: DeliveryRun) {
  const leaseId = randomUUID();
  const result = await run.deps.selfies.acquireLease(run.selfieId, {
    id: leaseId,
    until: Math.max(
      run.delivery.deadline + LEASE_GRACE_MS,
      run.now().getTime() + (run.deps.leaseSeconds ?? 0) * 1000,
    ),
    receiveCount: run.delivery.receiveCount,
    at: run.now().toISOString(),
  });
  return { leaseId, result };
}
