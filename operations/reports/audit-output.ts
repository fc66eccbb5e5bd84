import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import type { AttemptItem, SelfieResult } from '../../shared/results/records.ts';
import { storedChargeOf } from '../../shared/verification/charges.ts';
import type { SelfieAudit } from '../audit-queries.ts';
import { BackpressureWriter } from './stream-writer.ts';

export const AUDIT_FORMATS = ['table', 'json', 'csv'] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

/**
 * Column order of a result list in CSV (by batch, by decision). Documented in `audit --help` and
 * docs/operations.md; append new columns at the end so existing spreadsheets keep working.
 */
export const RESULT_CSV_COLUMNS = [
  'selfieId',
  'batchId',
  'bucket',
  'key',
  'versionId',
  'state',
  'decision',
  'reason',
  'receivedAt',
  'decidedAt',
  'vendorStatus',
  'vendorResponseCode',
  'liveScore',
  'popScore',
  'debitStatus',
  'transactionReference',
  'duplicateOf',
  'attempts',
  'paidCalls',
  'uncertainCalls',
  'receiveCount',
  'sha256',
  'lastError',
  'subjectId',
  'correlationId',
] as const satisfies ReadonlyArray<keyof SelfieResult>;

/**
 * Column order of one selfie's audit in CSV (by selfie, by reference): one RESULT row, then one row
 * per ATTEMPT and per HISTORY item, in time order.
 */
export const SELFIE_CSV_COLUMNS = [
  'record',
  'selfieId',
  'at',
  'endedAt',
  'attempt',
  'transactionReference',
  'outcome',
  'httpStatus',
  'responseCode',
  'decision',
  'reason',
  'detail',
  /** An attempt's cost: paid, uncertain or none (after reconcile: as settled). */
  'charge',
  'subjectId',
  'correlationId',
] as const;

/**
 * A cell's text before quoting. A text cell that a spreadsheet would run as a formula (= + - @ tab
 * CR at the start) gets a leading apostrophe: object keys come from uploaders. Numbers and booleans
 * are written as they are.
 */
export function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

/** One CSV record, RFC 4180 (csv-stringify quotes what needs it), ending in CRLF. */
export function csvLine(values: readonly unknown[]): string {
  return stringify([values.map(csvCell)], { record_delimiter: 'windows', quoted_match: /[\r\n]/ });
}

/** Terminal-safe text: control characters (escape sequences, newlines in keys) become `?`. */
function plain(value: unknown): string {
  if (value === undefined || value === null) return '-';
  let text = '';
  for (const ch of String(value)) {
    const code = ch.codePointAt(0) ?? 0;
    text += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? '?' : ch;
  }
  return text;
}

function padCell(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}

const score = (n: number | null | undefined) => (typeof n === 'number' ? n.toFixed(3) : '-');

const TABLE_COLUMNS: Array<{ title: string; width: number; cell: (r: SelfieResult) => string }> = [
  { title: 'DECISION', width: 12, cell: (r) => r.decision ?? r.state },
  { title: 'LIVE', width: 7, cell: (r) => score(r.liveScore) },
  { title: 'POP', width: 7, cell: (r) => score(r.popScore) },
  { title: 'CALLS', width: 5, cell: (r) => String(r.attempts) },
  { title: 'PAID', width: 4, cell: (r) => String(r.paidCalls) },
  { title: 'UNCERTAIN', width: 9, cell: (r) => String(r.uncertainCalls) },
  { title: 'DECIDED AT', width: 24, cell: (r) => r.decidedAt ?? '-' },
  { title: 'KEY', width: 40, cell: (r) => r.key },
  { title: 'SUBJECT', width: 20, cell: (r) => r.subjectId ?? '-' },
  { title: 'REASON', width: 60, cell: (r) => r.reason ?? r.lastError ?? '-' },
];

function tableRow(cells: string[]): string {
  return `${cells
    .map((c, i) => padCell(plain(c), TABLE_COLUMNS[i]?.width ?? 10))
    .join('  ')
    .trimEnd()}\n`;
}

export interface ResultListHeader {
  /** What was asked, e.g. `{ batchId: 'b1', decision: 'REVIEW' }`; printed above a table, kept in JSON. */
  query: Record<string, unknown>;
  /** Extra lines above a table (e.g. the batch counts). */
  notes?: string[];
  /** Extra fields of the JSON document (e.g. the batch summary). */
  extra?: Record<string, unknown>;
}

/**
 * Writes a result list page by page as it is read: memory holds one page, whatever the row count.
 * JSON is one document `{ query, ...extra, results: [...], count }` written incrementally.
 */
export async function writeResultList(
  pages: AsyncIterable<SelfieResult[]>,
  format: AuditFormat,
  out: Writable,
  header: ResultListHeader,
): Promise<number> {
  const writer = new BackpressureWriter(out);
  let count = 0;
  if (format === 'csv') {
    await writer.write(csvLine(RESULT_CSV_COLUMNS));
    for await (const page of pages) {
      let chunk = '';
      for (const result of page) chunk += csvLine(RESULT_CSV_COLUMNS.map((c) => result[c]));
      count += page.length;
      await writer.write(chunk);
    }
    return count;
  }
  if (format === 'json') {
    const head = JSON.stringify({ query: header.query, ...header.extra });
    await writer.write(`${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"results":[`);
    for await (const page of pages) {
      const chunk = page.map((r) => `${count++ === 0 ? '\n' : ',\n'}${JSON.stringify(stripKeys(r))}`);
      await writer.write(chunk.join(''));
    }
    await writer.write(`${count > 0 ? '\n' : ''}],"count":${count}}\n`);
    return count;
  }
  const query = Object.entries(header.query)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${plain(v)}`)
    .join(', ');
  await writer.write(`Results for ${query}\n${(header.notes ?? []).map((n) => `${plain(n)}\n`).join('')}\n`);
  await writer.write(tableRow(TABLE_COLUMNS.map((c) => c.title)));
  for await (const page of pages) {
    count += page.length;
    await writer.write(page.map((r) => tableRow(TABLE_COLUMNS.map((c) => c.cell(r)))).join(''));
  }
  await writer.write(`\n${count} result${count === 1 ? '' : 's'}\n`);
  return count;
}

/** The table's own keys say nothing an auditor needs; the record keeps every other attribute. */
function stripKeys(item: Record<string, unknown>): Record<string, unknown> {
  const {
    pk: _pk,
    sk: _sk,
    gsi1pk,
    gsi1sk,
    gsi2pk,
    gsi2sk,
    gsi3pk,
    gsi4pk,
    gsi4sk,
    leaseId,
    leaseUntil,
    ...rest
  } = item;
  return rest;
}

function timeline(audit: SelfieAudit): Array<Record<(typeof SELFIE_CSV_COLUMNS)[number], unknown>> {
  const rows: Array<Record<(typeof SELFIE_CSV_COLUMNS)[number], unknown>> = [];
  const r = audit.result;
  if (r) {
    rows.push({
      record: 'RESULT',
      selfieId: audit.selfieId,
      at: r.decidedAt ?? r.updatedAt,
      endedAt: undefined,
      attempt: r.attempts,
      transactionReference: r.transactionReference,
      outcome: r.state,
      httpStatus: undefined,
      responseCode: r.vendorResponseCode,
      decision: r.decision,
      reason: r.reason,
      detail: r.lastError,
      charge: undefined,
      subjectId: r.subjectId,
      correlationId: r.correlationId,
    });
  }
  const events = [
    ...audit.attempts.map((a) => ({ at: a.startedAt, row: attemptRow(audit.selfieId, a) })),
    ...audit.history.map((h) => {
      const { pk: _pk, sk: _sk, selfieId: _id, at, what, ...detail } = h;
      return {
        at,
        row: {
          record: 'HISTORY',
          selfieId: audit.selfieId,
          at,
          outcome: what,
          detail: JSON.stringify(detail),
        } as Record<(typeof SELFIE_CSV_COLUMNS)[number], unknown>,
      };
    }),
  ].sort((a, b) => a.at.localeCompare(b.at));
  rows.push(...events.map((e) => e.row));
  return rows;
}

function attemptRow(selfieId: string, a: AttemptItem): Record<(typeof SELFIE_CSV_COLUMNS)[number], unknown> {
  return {
    record: 'ATTEMPT',
    selfieId,
    at: a.startedAt,
    endedAt: a.endedAt,
    attempt: a.attempt,
    transactionReference: a.transactionReference,
    outcome: a.outcome,
    httpStatus: a.httpStatus,
    responseCode: a.responseCode,
    decision: undefined,
    reason: undefined,
    detail: a.detail,
    charge: storedChargeOf(a),
    subjectId: undefined,
    correlationId: undefined,
  };
}

/** A reviewer's verdict on one line, e.g. `DECLINED by alice at 2026-12-01T10:00:00Z: mask`. */
function reviewLine(review: unknown): string | undefined {
  const r = review as { verdict?: string; reviewer?: string; at?: string; note?: string } | undefined;
  if (!r?.verdict) return undefined;
  return `${r.verdict} by ${r.reviewer} at ${r.at}${r.note ? `: ${r.note}` : ''}`;
}

/** One selfie: its result, every vendor attempt and its audit history, in the chosen format. */
export async function writeSelfieAudit(
  audit: SelfieAudit,
  format: AuditFormat,
  out: Writable,
  matched?: { reference: string },
): Promise<void> {
  const writer = new BackpressureWriter(out);
  if (format === 'csv') {
    await writer.write(csvLine(SELFIE_CSV_COLUMNS));
    for (const row of timeline(audit)) await writer.write(csvLine(SELFIE_CSV_COLUMNS.map((c) => row[c])));
    return;
  }
  if (format === 'json') {
    const document = {
      ...(matched ? { reference: matched.reference } : {}),
      selfieId: audit.selfieId,
      result: audit.result ? stripKeys(audit.result) : null,
      attempts: audit.attempts.map(stripKeys),
      history: audit.history.map(stripKeys),
    };
    await writer.write(`${JSON.stringify(document, null, 2)}\n`);
    return;
  }
  const lines: string[] = [];
  const r = audit.result;
  if (matched) lines.push(`Reference ${plain(matched.reference)} was sent for this selfie.`, '');
  lines.push(`Selfie ${plain(audit.selfieId)}`);
  if (!r) lines.push('  no result recorded');
  else {
    const fields: Array<[string, unknown]> = [
      ['batch', r.batchId],
      ['subject id', r.subjectId],
      ['correlation id', r.correlationId],
      ['state', r.state],
      ['decision', r.decision],
      ['reason', r.reason],
      ['received at', r.receivedAt],
      ['decided at', r.decidedAt],
      ['vendor status', r.vendorStatus],
      ['vendor code', r.vendorResponseCode],
      ['live score', r.liveScore],
      ['pop score', r.popScore],
      ['debit status', r.debitStatus],
      ['reference', r.transactionReference],
      ['duplicate of', r.duplicateOf],
      ['vendor calls', r.attempts],
      ['paid calls', r.paidCalls],
      ['uncertain calls', r.uncertainCalls],
      ['deliveries', r.receiveCount],
      ['sha256', r.sha256],
      ['last error', r.lastError],
      ['review', reviewLine(r.review)],
    ];
    for (const [name, value] of fields) {
      if (value !== undefined && value !== null) lines.push(`  ${name.padEnd(14)} ${plain(value)}`);
    }
  }
  lines.push('', `Attempts (${audit.attempts.length})`);
  for (const a of audit.attempts) {
    const took = a.endedAt ? `${Date.parse(a.endedAt) - Date.parse(a.startedAt)} ms` : 'open';
    lines.push(
      `  #${a.attempt}  ${a.startedAt}  ${plain(a.transactionReference)}  ${a.outcome}` +
        `  http ${a.httpStatus ?? '-'}  code ${plain(a.responseCode)}  ${took}${a.detail ? `  ${plain(a.detail)}` : ''}`,
    );
  }
  lines.push('', `History (${audit.history.length})`);
  for (const h of audit.history) {
    const { pk: _pk, sk: _sk, selfieId: _id, at, what, ...detail } = h;
    lines.push(`  ${at}  ${plain(what)}  ${plain(JSON.stringify(detail))}`);
  }
  await writer.write(`${lines.join('\n')}\n`);
}
