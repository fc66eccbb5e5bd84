import { setTimeout as sleep } from 'node:timers/promises';
import type { CallResult } from '../../liveness/client.ts';
import { transactionReferenceFor } from '../../liveness/reference.ts';
import { type AttemptRecord, fullJitterDelay, verifyWithRetries } from '../../liveness/retry.ts';
import { metricNames } from '../../metric-names.ts';
import { MetricUnit } from '../../observability.ts';
import type { AttemptItem } from '../../results/records.ts';
import { addCall, chargeOf } from '../charges.ts';
import type { DeliveryRun } from '../delivery.ts';
import { LEASE_GRACE_MS, RECORD_RETRY } from '../policy.ts';
import { type Reason, reason } from '../reasons.ts';
import { SpendReservation } from './budget.ts';
import type { EarlierAttempts } from './own-answer.ts';

/** Why the call step stopped before the vendor decided. */
export type Refusal =
  | { by: 'uncertain-limit'; reason: Reason }
  | { by: 'vendor-paused'; reason: Reason }
  | { by: 'budget'; reason: Reason };

export interface CallStepResult {
  /** The last call's result; null when no call was made. */
  final: CallResult | null;
  refusal?: Refusal;
}

/**
 * Call: the vendor is called with write-ahead attempts and retries (PENDING, 5xx, no answer), each
 * call only after the uncertain-call limit, the vendor circuit and the spend cap have allowed it.
 */
export async function callVendor(
  run: DeliveryRun,
  image: Buffer,
  earlier: EarlierAttempts,
): Promise<CallStepResult> {
  const { deps } = run;
  const spend = new SpendReservation(run);
  let refusal: Refusal | undefined;
  const refuse = (r: Refusal) => {
    refusal = r;
    return { ok: false as const, refusal: r.reason.detail };
  };
  try {
    const outcome = await verifyWithRetries({
      client: deps.vendor,
      image,
      firstAttempt: earlier.lastAttempt + 1,
      maxAttempts: deps.retry.maxAttempts,
      deadline: run.delivery.deadline,
      backoff: deps.retry.backoff,
      ...(earlier.resumeReference ? { resumeReference: earlier.resumeReference } : {}),
      mayCall: async () => {
        if (run.totals.uncertain >= deps.maxUncertainCalls) {
          return refuse({
            by: 'uncertain-limit',
            reason: reason(
              'UNCERTAIN_CHARGE',
              `${run.totals.uncertain} call(s) got no readable answer and may have been charged; not calling again automatically`,
            ),
          });
        }
        if (!deps.breaker.permit(Date.now())) {
          const status = deps.breaker.status();
          return refuse({
            by: 'vendor-paused',
            reason: reason(
              'VENDOR_PAUSED',
              `vendor calls paused since ${new Date(status.since ?? Date.now()).toISOString()}: ${status.lastAnswer ?? 'unknown'}`,
            ),
          });
        }
        if (!(await spend.reserve())) {
          deps.breaker.cancelPermit();
          return refuse({
            by: 'budget',
            reason: reason('BUDGET_EXHAUSTED', 'the spend cap for paid calls is reached'),
          });
        }
        return { ok: true };
      },
      beginAttempt: async (attempt, reuse) => {
        const transactionReference = reuse ?? transactionReferenceFor(run.selfieId, attempt);
        await deps.attempts.begin({
          selfieId: run.selfieId,
          attempt,
          transactionReference,
          ...(run.sha256 ? { sha256: run.sha256 } : {}),
          startedAt: run.now().toISOString(),
        });
        return transactionReference;
      },
      endAttempt: (record, result) => recordAnswer(run, spend, record, result),
    });
    if (outcome.attempts.length > 1) {
      deps.metrics.addMetric(metricNames.vendorRetries, MetricUnit.Count, outcome.attempts.length - 1);
    }
    return { final: outcome.final, ...(refusal ? { refusal } : {}) };
  } catch (error) {
    // This process is alive: a unit reserved for a call that was never made goes back.
    await spend.refund().catch(() => undefined);
    throw error;
  }
}

/**
 * Record: what one call cost, counted at once (budget, totals, metrics, circuit), then the attempt's
 * end written with in-process retries. A paid answer that cannot be written would leave the attempt
 * open, and the next delivery would have to treat it as a possible second charge.
 */
async function recordAnswer(
  run: DeliveryRun,
  spend: SpendReservation,
  record: AttemptRecord,
  result: CallResult,
): Promise<void> {
  const { deps } = run;
  const charge = chargeOf(result);
  if (charge === 'none') await spend.refund();
  else spend.keep();
  run.totals = addCall(run.totals, charge);
  if (charge === 'paid') deps.metrics.addMetric(metricNames.paidCalls, MetricUnit.Count, 1);
  if (charge === 'uncertain') deps.metrics.addMetric(metricNames.uncertainCalls, MetricUnit.Count, 1);
  deps.metrics.addMetric(
    metricNames.vendorLatency,
    MetricUnit.Milliseconds,
    Date.parse(record.endedAt) - Date.parse(record.startedAt),
  );
  noteCircuit(run, result);

  await withRecordRetries(run, () =>
    deps.attempts.end({
      selfieId: run.selfieId,
      attempt: record.attempt,
      endedAt: record.endedAt,
      outcome: record.outcome,
      charge,
      ...(record.httpStatus === undefined ? {} : { httpStatus: record.httpStatus }),
      ...(record.responseCode === undefined ? {} : { responseCode: record.responseCode }),
      debitStatus: result.debitStatus,
      ...(record.detail === undefined ? {} : { detail: record.detail }),
      ...(verdictOf(result) ? { verdict: verdictOf(result) } : {}),
    }),
  );
  run.log.info('Vendor attempt ended', {
    attempt: record.attempt,
    transactionReference: record.transactionReference,
    outcome: record.outcome,
    charge,
    httpStatus: record.httpStatus,
    responseCode: record.responseCode,
  });
}

/** Retries a write with full jitter until it succeeds or the lease is about to run out. */
async function withRecordRetries(run: DeliveryRun, write: () => Promise<void>): Promise<void> {
  const giveUpAt = run.delivery.deadline + LEASE_GRACE_MS / 2;
  for (let retry = 0; ; retry++) {
    try {
      return await write();
    } catch (error) {
      const wait = fullJitterDelay(retry, RECORD_RETRY, Math.random);
      if (Date.now() + wait > giveUpAt) throw error;
      run.log.warn('Could not record a vendor answer; retrying', { retry, error: error as Error });
      await sleep(wait);
    }
  }
}

/** Lets the circuit breaker learn from one answer, and says so loudly when it opens. */
function noteCircuit(run: DeliveryRun, result: CallResult): void {
  const { deps } = run;
  if (!deps.breaker.record(result, Date.now())) return;
  deps.metrics.addMetric(metricNames.vendorCircuitOpen, MetricUnit.Count, 1);
  if (result.outcome === 'permanent' && result.unauthorized) {
    deps.metrics.addMetric(metricNames.vendorUnauthorized, MetricUnit.Count, 1);
    run.log.error(
      'Vendor rejected the credentials (HTTP 401): check the userid/apiKey secret; pausing vendor calls',
    );
  } else {
    run.log.error('Vendor answers say the vendor or its gateway is failing; pausing vendor calls', {
      answer: result.detail,
    });
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
