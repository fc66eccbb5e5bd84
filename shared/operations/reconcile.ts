import { DECISIONS } from '../decision.ts';
import { type AuditQueries, daysOf } from '../results/audit-queries.ts';
import type { SelfieResult } from '../results/records.ts';

/**
 * Header names accepted for each statement column, compared without case, spaces, `_` or `-`.
 * reference and date are required, and at least one of amount and debit status.
 */
export const STATEMENT_HEADERS = {
  reference: ['reference', 'transactionreference', 'transactionref', 'ref', 'txnref', 'txnreference'],
  date: ['date', 'transactiondate', 'txndate', 'chargedat', 'createdat', 'datetime', 'timestamp'],
  amount: ['amount', 'charge', 'charged', 'fee', 'debitamount', 'price', 'cost'],
  debitStatus: ['debitstatus', 'status', 'transactionstatus', 'debit', 'chargestatus'],
} as const;

/** Debit statuses that mean "charged" when a statement has no amount column. */
const CHARGED_STATUSES = new Set(['SUCCESSFUL', 'SUCCESS', 'DEBITED', 'CHARGED', 'PAID', 'COMPLETED']);

export interface StatementLine {
  line: number;
  reference: string;
  date: string;
  amount?: number;
  debitStatus?: string;
}

export interface Mismatch {
  reference: string;
  line: number;
  selfieId?: string;
  ours: string;
  theirs: string;
  why: string;
}

export interface ReconciliationReport {
  period?: { from: string; to: string };
  lines: number;
  matched: number;
  /** The vendor charged a reference we have no record of. */
  missingOnOurs: StatementLine[];
  /** We recorded a paid call (attempt outcome `completed`) in the statement's period that it lacks. */
  missingOnTheirs: Array<{ reference: string; selfieId: string; startedAt: string; debitStatus?: string }>;
  mismatches: Mismatch[];
  /** Lines that could not be read (bad date, empty reference, bad amount). */
  unreadable: Array<{ line: number; problem: string }>;
}

export const hasDiscrepancies = (r: ReconciliationReport) =>
  r.missingOnOurs.length + r.missingOnTheirs.length + r.mismatches.length + r.unreadable.length > 0;

/** One CSV record on one line (statements put one transaction per line): quotes and doubled quotes. */
export function splitCsvLine(text: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells.map((c) => c.trim());
}

type Columns = { reference: number; date: number; amount?: number; debitStatus?: number };

/** Finds the columns in a header row, or says what is missing. */
export function statementColumns(header: string[]): Columns | string {
  const normalised = header.map((h) =>
    h
      .replace(/^\uFEFF/, '')
      .toLowerCase()
      .replace(/[\s_-]/g, ''),
  );
  const find = (names: readonly string[]) => {
    const index = normalised.findIndex((h) => names.includes(h));
    return index === -1 ? undefined : index;
  };
  const reference = find(STATEMENT_HEADERS.reference);
  const date = find(STATEMENT_HEADERS.date);
  const amount = find(STATEMENT_HEADERS.amount);
  const debitStatus = find(STATEMENT_HEADERS.debitStatus);
  if (reference === undefined || date === undefined || (amount === undefined && debitStatus === undefined)) {
    return (
      `the statement's header must name a reference, a date and an amount or debit status column ` +
      `(e.g. "reference,date,amount,debitStatus"); got "${header.join(',')}"`
    );
  }
  return {
    reference,
    date,
    ...(amount !== undefined ? { amount } : {}),
    ...(debitStatus !== undefined ? { debitStatus } : {}),
  };
}

const charged = (line: StatementLine) =>
  line.amount !== undefined ? line.amount > 0 : CHARGED_STATUSES.has((line.debitStatus ?? '').toUpperCase());

/**
 * Matches a vendor statement against the results table line by line, reading the statement as a
 * stream: each reference is looked up through the byReference index (the attempt that sent it), then
 * its selfie's result. Afterwards, the paid calls we recorded in the statement's period (decided
 * results over the byDecisionDate index, or one batch) that the statement lacks are listed.
 * Memory holds the statement's references (to find what it lacks), not its lines.
 */
export async function reconcileStatement(
  lines: AsyncIterable<string>,
  queries: AuditQueries,
  options: { batchId?: string; concurrency?: number } = {},
): Promise<ReconciliationReport> {
  const report: ReconciliationReport = {
    lines: 0,
    matched: 0,
    missingOnOurs: [],
    missingOnTheirs: [],
    mismatches: [],
    unreadable: [],
  };
  const seen = new Map<string, number>();
  let columns: Columns | undefined;
  let minDay: string | undefined;
  let maxDay: string | undefined;
  let lineNumber = 0;
  let pending: StatementLine[] = [];
  const concurrency = options.concurrency ?? 16;

  const flush = async () => {
    const group = pending;
    pending = [];
    const outcomes = await Promise.all(group.map((line) => matchLine(line, queries)));
    for (const outcome of outcomes) {
      if (outcome.kind === 'matched') report.matched += 1;
      else if (outcome.kind === 'missing') report.missingOnOurs.push(outcome.line);
      else report.mismatches.push(outcome.mismatch);
    }
  };

  for await (const raw of lines) {
    lineNumber += 1;
    if (raw.trim() === '') continue;
    const cells = splitCsvLine(raw);
    if (!columns) {
      const found = statementColumns(cells);
      if (typeof found === 'string') throw new StatementFormatError(found);
      columns = found;
      continue;
    }
    report.lines += 1;
    const parsed = parseLine(cells, columns, lineNumber);
    if (typeof parsed === 'string') {
      report.unreadable.push({ line: lineNumber, problem: parsed });
      continue;
    }
    const day = parsed.date.slice(0, 10);
    if (!minDay || day < minDay) minDay = day;
    if (!maxDay || day > maxDay) maxDay = day;
    const times = (seen.get(parsed.reference) ?? 0) + 1;
    seen.set(parsed.reference, times);
    if (times > 1) {
      report.mismatches.push({
        reference: parsed.reference,
        line: lineNumber,
        ours: 'one call',
        theirs: `listed ${times} times`,
        why: 'the statement lists this reference more than once (a vendor deduplicating by reference charges once)',
      });
      continue;
    }
    pending.push(parsed);
    if (pending.length >= concurrency) await flush();
  }
  if (!columns)
    throw new StatementFormatError(
      'the statement is empty: expected a header line, then one line per charge',
    );
  await flush();

  if (minDay && maxDay) {
    report.period = { from: minDay, to: maxDay };
    for await (const result of paidResultsInScope(queries, minDay, maxDay, options.batchId)) {
      for (const attempt of await queries.attempts(result.selfieId)) {
        if (attempt.outcome !== 'completed' || seen.has(attempt.transactionReference)) continue;
        const day = attempt.startedAt.slice(0, 10);
        if (!options.batchId && (day < minDay || day > maxDay)) continue;
        report.missingOnTheirs.push({
          reference: attempt.transactionReference,
          selfieId: result.selfieId,
          startedAt: attempt.startedAt,
          ...(result.debitStatus && result.transactionReference === attempt.transactionReference
            ? { debitStatus: result.debitStatus }
            : {}),
        });
      }
    }
  }
  return report;
}

export class StatementFormatError extends Error {}

function parseLine(cells: string[], columns: Columns, line: number): StatementLine | string {
  const reference = cells[columns.reference] ?? '';
  if (!reference) return 'no reference';
  const dateText = cells[columns.date] ?? '';
  const time = Date.parse(dateText);
  if (Number.isNaN(time)) return `unreadable date "${dateText}"`;
  let amount: number | undefined;
  if (columns.amount !== undefined) {
    const text = (cells[columns.amount] ?? '').replace(/[^\d.-]/g, '');
    amount = Number(text);
    if (text === '' || Number.isNaN(amount)) return `unreadable amount "${cells[columns.amount] ?? ''}"`;
  }
  const debitStatus = columns.debitStatus !== undefined ? cells[columns.debitStatus] || undefined : undefined;
  return {
    line,
    reference,
    date: new Date(time).toISOString(),
    ...(amount !== undefined ? { amount } : {}),
    ...(debitStatus ? { debitStatus } : {}),
  };
}

type LineOutcome =
  | { kind: 'matched' }
  | { kind: 'missing'; line: StatementLine }
  | { kind: 'mismatch'; mismatch: Mismatch };

async function matchLine(line: StatementLine, queries: AuditQueries): Promise<LineOutcome> {
  const attempts = await queries.attemptsByReference(line.reference);
  const attempt = attempts[0];
  if (!attempt) return { kind: 'missing', line };
  const result = await queries.getResult(attempt.selfieId);
  const ourDebit =
    result?.transactionReference === line.reference && attempt.outcome === 'completed'
      ? (result.debitStatus ?? undefined)
      : undefined;
  const weCharged = attempt.outcome === 'completed';
  const theyCharged = charged(line);
  const theirs = [
    line.amount !== undefined ? `amount ${line.amount}` : undefined,
    line.debitStatus ? `debit ${line.debitStatus}` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  const ours = `attempt ${attempt.attempt} ${attempt.outcome}${ourDebit ? `, debit ${ourDebit}` : ''}`;
  const mismatch = (why: string): LineOutcome => ({
    kind: 'mismatch',
    mismatch: { reference: line.reference, line: line.line, selfieId: attempt.selfieId, ours, theirs, why },
  });
  if (theyCharged && !weCharged) {
    return mismatch(`the vendor charged a call we recorded as ${attempt.outcome} (not paid)`);
  }
  if (!theyCharged && weCharged) return mismatch('we recorded a paid call; the statement shows no charge');
  if (line.debitStatus && ourDebit && line.debitStatus.toUpperCase() !== ourDebit.toUpperCase()) {
    return mismatch('the debit status differs');
  }
  return { kind: 'matched' };
}

/** Decided results in the period (one day either side: a call may be decided after midnight), or one batch. */
async function* paidResultsInScope(
  queries: AuditQueries,
  fromDay: string,
  toDay: string,
  batchId: string | undefined,
): AsyncGenerator<SelfieResult> {
  if (batchId) {
    for await (const page of queries.batchPages(batchId)) yield* page.filter((r) => r.paidCalls > 0);
    return;
  }
  const day = 24 * 3600 * 1000;
  const range = {
    from: new Date(Date.parse(fromDay) - day).toISOString(),
    to: new Date(Date.parse(toDay) + 2 * day).toISOString(),
  };
  if (daysOf(range).length > 400)
    throw new StatementFormatError('the statement spans more than 400 days; split it');
  for (const decision of DECISIONS) {
    for await (const page of queries.decisionPages(decision, range))
      yield* page.filter((r) => r.paidCalls > 0);
  }
}
