import type { Decision } from '../decision.ts';
import type { DecisionThresholds } from '../decision-policy.ts';
import type { LivenessCaller } from '../liveness/client.ts';
import type { VerifySelfieMessage } from '../messages.ts';
import { metricNames } from '../metric-names.ts';
import { countBy, type Logger, type Metrics, MetricUnit } from '../observability.ts';
import type { PreflightLimits } from '../preflight/index.ts';
import type { AttemptLog } from '../results/attempts.ts';
import type { ContentClaims } from '../results/content-claims.ts';
import type { SelfieResult } from '../results/records.ts';
import {
  type CallTotals,
  type DecisionRecord,
  type LeaseHolder,
  NO_CALLS,
  type SelfieLifecycle,
} from '../results/selfie-lifecycle.ts';
import type { SpendBudget } from '../results/spend-budget.ts';
import type { LoadedSelfie } from '../s3-objects.ts';
import type { SelfieIds } from '../selfie-metadata.ts';
import { HELD_RECHECK_SECONDS, redeliveryDelaySeconds } from './policy.ts';
import { formatReason, type Reason } from './reasons.ts';
import type { VendorBreaker } from './vendor-breaker.ts';

export interface VerificationDeps {
  selfies: SelfieLifecycle;
  attempts: AttemptLog;
  claims: ContentClaims;
  budget: SpendBudget;
  /** Calls that may cost money (paid + uncertain) allowed per batch and/or per UTC day; none when absent. */
  spendCap: { perBatch?: number; perDay?: number };
  /** After this many uncertain calls a selfie is not called again automatically: REVIEW, UNCERTAIN_CHARGE. */
  maxUncertainCalls: number;
  /** The object's bytes and user metadata, or undefined when it no longer exists. */
  loadSelfie(ref: VerifySelfieMessage): Promise<LoadedSelfie | undefined>;
  vendor: LivenessCaller;
  breaker: VendorBreaker;
  preflightLimits: PreflightLimits;
  thresholds: DecisionThresholds;
  retry: { maxAttempts: number; backoff: { baseMs: number; maxMs: number } };
  duplicateReuseWindowHours: number;
  maxReceiveCount: number;
  /** A processing lease lasts at least this long (seconds); it always outlives the delivery's deadline. */
  leaseSeconds?: number;
  logger: Logger;
  metrics: Metrics;
  now?: () => Date;
}

/** This delivery of the message: which receive it is, and when the invocation must stop calling out. */
export interface Delivery {
  receiveCount: number;
  deadline: number;
}

export type VerificationOutcome =
  /** `toDeadLetterQueue`: FAILED on the last allowed receive; the message still goes to the DLQ for a redrive. */
  | { kind: 'decided'; decision: Decision; reason: Reason; toDeadLetterQueue?: boolean }
  | { kind: 'already-decided' }
  /** The delivery failed to finish the selfie; the next delivery tries again (counts against maxReceiveCount). */
  | { kind: 'retry-later'; reason: Reason; delaySeconds: number }
  /** Nothing is wrong with the selfie; it waits (a twin, a paused vendor, the spend cap) without using a delivery. */
  | { kind: 'wait'; reason: Reason; delaySeconds: number };

/** What a decision writes besides the decision, reason and the delivery's own bookkeeping. */
export type DecisionFields = Omit<
  DecisionRecord,
  'decidedAt' | 'totals' | 'summarized' | 'sha256' | 'preflight'
> & {
  /** True when the outcome may be reused for identical bytes (a vendor verdict). */
  reusable?: boolean;
};

/**
 * One delivery of one selfie: who it is, the lease it holds, and the calls counted so far. Its methods
 * are the flow's last steps: record what happened and end the delivery in exactly one way.
 */
export class DeliveryRun {
  readonly now: () => Date;
  readonly log: Logger;
  readonly lastReceive: boolean;
  holder: LeaseHolder | undefined;
  /** Calls and charges for this selfie over all deliveries, as known to this one. */
  totals: CallTotals = NO_CALLS;
  /** What the batch summary already counts for this selfie. */
  summarized: CallTotals = NO_CALLS;
  sha256: string | undefined;
  preflight: SelfieResult['preflight'];
  /** Set when this selfie holds the content claim for its bytes. */
  ownsContentClaim = false;
  /** The caller's subject and correlation IDs, once read from the object's metadata. */
  ids: SelfieIds = {};

  constructor(
    readonly message: VerifySelfieMessage,
    readonly delivery: Delivery,
    readonly deps: VerificationDeps,
  ) {
    this.now = deps.now ?? (() => new Date());
    this.log = deps.logger.createChild({
      persistentKeys: { selfieId: message.selfieId, batchId: message.batchId },
    });
    this.lastReceive = delivery.receiveCount >= deps.maxReceiveCount;
  }

  get selfieId(): string {
    return this.message.selfieId;
  }

  private get lease(): LeaseHolder {
    return (
      this.holder ?? { selfieId: this.message.selfieId, batchId: this.message.batchId, leaseId: 'no-lease' }
    );
  }

  /**
   * A delivery that decides from an earlier delivery's paid answer takes over that delivery's content
   * claim on the bytes it sent, so the decision marks the claim decided and identical images reuse the
   * answer (instead of waiting for the claim to expire and paying again). When the claim has passed to
   * a twin meanwhile, `decide` records the decision without it.
   */
  resumeContentClaim(sha256: string | undefined): void {
    if (!sha256) return;
    this.sha256 = sha256;
    this.ownsContentClaim = true;
  }

  /** Decide: the one terminal write, then give up the content claim unless the outcome is reusable. */
  async decide(fields: DecisionFields): Promise<VerificationOutcome> {
    const { reusable, ...record } = fields;
    const decidedAt = this.now().toISOString();
    const reuseUntilEpochSeconds =
      reusable && this.ownsContentClaim
        ? Math.floor(this.now().getTime() / 1000) + this.deps.duplicateReuseWindowHours * 3600
        : undefined;
    const full: DecisionRecord = {
      ...record,
      ...this.ids,
      decidedAt,
      totals: this.totals,
      summarized: this.summarized,
      ...(this.sha256 ? { sha256: this.sha256 } : {}),
      ...(this.preflight ? { preflight: this.preflight } : {}),
      ...(reuseUntilEpochSeconds === undefined ? {} : { reuseUntilEpochSeconds }),
    };
    let recorded = await this.deps.selfies.recordDecision(this.lease, full);
    if (!recorded && reuseUntilEpochSeconds !== undefined) {
      // The content claim moved to another selfie (ours expired): record the decision without it.
      const { reuseUntilEpochSeconds: _, ...withoutClaim } = full;
      recorded = await this.deps.selfies.recordDecision(this.lease, withoutClaim);
    }
    if (!recorded) return { kind: 'already-decided' };
    if (this.sha256 && this.ownsContentClaim && !reusable) {
      await this.deps.claims.release(this.sha256, this.selfieId);
    }
    countBy(this.deps.metrics, metricNames.decisions, 'decision', record.decision);
    this.log.info('Selfie decided', {
      decision: record.decision,
      reason: formatReason(record.reason),
      duplicateOf: record.duplicateOf,
      paidCalls: this.totals.paid,
      uncertainCalls: this.totals.uncertain,
    });
    return { kind: 'decided', decision: record.decision, reason: record.reason };
  }

  /**
   * The delivery ran out of attempts or time: record why and let the next delivery try. On the last
   * allowed receive the selfie ends FAILED (RETRIES_EXHAUSTED) and the message still goes to the DLQ.
   */
  async unfinished(why: Reason): Promise<VerificationOutcome> {
    if (this.lastReceive) {
      const outcome = await this.decide({
        decision: 'FAILED',
        reason: {
          code: 'RETRIES_EXHAUSTED',
          detail: `after ${this.delivery.receiveCount} deliveries; last: ${formatReason(why)}`,
        },
        lastError: why,
      });
      return outcome.kind === 'decided' ? { ...outcome, toDeadLetterQueue: true } : outcome;
    }
    const delaySeconds = redeliveryDelaySeconds(this.delivery.receiveCount);
    await this.deps.selfies.recordUnfinished(this.lease, this.now().toISOString(), this.totals, why);
    this.log.warn('Selfie not finished in this delivery; will retry', {
      lastError: formatReason(why),
      delaySeconds,
    });
    return { kind: 'retry-later', reason: why, delaySeconds };
  }

  /** Nothing is wrong with the selfie: it waits and comes back as a new message (no delivery used up). */
  async wait(why: Reason, delaySeconds: number): Promise<VerificationOutcome> {
    if (this.holder) {
      await this.deps.selfies.recordUnfinished(this.holder, this.now().toISOString(), this.totals, why);
    }
    // Waiting for an identical image's outcome or a paused vendor is the plan working, not a problem.
    this.log.info('Selfie waits', { reason: formatReason(why), delaySeconds });
    return { kind: 'wait', reason: why, delaySeconds };
  }

  /** The spend cap is reached: park the selfie as HELD (not failed, not lost) and look again later. */
  async hold(why: Reason): Promise<VerificationOutcome> {
    await this.deps.selfies.hold(this.lease, this.now().toISOString(), this.totals, why);
    this.deps.metrics.addMetric(metricNames.selfiesHeld, MetricUnit.Count, 1);
    this.log.warn('Spend cap reached; selfie held until the cap is raised', { reason: formatReason(why) });
    return { kind: 'wait', reason: why, delaySeconds: HELD_RECHECK_SECONDS };
  }

  /** Gives the lease back at once when this process fails, rather than when the lease runs out. */
  async releaseLeaseAfterError(): Promise<void> {
    if (this.holder) {
      await this.deps.selfies.releaseLease(this.selfieId, this.holder.leaseId).catch(() => undefined);
    }
  }
}
