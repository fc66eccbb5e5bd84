import { randomUUID } from 'node:crypto';
import { countedSoFar } from '../../results/selfie-lifecycle.ts';
import type { DeliveryRun, VerificationOutcome } from '../delivery.ts';
import { HELD_RECHECK_SECONDS, LEASE_BUSY_RETRY_SECONDS, LEASE_GRACE_MS } from '../policy.ts';
import { reason } from '../reasons.ts';
import { SpendReservation } from './budget.ts';

/**
 * Lease: only the delivery holding the selfie's processing lease may call the vendor, record an
 * answer, or end the selfie. Two deliveries of one message (SQS is at-least-once) never pay side by side.
 *
 * The lease write comes first, with no read before it; when it is refused, the item it returns says
 * why. A message with no record (e.g. redriven into a fresh table) is recorded rather than lost; a
 * decided selfie is never touched again; a HELD one leaves HELD only when its spend caps have room
 * again (a raised cap, or a new day). Either way the lease is then asked for once more.
 * Returns whether an earlier delivery held a lease, which is when attempts may exist to resume.
 */
export async function takeLease(run: DeliveryRun): Promise<{ earlierLease: boolean } | VerificationOutcome> {
  const { selfies } = run.deps;
  let acquired = await acquire(run);
  if (acquired.result.status === 'missing') {
    await selfies.recordReceived(run.message);
    acquired = await acquire(run);
  } else if (acquired.result.status === 'held') {
    if (!(await new SpendReservation(run).hasRoom())) {
      return run.wait(
        reason('BUDGET_EXHAUSTED', 'still held: the spend cap is reached'),
        HELD_RECHECK_SECONDS,
      );
    }
    await selfies.releaseHold(run.message, run.now().toISOString());
    acquired = await acquire(run);
  }
  const { leaseId, result } = acquired;
  switch (result.status) {
    case 'terminal':
      run.log.info('Selfie already decided; skipping', { decision: result.decision });
      return { kind: 'already-decided' };
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
