import { DECISIONS, IN_FLIGHT_STATES } from '../../shared/decision.ts';
import { ATTEMPT_OUTCOMES, type BatchSummary, type SelfieResult } from '../../shared/results/records.ts';
import { storedChargeOf } from '../../shared/verification/charges.ts';
import type { AuditQueries } from '../audit-queries.ts';

/** Decisions a person has to look at, listed with their reasons. */
export const ATTENTION_DECISIONS = ['REVIEW', 'NOT_VERIFIED', 'FAILED', 'REJECTED'] as const;
/** Rows of the attention table kept in the HTML; beyond this the report says how many more and how to export them. */
export const MAX_ATTENTION_ROWS = 2000;
/** Upper edges (ms) of the vendor latency buckets; the last bucket is open-ended. */
export const LATENCY_EDGES_MS = [50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000] as const;

export interface AttentionRow {
  selfieId: string;
  key: string;
  decision: string;
  reason: string;
  vendorStatus?: string;
  liveScore?: number | null;
  popScore?: number | null;
  attempts: number;
  decidedAt?: string;
  subjectId?: string;
  correlationId?: string;
}

/** Everything the report shows, gathered in one pass over the batch (memory: counters, latencies, capped rows). */
export interface BatchReportData {
  batchId: string;
  generatedAt: string;
  summary?: BatchSummary;
  results: number;
  byState: Record<string, number>;
  /** Ten buckets of 10 points each over the vendor's 0–100 scale. */
  liveScoreBins: number[];
  popScoreBins: number[];
  /** Selfies by number of vendor calls (index = calls; index 0 = never called). */
  callsPerSelfie: number[];
  attemptsByOutcome: Record<string, number>;
  latenciesMs: number[];
  vendorCalls: number;
  paidCalls: number;
  /** Calls sent without a readable answer that reconcile has not settled: they may have cost money. */
  uncertainCalls: number;
  duplicatesReused: number;
  attention: AttentionRow[];
  attentionTotal: number;
  price?: { perCall: number; currency: string };
}

const scoreBin = (score: number) => Math.min(9, Math.max(0, Math.floor(score / 10)));

/**
 * Reads a batch through the byBatch index page by page, and each called selfie's attempt records
 * (latency, outcome), a few selfies at a time.
 */
export async function gatherBatchReport(
  queries: AuditQueries,
  batchId: string,
  options: { price?: { perCall: number; currency: string }; now?: Date; attemptConcurrency?: number } = {},
): Promise<BatchReportData> {
  const data: BatchReportData = {
    batchId,
    generatedAt: (options.now ?? new Date()).toISOString(),
    results: 0,
    byState: Object.fromEntries([...DECISIONS, ...IN_FLIGHT_STATES].map((s) => [s, 0])),
    liveScoreBins: Array(10).fill(0),
    popScoreBins: Array(10).fill(0),
    callsPerSelfie: [],
    attemptsByOutcome: Object.fromEntries(ATTEMPT_OUTCOMES.map((o) => [o, 0])),
    latenciesMs: [],
    vendorCalls: 0,
    paidCalls: 0,
    uncertainCalls: 0,
    duplicatesReused: 0,
    attention: [],
    attentionTotal: 0,
    ...(options.price ? { price: options.price } : {}),
  };
  const summary = await queries.batchSummary(batchId);
  if (summary) data.summary = summary;
  const concurrency = options.attemptConcurrency ?? 8;

  for await (const page of queries.batchPages(batchId)) {
    for (const result of page) countResult(data, result);
    const called = page.filter((r) => r.attempts > 0);
    for (let start = 0; start < called.length; start += concurrency) {
      const group = called.slice(start, start + concurrency);
      const attempts = await Promise.all(group.map((r) => queries.attempts(r.selfieId)));
      for (const list of attempts) {
        for (const attempt of list) {
          data.vendorCalls += 1;
          data.attemptsByOutcome[attempt.outcome] = (data.attemptsByOutcome[attempt.outcome] ?? 0) + 1;
          const charge = storedChargeOf(attempt);
          if (charge === 'paid') data.paidCalls += 1;
          if (charge === 'uncertain') data.uncertainCalls += 1;
          if (attempt.endedAt)
            data.latenciesMs.push(Date.parse(attempt.endedAt) - Date.parse(attempt.startedAt));
        }
      }
    }
  }
  data.latenciesMs.sort((a, b) => a - b);
  return data;
}

function countResult(data: BatchReportData, result: SelfieResult) {
  data.results += 1;
  data.byState[result.state] = (data.byState[result.state] ?? 0) + 1;
  const bump = (bins: number[], index: number) => {
    bins[index] = (bins[index] ?? 0) + 1;
  };
  if (typeof result.liveScore === 'number') bump(data.liveScoreBins, scoreBin(result.liveScore));
  if (typeof result.popScore === 'number') bump(data.popScoreBins, scoreBin(result.popScore));
  data.callsPerSelfie[result.attempts] = (data.callsPerSelfie[result.attempts] ?? 0) + 1;
  if (result.duplicateOf) data.duplicatesReused += 1;
  if ((ATTENTION_DECISIONS as readonly string[]).includes(result.state)) {
    data.attentionTotal += 1;
    if (data.attention.length < MAX_ATTENTION_ROWS) {
      data.attention.push({
        selfieId: result.selfieId,
        key: result.key,
        decision: result.state,
        reason: result.reason ?? result.lastError ?? '',
        ...(result.vendorStatus ? { vendorStatus: result.vendorStatus } : {}),
        liveScore: result.liveScore ?? null,
        popScore: result.popScore ?? null,
        attempts: result.attempts,
        ...(result.decidedAt ? { decidedAt: result.decidedAt } : {}),
        ...(result.subjectId ? { subjectId: result.subjectId } : {}),
        ...(result.correlationId ? { correlationId: result.correlationId } : {}),
      });
    }
  }
}

/** The value at quantile q of sorted numbers (nearest rank). */
export function percentile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function latencyBins(sorted: readonly number[]): Array<{ label: string; value: number }> {
  const bins = [...LATENCY_EDGES_MS, Number.POSITIVE_INFINITY].map((edge, i, all) => ({
    label: edge === Number.POSITIVE_INFINITY ? `≥${all[i - 1]}` : `<${edge}`,
    value: 0,
  }));
  for (const ms of sorted) {
    const index = LATENCY_EDGES_MS.findIndex((edge) => ms < edge);
    const bin = bins[index === -1 ? bins.length - 1 : index];
    if (bin) bin.value += 1;
  }
  return bins;
}
