import { randomUUID } from 'node:crypto';
import { countedSoFar } from '../../results/selfie-lifecycle.ts';
import type { DeliveryRun, VerificationOutcome } from '../delivery.ts';
import { HELD_RECHECK_SECONDS, LEASE_BUSY_RETRY_SECONDS, LEASE_GRACE_MS } from '../policy.ts';
import { reason } from '../reasons.ts';

/**
 * Lease: only the delivery holding the selfie's processing lease may call the vendor, record an
 * answer, or end the selfie. Two deliveries of one message (SQS is at-least-once) never pay side by side.
 * Returns whether an earlier delivery held a lease, which is when attempts may exist to resume.
 */
export async function takeLease(run: DeliveryRun): Promise<{ earlierLease: boolean } | VerificationOutcome> {
  const leaseId = randomUUID();
  const acquired = await run.deps.selfies.acquireLease(run.selfieId, {
    id: leaseId,
    until: Math.max(
      run.delivery.deadline + LEASE_GRACE_MS,
      run.now().getTime() + (run.deps.leaseSeconds ?? 0) * 1000,
    ),
    receiveCount: run.delivery.receiveCount,
    at: run.now().toISOString(),
  });
  switch (acquired.status) {
    case 'terminal':
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
      const counted = countedSoFar(acquired.before);
      run.totals = counted.totals;
      run.summarized = counted.summarized;
      return { earlierLease: acquired.earlierLease };
    }
  }
}
