import { randomUUID } from 'node:crypto';
import type { Decision } from '../decision.ts';
import { isTerminal } from '../decision.ts';
import { type DecisionThresholds, decide } from '../decision-policy.ts';
import type { CallResult, LivenessCaller } from '../liveness/client.ts';
import { transactionReferenceFor } from '../liveness/reference.ts';
import { verifyWithRetries } from '../liveness/retry.ts';
import type { VerifySelfieMessage } from '../messages.ts';
import { metricNames } from '../metric-names.ts';
import { countBy, type Logger, type Metrics, MetricUnit } from '../observability.ts';
import { type PreflightLimits, preflightSelfie } from '../preflight/index.ts';
import type { AttemptItem } from '../results/records.ts';
import type { DecisionRecord, ResultsRepository } from '../results/repository.ts';
import type { LoadedSelfie } from '../s3-objects.ts';
import type { SelfieRef } from '../selfie.ts';
import { type SelfieIds, selfieIdsFrom } from '../selfie-metadata.ts';
import type { VendorGate } from './vendor-gate.ts';

export interface VerificationDeps {
  repository: ResultsRepository;
  /** The object's bytes and user metadata, or undefined when it no longer exists. */
  loadSelfie(ref: SelfieRef): Promise<LoadedSelfie | undefined>;
  vendor: LivenessCaller;
  vendorGate: VendorGate;
  preflightLimits: PreflightLimits;
  thresholds: DecisionThresholds;
  retry: { maxAttempts: number; backoff: { baseMs: number; maxMs: number } };
  duplicateReuseWindowHours: number;
  maxReceiveCount: number;
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
  | { kind: 'decided'; decision: Decision; reason: string; toDeadLetterQueue?: boolean }
  | { kind: 'already-decided' }
  | { kind: 'retry-later'; reason: string; delaySeconds: number };

/** How long a message waits before its next delivery: doubles per receive, capped at 15 minutes. */
export function redeliveryDelaySeconds(receiveCount: number): number {
  return Math.min(900, 30 * 2 ** Math.max(0, receiveCount - 1));
}

/**
 * One selfie, one delivery: preflight, reuse an identical image's outcome, or call the vendor with
 * write-ahead attempts, then record exactly one decision. Anything that cannot finish now is
 * returned as retry-later (the handler turns it into a batch item failure).
 */
export async function verifySelfie(
  message: VerifySelfieMessage,
  delivery: Delivery,
  deps: VerificationDeps,
): Promise<VerificationOutcome> {
  const now = deps.now ?? (() => new Date());
  const { repository, metrics } = deps;
  const { selfieId, batchId } = message;
  const log = deps.logger.createChild({ persistentKeys: { selfieId, batchId } });
  const lastReceive = delivery.receiveCount >= deps.maxReceiveCount;

  const existing = await repository.getResult(selfieId);
  if (!existing) {
    // A message with no record (e.g. redriven into a fresh table): record it rather than lose it.
    await repository.recordReceived(message);
  } else if (isTerminal(existing.state)) {
    log.info('Selfie already decided; skipping', { decision: existing.state });
    return { kind: 'already-decided' };
  }

  /** Set once this delivery holds the processing lease. */
  let heldLease: string | undefined;
  /** The caller's subject and correlation IDs, once read from the object's metadata. */
  let ids: SelfieIds = {};
  const finish = async (record: Omit<DecisionRecord, 'decidedAt'>, sha256?: string, reuse = false) => {
    const decidedAt = now().toISOString();
    const reuseUntil = reuse
      ? Math.floor(now().getTime() / 1000) + deps.duplicateReuseWindowHours * 3600
      : undefined;
    let recorded: boolean;
    try {
      recorded = await repository.recordDecision(
        { selfieId, batchId, sha256 },
        { ...record, ...ids, decidedAt },
        reuseUntil,
      );
      if (!recorded && reuseUntil !== undefined) {
        // The content claim moved to another selfie (ours expired): record the decision without it.
        const current = await repository.getResult(selfieId);
        if (current && !isTerminal(current.state)) {
          recorded = await repository.recordDecision({ selfieId, batchId }, { ...record, ...ids, decidedAt });
        }
      }
    } catch (error) {
      // Alive but unable to record: give the selfie back now rather than when the lease runs out.
      if (heldLease) await repository.releaseLease(selfieId, heldLease).catch(() => undefined);
      throw error;
    }
    if (!recorded) return { kind: 'already-decided' } as const;
    if (sha256 && !reuse) await repository.releaseContent(sha256, selfieId);
    countBy(metrics, metricNames.decisions, 'decision', record.decision);
    log.info('Selfie decided', {
      decision: record.decision,
      reason: record.reason,
      duplicateOf: record.duplicateOf,
    });
    return { kind: 'decided', decision: record.decision, reason: record.reason } as const;
  };
  const noCalls = { callsThisDelivery: 0, paidCallsThisDelivery: 0 };

  const loaded = await deps.loadSelfie(message);
  if (!loaded) {
    return finish({
      ...noCalls,
      decision: 'REJECTED',
      reason: 'OBJECT_NOT_FOUND: the object was deleted before it was verified',
    });
  }
  // Malformed IDs are the caller's mistake, refused before anything is paid for.
  const metadata = selfieIdsFrom(loaded.metadata);
  if (!metadata.ok) return finish({ ...noCalls, decision: 'REJECTED', reason: metadata.reason });
  ids = metadata.ids;
  const { bytes } = loaded;

  const preflight = await preflightSelfie(bytes, deps.preflightLimits);
  if (!preflight.ok) {
    const { reason, message: text } = preflight.rejection;
    countBy(metrics, metricNames.preflightRejections, 'reason', reason);
    return finish({ ...noCalls, decision: 'REJECTED', reason: `${reason}: ${text}` });
  }
  const { sha256 } = preflight;

  const claimTtlSeconds = Math.max(60, Math.ceil((delivery.deadline - now().getTime()) / 1000) + 60);
  const claim = await repository.claimContent(sha256, selfieId, now(), claimTtlSeconds);
  if (claim.kind === 'reuse') {
    const owner = claim.owner;
    metrics.addMetric(metricNames.duplicatesReused, MetricUnit.Count, 1);
    return finish({
      ...noCalls,
      decision: owner.decision ?? 'REVIEW',
      reason: `same image bytes as ${owner.selfieId}, decided ${owner.decidedAt}: ${owner.reason}`,
      duplicateOf: owner.selfieId,
      vendorStatus: owner.vendorStatus,
      vendorResponseCode: owner.vendorResponseCode,
      liveScore: owner.liveScore ?? null,
      popScore: owner.popScore ?? null,
      debitStatus: null,
      transactionReference: owner.transactionReference,
    });
  }
  if (claim.kind === 'busy') {
    // The twin usually decides within seconds: look again soon, then back off like any retry.
    const wait = Math.min(
      redeliveryDelaySeconds(delivery.receiveCount),
      5 * 2 ** (delivery.receiveCount - 1),
    );
    return unfinished(
      `DUPLICATE_IN_PROGRESS: identical image is being verified as ${claim.ownerSelfieId}`,
      0,
      0,
      wait,
    );
  }

  if (deps.vendorGate.isClosed(now().getTime())) {
    return unfinished(
      'VENDOR_UNAUTHORIZED: vendor rejected the credentials recently (HTTP 401); not calling',
      0,
      0,
      300,
    );
  }

  const leaseId = randomUUID();
  const acquired = await repository.acquireProcessing(selfieId, {
    id: leaseId,
    until: delivery.deadline + 30_000,
    receiveCount: delivery.receiveCount,
    at: now().toISOString(),
    sha256,
    preflight: { format: preflight.format, original: preflight.original, final: preflight.final },
  });
  if (acquired.status === 'terminal') return { kind: 'already-decided' };
  if (acquired.status === 'leased') {
    return {
      kind: 'retry-later',
      reason: 'another delivery of this selfie is in progress',
      delaySeconds: 60,
    };
  }
  heldLease = leaseId;
  const counted = { calls: acquired.result.attempts, paid: acquired.result.paidCalls };

  // Resume after earlier deliveries. An attempt left open by a crash is resent with its reference;
  // one that completed before a crash is decided from the verdict it kept, without another call.
  const attempts = acquired.earlierLease ? await repository.listAttempts(selfieId) : [];
  const open = attempts.find((a) => a.outcome === 'open');
  const answered = attempts.find((a) => a.outcome === 'completed' && a.verdict);
  const lastNumber = attempts.reduce((max, a) => Math.max(max, a.attempt), 0);
  if (open) log.warn('Resuming an attempt left open by an earlier delivery', { attempt: open.attempt });

  let run: Awaited<ReturnType<typeof verifyWithRetries>> = {
    final: null,
    attempts: [],
    stoppedBecause: 'completed',
  };
  if (!answered) {
    try {
      run = await verifyWithRetries({
        client: deps.vendor,
        image: preflight.jpeg,
        firstAttempt: open ? open.attempt : lastNumber + 1,
        maxAttempts: deps.retry.maxAttempts,
        deadline: delivery.deadline,
        backoff: deps.retry.backoff,
        beginAttempt: async (attempt) => {
          const transactionReference = transactionReferenceFor(selfieId, attempt);
          await repository.beginAttempt({
            selfieId,
            attempt,
            transactionReference,
            startedAt: now().toISOString(),
          });
          return transactionReference;
        },
        endAttempt: async (record, result) => {
          await repository.endAttempt({ ...record, selfieId, verdict: verdictOf(result) });
          metrics.addMetric(
            metricNames.vendorLatency,
            MetricUnit.Milliseconds,
            Date.parse(record.endedAt) - Date.parse(record.startedAt),
          );
          log.info('Vendor attempt ended', {
            attempt: record.attempt,
            transactionReference: record.transactionReference,
            outcome: record.outcome,
            httpStatus: record.httpStatus,
            responseCode: record.responseCode,
          });
        },
      });
    } catch (error) {
      // This process is alive and gives the selfie back; only a crash leaves the lease to run out.
      await repository.releaseLease(selfieId, leaseId);
      throw error;
    }
  } else {
    log.warn('Deciding from an attempt that completed before an earlier delivery crashed', {
      attempt: answered.attempt,
    });
  }

  // Calls and charges not yet on the result: this delivery's, and any of a delivery that crashed.
  const allAttempts = [...attempts, ...run.attempts];
  const distinct = (list: typeof allAttempts) => new Set(list.map((a) => a.attempt)).size;
  const calls = distinct(allAttempts) - counted.calls;
  const paid = distinct(allAttempts.filter((a) => a.outcome === 'completed')) - counted.paid;
  if (run.attempts.length > 1)
    metrics.addMetric(metricNames.vendorRetries, MetricUnit.Count, run.attempts.length - 1);
  const paidNow = run.attempts.filter((a) => a.outcome === 'completed').length;
  if (paidNow > 0) metrics.addMetric(metricNames.paidCalls, MetricUnit.Count, paidNow);
  const final: CallResult | null = run.final;
  const reference = run.attempts.at(-1)?.transactionReference;

  const verdict = answered?.verdict ?? (final ? verdictOf(final) : undefined);
  if (verdict) {
    const decision = decide(
      { status: verdict.verificationStatus, liveScore: verdict.liveScore, popScore: verdict.popScore },
      deps.thresholds,
    );
    return finish(
      {
        ...decision,
        callsThisDelivery: calls,
        paidCallsThisDelivery: paid,
        vendorStatus: verdict.verificationStatus,
        vendorResponseCode: verdict.responseCode,
        vendorResponse: verdict.raw,
        liveScore: verdict.liveScore,
        popScore: verdict.popScore,
        debitStatus: verdict.debitStatus,
        transactionReference: verdict.transactionReference ?? answered?.transactionReference ?? reference,
      },
      sha256,
      true,
    );
  }

  if (final?.outcome === 'permanent') {
    if (final.unauthorized) {
      deps.vendorGate.recordUnauthorized(now().getTime());
      metrics.addMetric(metricNames.vendorUnauthorized, MetricUnit.Count, 1);
      log.error(
        'Vendor rejected the credentials (HTTP 401): check the userid/apiKey secret; pausing vendor calls',
        {
          transactionReference: reference,
        },
      );
      return unfinished(`VENDOR_UNAUTHORIZED: ${final.detail}`, calls, paid, 300);
    }
    const badInput = final.reason === 'bad_request';
    return finish(
      {
        decision: badInput ? 'REJECTED' : 'FAILED',
        reason: `${badInput ? 'VENDOR_BAD_REQUEST' : 'VENDOR_ERROR'}: ${final.detail}`,
        callsThisDelivery: calls,
        paidCallsThisDelivery: paid,
        vendorResponseCode: final.responseCode,
        transactionReference: reference,
        lastError: final.detail,
      },
      sha256,
    );
  }

  const why = final
    ? `${final.outcome.toUpperCase()}: ${final.detail}`
    : 'no time left in this invocation for a vendor call';
  return unfinished(why, calls, paid, redeliveryDelaySeconds(delivery.receiveCount));

  async function unfinished(lastError: string, callCount: number, paidCount: number, delaySeconds: number) {
    if (lastReceive) {
      const outcome = await finish(
        {
          decision: 'FAILED',
          reason: `RETRIES_EXHAUSTED after ${delivery.receiveCount} deliveries; last: ${lastError}`,
          callsThisDelivery: callCount,
          paidCallsThisDelivery: paidCount,
          lastError,
        },
        sha256,
      );
      return outcome.kind === 'decided' ? { ...outcome, toDeadLetterQueue: true } : outcome;
    }
    await repository.recordUnfinished(selfieId, {
      at: now().toISOString(),
      calls: callCount,
      paidCalls: paidCount,
      lastError,
    });
    // Waiting for an identical image's outcome is the plan working, not a problem worth a warning.
    const waitingForTwin = lastError.startsWith('DUPLICATE_IN_PROGRESS');
    log[waitingForTwin ? 'info' : 'warn']('Selfie not finished in this delivery; will retry', {
      lastError,
      delaySeconds,
    });
    return { kind: 'retry-later', reason: lastError, delaySeconds } as const;
  }
}

/** What a completed call's attempt record keeps: enough to record the decision later. */
function verdictOf(result: CallResult): AttemptItem['verdict'] {
  if (result.outcome !== 'completed') return undefined;
  return {
    verificationStatus: result.verificationStatus,
    liveScore: result.liveScore,
    popScore: result.popScore,
    debitStatus: result.debitStatus,
    responseCode: result.responseCode,
    transactionReference: result.transactionReference,
    raw: result.raw,
  };
}
