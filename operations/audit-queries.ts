import {
  type DynamoDBDocumentClient,
  GetCommand,
  paginateQuery,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { Decision } from '../shared/decision.ts';
import {
  type AttemptItem,
  attemptItemSchema,
  type BatchSummary,
  batchSummarySchema,
  keys,
  type SelfieResult,
  selfieResultSchema,
  withoutNulls,
} from '../shared/results/records.ts';

/** An audit history item (`HISTORY#<at>#<what>` in the selfie's partition): redrives, purges. */
export const historyItemSchema = z.looseObject({
  selfieId: z.string(),
  at: z.string(),
  what: z.string(),
});
export type HistoryItem = z.infer<typeof historyItemSchema>;

/** One selfie, everything the table knows about it. */
export interface SelfieAudit {
  selfieId: string;
  result?: SelfieResult;
  attempts: AttemptItem[];
  history: HistoryItem[];
}

/** A decision-date range: `from` inclusive, `to` exclusive, both ISO 8601 instants. */
export interface DecisionRange {
  from: string;
  to: string;
}

/**
 * Items per Query page. Bounded pages keep memory flat whatever the partition's size, and DynamoDB
 * Local reads a whole partition for an unlimited page (4 s a page at 100k items; 0.1 s with a limit).
 * 500 results (about 2 KB each with the vendor's response) stay under DynamoDB's 1 MB page.
 */
export const DEFAULT_PAGE_SIZE = 500;

const DAY_MS = 24 * 3600 * 1000;

/** The `yyyy-mm-dd` days a range touches, in order (the byDecisionDate index has one partition per day). */
export function daysOf(range: DecisionRange): string[] {
  const days: string[] = [];
  const end = Date.parse(range.to);
  for (let t = Date.parse(range.from.slice(0, 10)); t < end; t += DAY_MS) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/**
 * The read side of the results table: the audit questions of docs/design.md, each answered by a key or an
 * index, never a scan. Lists are async generators of pages, so a caller can write each page out
 * before the next one is read.
 */
export class AuditQueries {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly pageSize = DEFAULT_PAGE_SIZE,
  ) {}

  /**
   * Pages of one Query. The next page is requested while the caller works on the current one, so
   * reading and writing overlap; memory holds at most two pages.
   */
  private async *query(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey' | 'Limit'>) {
    const pages = paginateQuery(
      { client: this.db, pageSize: this.pageSize },
      { ...input, TableName: this.tableName },
    );
    const fetchPage = () => {
      const page = pages.next();
      // A caller that stops early leaves the prefetched page unread; its failure is not theirs.
      page.catch(() => undefined);
      return page;
    };
    let next = fetchPage();
    for (;;) {
      const out = await next;
      if (out.done) return;
      next = fetchPage();
      const items = (out.value.Items ?? []).map((item) => withoutNulls(item));
      if (items.length > 0) yield items;
    }
  }

  async getResult(selfieId: string): Promise<SelfieResult | undefined> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.selfie(selfieId), sk: keys.result } }),
    );
    return out.Item ? selfieResultSchema.parse(withoutNulls(out.Item)) : undefined;
  }

  /** The result, every attempt (what was sent when, what came back) and the audit history. One partition. */
  async selfie(selfieId: string): Promise<SelfieAudit> {
    const audit: SelfieAudit = { selfieId, attempts: [], history: [] };
    const pages = this.query({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.selfie(selfieId) },
    });
    for await (const page of pages) {
      for (const item of page) {
        const sk = String(item.sk);
        if (sk === keys.result) audit.result = selfieResultSchema.parse(item);
        else if (sk.startsWith(keys.attemptPrefix)) audit.attempts.push(attemptItemSchema.parse(item));
        else if (sk.startsWith(keys.historyPrefix)) audit.history.push(historyItemSchema.parse(item));
      }
    }
    return audit;
  }

  async attempts(selfieId: string): Promise<AttemptItem[]> {
    const attempts: AttemptItem[] = [];
    const pages = this.query({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': keys.selfie(selfieId), ':prefix': keys.attemptPrefix },
    });
    for await (const page of pages) attempts.push(...page.map((item) => attemptItemSchema.parse(item)));
    return attempts;
  }

  async batchSummary(batchId: string): Promise<BatchSummary | undefined> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.batch(batchId), sk: keys.summary } }),
    );
    return out.Item ? batchSummarySchema.parse(withoutNulls(out.Item)) : undefined;
  }

  /**
   * A batch's results (index byBatch), optionally only one state or decision; pages in selfie-id order
   * per state. A selfie in flight is filed under RECEIVED whether or not a delivery holds it (older
   * versions moved it to PROCESSING), so those two states are read from both and told apart by `state`.
   */
  async *batchPages(batchId: string, state?: string): AsyncGenerator<SelfieResult[]> {
    if (state === 'RECEIVED' || state === 'PROCESSING') {
      for (const prefix of keys.inFlightBatchPrefixes) yield* this.byBatch(batchId, prefix, state);
    } else {
      yield* this.byBatch(batchId, state ? `${state}#` : undefined);
    }
  }

  /** One byBatch query: the whole batch, or one sort-key prefix; `onlyState` filters selfies in flight. */
  private async *byBatch(batchId: string, prefix?: string, onlyState?: string) {
    const pages = this.query({
      IndexName: 'byBatch',
      KeyConditionExpression: prefix ? 'gsi1pk = :pk AND begins_with(gsi1sk, :prefix)' : 'gsi1pk = :pk',
      ...(onlyState
        ? { FilterExpression: '#state = :state', ExpressionAttributeNames: { '#state': 'state' } }
        : {}),
      ExpressionAttributeValues: {
        ':pk': keys.batch(batchId),
        ...(prefix ? { ':prefix': prefix } : {}),
        ...(onlyState ? { ':state': onlyState } : {}),
      },
    });
    for await (const page of pages) yield page.map((item) => selfieResultSchema.parse(item));
  }

  /** Results with one decision decided in [from, to) (index byDecisionDate, one partition per day), oldest first. */
  async *decisionPages(decision: Decision, range: DecisionRange): AsyncGenerator<SelfieResult[]> {
    for (const day of daysOf(range)) {
      const pages = this.query({
        IndexName: 'byDecisionDate',
        // decidedAt is a fixed-width ISO instant, so `<decidedAt>#<id>` sorts by time and an item decided
        // exactly at `to` (`to#…`) sorts after `to`: BETWEEN is [from, to).
        KeyConditionExpression: 'gsi2pk = :pk AND gsi2sk BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':pk': keys.decisionDay(decision, `${day}T00:00:00.000Z`),
          ':from': range.from,
          ':to': range.to,
        },
      });
      for await (const page of pages) yield page.map((item) => selfieResultSchema.parse(item));
    }
  }

  /** Every decided check of one applicant (index bySubject), newest first. */
  async *subjectPages(subjectId: string): AsyncGenerator<SelfieResult[]> {
    const pages = this.query({
      IndexName: 'bySubject',
      KeyConditionExpression: 'gsi4pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.subject(subjectId) },
      ScanIndexForward: false,
    });
    for await (const page of pages) yield page.map((item) => selfieResultSchema.parse(item));
  }

  /** The attempts that sent this vendor reference (index byReference); normally exactly one. */
  async attemptsByReference(reference: string): Promise<AttemptItem[]> {
    const attempts: AttemptItem[] = [];
    const pages = this.query({
      IndexName: 'byReference',
      KeyConditionExpression: 'gsi3pk = :ref',
      ExpressionAttributeValues: { ':ref': keys.reference(reference) },
    });
    for await (const page of pages) attempts.push(...page.map((item) => attemptItemSchema.parse(item)));
    return attempts;
  }
}
