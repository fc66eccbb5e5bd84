import { isTerminal } from '../decision.ts';
import { toPutEventsEntry } from '../events/outcome-event.ts';
import { type EventPublisher, PUT_EVENTS_MAX_ENTRIES, publishAll } from '../events/publisher.ts';
import { toOutcomeDetail } from '../publish/publish-outcomes.ts';
import type { AuditQueries } from '../results/audit-queries.ts';
import type { SelfieResult } from '../results/records.ts';

/** What happened to one selfie's outcome. */
export interface RepublishedOutcome {
  selfieId: string;
  /** published: PutEvents accepted it; failed: still refused after the resend rounds; undecided/missing: nothing to publish. */
  result: 'published' | 'failed' | 'undecided' | 'missing';
  decision?: string;
  eventId?: string;
  error?: string;
}

export interface RepublishSummary {
  dryRun: boolean;
  published: number;
  failed: number;
  outcomes: RepublishedOutcome[];
}

export interface RepublishOptions {
  queries: AuditQueries;
  publisher: EventPublisher;
  eventBusName: string;
  /** A batch's decided results (index byBatch), or the named selfies (by key). */
  select: { batchId: string } | { selfieIds: readonly string[] };
  dryRun: boolean;
  maxResendRounds?: number;
  onOutcome?: (outcome: RepublishedOutcome) => void;
}

/**
 * Publishes the outcome events of decided selfies again, built from the results table exactly as the
 * stream's publish builds them (`toOutcomeDetail`): same detail, same `eventId` (a hash of selfie id
 * and decidedAt), so a consumer that already has an outcome recognises the copy and drops it. For
 * consumers that missed a publish (a PutEvents that kept failing, a target that was down, a
 * stream batch that reached the publish failure queue). Undecided selfies have no outcome yet and
 * are listed, not published. A dry run lists what would be published.
 */
export async function republishOutcomes(options: RepublishOptions): Promise<RepublishSummary> {
  const summary: RepublishSummary = { dryRun: options.dryRun, published: 0, failed: 0, outcomes: [] };
  for await (const page of selected(options)) {
    const decided: SelfieResult[] = [];
    for (const item of page) {
      if (typeof item === 'string') report({ selfieId: item, result: 'missing' });
      else if (!isTerminal(item.state)) report({ selfieId: item.selfieId, result: 'undecided' });
      else decided.push(item);
    }
    const details = decided.map(toOutcomeDetail);
    if (options.dryRun) {
      for (const d of details) {
        report({ selfieId: d.selfieId, result: 'published', decision: d.decision, eventId: d.eventId });
      }
      continue;
    }
    const unpublished = await publishAll(
      options.publisher,
      details.map((d) => toPutEventsEntry(d, options.eventBusName)),
      { maxResendRounds: options.maxResendRounds ?? 3 },
    );
    const failedAt = new Map(unpublished.map((u) => [u.index, u]));
    for (const [index, d] of details.entries()) {
      const failure = failedAt.get(index);
      const base = { selfieId: d.selfieId, decision: d.decision, eventId: d.eventId };
      if (failure) {
        summary.failed += 1;
        report({
          ...base,
          result: 'failed',
          error: `${failure.errorCode}${failure.errorMessage ? `: ${failure.errorMessage}` : ''}`,
        });
      } else {
        summary.published += 1;
        report({ ...base, result: 'published' });
      }
    }
  }
  return summary;

  function report(outcome: RepublishedOutcome) {
    summary.outcomes.push(outcome);
    options.onOutcome?.(outcome);
  }
}

/** Pages of results to republish; a selfie id with no result comes back as that id. */
async function* selected(options: RepublishOptions): AsyncGenerator<Array<SelfieResult | string>> {
  const { select, queries } = options;
  if ('batchId' in select) {
    yield* queries.batchPages(select.batchId);
    return;
  }
  for (let start = 0; start < select.selfieIds.length; start += PUT_EVENTS_MAX_ENTRIES) {
    const ids = select.selfieIds.slice(start, start + PUT_EVENTS_MAX_ENTRIES);
    yield await Promise.all(ids.map(async (id) => (await queries.getResult(id)) ?? id));
  }
}
