import type { AttemptItem } from '../../results/records.ts';
import { totalsOfAttempts } from '../charges.ts';
import type { DeliveryRun } from '../delivery.ts';

export interface EarlierAttempts {
  /** A completed attempt whose verdict was kept: decide from it, without another call. */
  answered?: AttemptItem;
  /** The reference the next call must resend (the last call had no readable answer). */
  resumeReference?: string;
  /** The highest attempt number used so far; the next call is this + 1. */
  lastAttempt: number;
}

/**
 * Own answer: a selfie that holds its own paid answer decides from it before it looks at anything else
 * (a twin's content claim included), so the answer it paid for is never paid for again. An attempt an
 * earlier delivery left open was sent and never answered as far as we know: it is recorded as
 * uncertain, and the next call resends its reference.
 */
export async function resumeOwnAttempts(run: DeliveryRun, earlierLease: boolean): Promise<EarlierAttempts> {
  // Attempts are only written under a lease: without an earlier lease there is nothing to read.
  if (!earlierLease) return { lastAttempt: 0 };
  const attempts = await run.deps.attempts.list(run.selfieId);
  const resumed: AttemptItem[] = [];
  for (const attempt of attempts) {
    if (attempt.outcome !== 'open') {
      resumed.push(attempt);
      continue;
    }
    const endedAt = run.now().toISOString();
    const detail = 'sent by a delivery that ended before its answer was recorded';
    await run.deps.attempts.end({
      selfieId: run.selfieId,
      attempt: attempt.attempt,
      endedAt,
      outcome: 'uncertain',
      charge: 'uncertain',
      detail,
    });
    run.log.warn('An earlier delivery left a call open: counted as uncertain', { attempt: attempt.attempt });
    resumed.push({ ...attempt, outcome: 'uncertain', charge: 'uncertain', endedAt, detail });
  }
  run.totals = totalsOfAttempts(resumed);
  const last = resumed.at(-1);
  return {
    answered: resumed.findLast((a) => a.outcome === 'completed' && a.verdict !== undefined),
    resumeReference: last?.outcome === 'uncertain' && !last.settled ? last.transactionReference : undefined,
    lastAttempt: resumed.reduce((max, a) => Math.max(max, a.attempt), 0),
  };
}
