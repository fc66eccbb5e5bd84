import { DECISIONS, type Decision } from '../shared/decision.ts';
import type { BatchSummary } from '../shared/results/records.ts';

export type DecisionCounts = Record<Decision, number>;

export function decisionCounts(summary: BatchSummary | undefined): DecisionCounts {
  return Object.fromEntries(DECISIONS.map((d) => [d, summary?.[d] ?? 0])) as DecisionCounts;
}

export function decidedCount(summary: BatchSummary | undefined): number {
  return DECISIONS.reduce((sum, d) => sum + (summary?.[d] ?? 0), 0);
}

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes}m${String(seconds % 60).padStart(2, '0')}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** One progress line: bar, decided/total, counts per decision, and what the host is doing. */
export function progressLine(input: {
  summary: BatchSummary | undefined;
  expected: number;
  elapsedMs: number;
  inFlight?: number;
  /** Files uploaded so far, while uploads are still going on. */
  uploaded?: number;
  width?: number;
}): string {
  const total = Math.max(input.expected, input.summary?.total ?? 0);
  const decided = decidedCount(input.summary);
  const width = input.width ?? 24;
  const filled = total > 0 ? Math.min(width, Math.round((decided / total) * width)) : 0;
  const counts = decisionCounts(input.summary);
  const parts = DECISIONS.filter((d) => counts[d] > 0 || d === 'VERIFIED').map((d) => `${d} ${counts[d]}`);
  const held = input.summary?.HELD ? `  HELD ${input.summary.HELD} (spend cap)` : '';
  const flight = input.inFlight !== undefined ? `  in flight ${input.inFlight}` : '';
  const uploading = input.uploaded !== undefined ? `  uploaded ${input.uploaded}/${input.expected}` : '';
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${decided}/${total}  ${parts.join('  ')}${held}${flight}${uploading}  ${formatDuration(input.elapsedMs)}`;
}

/** The closing table: counts per decision, money and retries, time and throughput. */
export function summaryTable(input: {
  batchId: string;
  summary: BatchSummary | undefined;
  uploaded: number;
  decidedThisRun: number;
  elapsedMs: number;
  extra?: Array<[string, string]>;
}): string {
  const counts = decisionCounts(input.summary);
  const total = input.summary?.total ?? 0;
  const seconds = input.elapsedMs / 1000;
  const rows: Array<[string, string]> = [
    ['batch', input.batchId],
    ['selfies in batch', String(total)],
    ...DECISIONS.map((d): [string, string] => [`  ${d}`, String(counts[d])]),
    ['  HELD (spend cap)', String(input.summary?.HELD ?? 0)],
    ['paid vendor calls', String(input.summary?.paidCalls ?? 0)],
    ['uncertain vendor calls', String(input.summary?.uncertainCalls ?? 0)],
    ['retries', String(input.summary?.retries ?? 0)],
    ['duplicates reused', String(input.summary?.duplicatesReused ?? 0)],
    ['files uploaded', String(input.uploaded)],
    ['decided in this run', String(input.decidedThisRun)],
    ['elapsed', formatDuration(input.elapsedMs)],
    ['throughput', seconds > 0 ? `${(input.decidedThisRun / seconds).toFixed(1)} selfies/s` : '-'],
    ...(input.extra ?? []),
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}
