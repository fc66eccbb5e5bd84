import { DECISIONS } from '../shared/decision.ts';
import type { AttemptItem, SelfieResult } from '../shared/results/records.ts';
import { storedChargeOf } from '../shared/verification/charges.ts';
import { type AuditQueries, daysOf } from './audit-queries.ts';

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
  /**
   * Uncertain calls (sent, no readable answer) settled against the statement: `paid` when the
   * statement charged their reference more often than our paid calls explain, else `not-paid`.
   * `written` is false in a dry run, or when the selfie is not decided yet (settle it later).
   */
  settled: SettledCall[];
}

export interface SettledCall {
  reference: string;
  selfieId: string;
  attempt: number;
  settledAs: 'paid' | 'not-paid';
  written: boolean;
}

/** Writes one settlement (the selfie's history and counts); absent in a dry run. */
export type SettleCall = (
  call: { selfieId: string; batchId: string; attempt: number; transactionReference: string },
  settledAs: 'paid' | 'not-paid',
) => Promise<boolean>;

export const hasDiscrepancies = (r: ReconciliationReport) =>
  r.missingOnOurs.length + r.missingOnTheirs.length + r.mismatches.length + r.unreadable.length > 0;

/** One record of the statement (csv-parse's output): its cells, and the line of the file it ends on. */
export interface StatementRecord {
  cells: string[];
  line: number;
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
 * Matches a vendor statement against the results table. The statement is read as a stream and its
 * lines grouped by reference (a reference resent after a call without an answer may be charged more
 * than once by a vendor that does not deduplicate). Each reference is then looked up through the
 * byReference index: the calls we made with it, what each cost, and the uncertain ones are settled
 * as paid or not paid. Afterwards, the paid and uncertain calls we recorded in the statement's period
 * (decided results over the byDecisionDate index, or one batch) that the statement lacks are listed,
 * and those uncertain ones settled as not paid.
 */
export async function reconcileStatement(
  records: AsyncIterable<StatementRecord>,
  queries: AuditQueries,
  options: { batchId?: string; concurrency?: number; settle?: SettleCall } = {},
): Promise<ReconciliationReport> {
  const report: ReconciliationReport = {
    lines: 0,
    matched: 0,
    missingOnOurs: [],
    missingOnTheirs: [],
    mismatches: [],
    unreadable: [],
    settled: [],
  };
  const byReference = new Map<string, StatementLine[]>();
  let columns: Columns | undefined;
  let minDay: string | undefined;
  let maxDay: string | undefined;
  const concurrency = options.concurrency ?? 16;

  for await (const record of records) {
    const lineNumber = record.line;
    const cells = record.cells.map((cell) => cell.trim());
    if (cells.every((cell) => cell === '')) continue;
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
    byReference.set(parsed.reference, [...(byReference.get(parsed.reference) ?? []), parsed]);
  }
  if (!columns)
    throw new StatementFormatError(
      'the statement is empty: expected a header line, then one line per charge',
    );

  const references = [...byReference.entries()];
  for (let start = 0; start < references.length; start += concurrency) {
    const group = references.slice(start, start + concurrency);
    await Promise.all(
      group.map(([reference, found]) => matchReference(reference, found, queries, report, options)),
    );
  }

  if (minDay && maxDay) {
    report.period = { from: minDay, to: maxDay };
    for await (const result of paidResultsInScope(queries, minDay, maxDay, options.batchId)) {
      for (const attempt of await queries.attempts(result.selfieId)) {
        const charge = storedChargeOf(attempt);
        if (charge === 'none' || byReference.has(attempt.transactionReference)) continue;
        const day = attempt.startedAt.slice(0, 10);
        if (!options.batchId && (day < minDay || day > maxDay)) continue;
        if (charge === 'uncertain') {
          // The statement covers the day and never charged this reference: the call cost nothing.
          await settle(report, options, result, attempt, 'not-paid');
          continue;
        }
        report.missingOnTheirs.push({
          reference: attempt.transactionReference,
          selfieId: result.selfieId,
          startedAt: attempt.startedAt,
          ...(attempt.debitStatus ? { debitStatus: attempt.debitStatus } : {}),
        });
      }
    }
  }
  return report;
}

async function settle(
  report: ReconciliationReport,
  options: { settle?: SettleCall },
  result: SelfieResult,
  attempt: AttemptItem,
  settledAs: 'paid' | 'not-paid',
): Promise<void> {
  const decided = result.decision !== undefined;
  const written =
    decided && options.settle
      ? await options.settle(
          {
            selfieId: result.selfieId,
            batchId: result.batchId,
            attempt: attempt.attempt,
            transactionReference: attempt.transactionReference,
          },
          settledAs,
        )
      : false;
  report.settled.push({
    reference: attempt.transactionReference,
    selfieId: result.selfieId,
    attempt: attempt.attempt,
    settledAs,
    written,
  });
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

/**
 * One reference: the statement charged it C times; we made P paid calls and U uncertain ones with it.
 * The uncertain calls explain what P does not: min(U, C - P) of them were paid, the rest not.
 */
async function matchReference(
  reference: string,
  lines: StatementLine[],
  queries: AuditQueries,
  report: ReconciliationReport,
  options: { settle?: SettleCall },
): Promise<void> {
  const first = lines[0] as StatementLine;
  const attempts = await queries.attemptsByReference(reference);
  if (attempts.length === 0) {
    report.missingOnOurs.push(...lines);
    return;
  }
  const selfieId = (attempts[0] as AttemptItem).selfieId;
  const result = await queries.getResult(selfieId);
  const theyCharged = lines.filter(charged);
  const paid = attempts.filter((a) => storedChargeOf(a) === 'paid');
  const uncertain = attempts.filter((a) => storedChargeOf(a) === 'uncertain');
  const explainedByUncertain = Math.min(uncertain.length, Math.max(0, theyCharged.length - paid.length));
  if (result) {
    for (const [index, attempt] of uncertain.entries()) {
      await settle(report, options, result, attempt, index < explainedByUncertain ? 'paid' : 'not-paid');
    }
  }
  const ours = attempts
    .map((a) => `attempt ${a.attempt} ${a.outcome}${a.debitStatus ? ` (debit ${a.debitStatus})` : ''}`)
    .join('; ');
  const theirs = lines
    .map((l) =>
      [
        l.amount !== undefined ? `amount ${l.amount}` : undefined,
        l.debitStatus ? `debit ${l.debitStatus}` : undefined,
      ]
        .filter(Boolean)
        .join(', '),
    )
    .join('; ');
  const mismatch = (why: string) =>
    report.mismatches.push({ reference, line: first.line, selfieId, ours, theirs, why });
  const weCharged = paid.length + explainedByUncertain;
  if (theyCharged.length > weCharged) {
    return void mismatch(
      `the vendor charged ${theyCharged.length} time(s); we recorded ${paid.length} paid and ${uncertain.length} uncertain call(s)`,
    );
  }
  if (theyCharged.length < paid.length) {
    return void mismatch(
      theyCharged.length === 0
        ? 'we recorded a paid call; the statement shows no charge'
        : `we recorded ${paid.length} paid call(s); the statement charged ${theyCharged.length}`,
    );
  }
  const ourDebit = paid.length === 1 ? paid[0]?.debitStatus : undefined;
  if (
    theyCharged.length === 1 &&
    first.debitStatus &&
    ourDebit &&
    first.debitStatus.toUpperCase() !== ourDebit.toUpperCase()
  ) {
    return void mismatch('the debit status differs');
  }
  report.matched += 1;
}

/** Decided results in the period (one day either side: a call may be decided after midnight), or one batch. */
async function* paidResultsInScope(
  queries: AuditQueries,
  fromDay: string,
  toDay: string,
  batchId: string | undefined,
): AsyncGenerator<SelfieResult> {
  if (batchId) {
    for await (const page of queries.batchPages(batchId))
      yield* page.filter((r) => r.paidCalls + r.uncertainCalls > 0);
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
      yield* page.filter((r) => r.paidCalls + r.uncertainCalls > 0);
  }
}
