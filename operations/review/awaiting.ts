import type { SelfieResult } from '../../shared/results/records.ts';
import type { AuditQueries, DecisionRange } from '../audit-queries.ts';
import { reviewOf } from './review-record.ts';
import type { ReviewableDecision } from './verdicts.ts';

export interface AwaitingQuery {
  /** Which decisions to list: REVIEW, optionally NOT_VERIFIED and FAILED. */
  decisions: readonly ReviewableDecision[];
  /** One batch (index byBatch), or every batch decided in a range (index byDecisionDate). */
  batchId?: string;
  range: DecisionRange;
  /** At most this many, the oldest decisions first. */
  limit: number;
}

export interface AwaitingList {
  items: SelfieResult[];
  /** How many unreviewed selfies matched in all (items holds the oldest `limit`). */
  total: number;
}

/**
 * The selfies waiting for a reviewer, oldest decision first, read from the indexes (never a scan).
 * Reviewed ones are left out. Only the oldest `limit` are kept while reading, so memory is bounded.
 */
export async function listAwaitingReview(queries: AuditQueries, query: AwaitingQuery): Promise<AwaitingList> {
  const kept: SelfieResult[] = [];
  let total = 0;
  const consider = (result: SelfieResult) => {
    if (reviewOf(result) || result.state !== result.decision) return;
    total++;
    kept.push(result);
    if (kept.length > query.limit * 2) trim();
  };
  const trim = () => {
    kept.sort(byDecidedAt);
    kept.length = Math.min(kept.length, query.limit);
  };
  for (const decision of query.decisions) {
    const pages = query.batchId
      ? queries.batchPages(query.batchId, decision)
      : queries.decisionPages(decision, query.range);
    for await (const page of pages) for (const result of page) consider(result);
  }
  trim();
  return { items: kept, total };
}

const byDecidedAt = (a: SelfieResult, b: SelfieResult) =>
  (a.decidedAt ?? a.updatedAt).localeCompare(b.decidedAt ?? b.updatedAt) ||
  a.selfieId.localeCompare(b.selfieId);
