import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { z } from 'zod';
import { AuditQueries } from '../operations/audit-queries.ts';
import {
  hasDiscrepancies,
  type ReconciliationReport,
  reconcileStatement,
  STATEMENT_HEADERS,
  StatementFormatError,
  type StatementRecord,
} from '../operations/reconcile.ts';
import { OperatorHistory } from '../operations/selfie-history.ts';
import { type Command, UsageError } from '../toolkit/command.ts';
import { type OpsIo, parseFlags, parseOpsArgs, printHelp, processIo } from './ops/io.ts';
import { openTarget, targetHelp } from './ops/target.ts';

const HELP = `Usage: liveness-batch reconcile --statement FILE.csv [--batch ID] [--dry-run] [--format text|json] [where]

Matches the vendor's billing statement against the results table, line by line (the file is read
as a stream), and prints four lists:
  matched            the reference is a call we made, and both sides agree it was (not) charged
  missing on ours    the vendor charged a reference we have no record of
  missing on theirs  we recorded a paid call (its answer said the wallet was debited) in the
                     statement's period that the statement lacks
  status mismatches  both sides know the reference but disagree: the vendor charged it more often
                     than our paid and uncertain calls explain, we recorded a charge the statement
                     does not show, or the debit status differs
  settled            uncertain calls (sent, no readable answer: they may have cost money) settled
                     against the statement: paid when it charged their reference more often than
                     our paid calls explain, else not paid; recorded in the selfie's history and
                     counts (a selfie still in flight is listed, not written: run again later)
Lines that cannot be read (no reference, bad date or amount) are listed too.

The statement: CSV, one charge per line, a header line naming the columns (any order; case,
spaces, _ and - are ignored):
  reference     ${STATEMENT_HEADERS.reference.join(', ')}   (required)
  date          ${STATEMENT_HEADERS.date.join(', ')}   (required; ISO 8601)
  amount        ${STATEMENT_HEADERS.amount.join(', ')}
  debit status  ${STATEMENT_HEADERS.debitStatus.join(', ')}
and at least one of amount (> 0 means charged) and debit status (SUCCESSFUL means charged), e.g.
  reference,date,amount,debitStatus
  lb-3f2a9c1d0b7e4a5f6c8d9e01-1,2026-11-26T10:15:02Z,0.05,SUCCESSFUL

Our side of "missing on theirs" is every paid call of the results decided in the statement's date
range (one day either side), or of one batch with --batch ID.

Options:
  --statement FILE         the vendor's statement (CSV)
  --batch ID               compare against this batch's paid calls instead of the statement's dates
  --dry-run                list what would be settled; write nothing
  --format F               text (default) or json
  --help, -h               this text

Exit code: 0 when everything matches, 1 when there are discrepancies (or unreadable lines),
2 on a usage error.

${targetHelp('table')}`;

const flagsSchema = z.object({
  statement: z
    .string({ error: '--statement FILE.csv is required' })
    .min(1, '--statement FILE.csv is required'),
  batch: z.string().min(1).optional(),
  'dry-run': z.boolean().default(false),
  format: z.enum(['text', 'json'], { error: '--format must be text or json' }).default('text'),
});

function textReport(report: ReconciliationReport): string {
  const out: string[] = [];
  const period = report.period ? ` dated ${report.period.from} to ${report.period.to}` : '';
  out.push(`Statement: ${report.lines} line(s)${period}`);
  out.push(`  matched            ${report.matched}`);
  out.push(`  missing on ours    ${report.missingOnOurs.length}`);
  out.push(`  missing on theirs  ${report.missingOnTheirs.length}`);
  out.push(`  status mismatches  ${report.mismatches.length}`);
  if (report.unreadable.length > 0) out.push(`  unreadable lines   ${report.unreadable.length}`);
  out.push(`  uncertain settled  ${report.settled.length}`);
  if (report.missingOnOurs.length > 0) {
    out.push('', 'Missing on our side (the vendor charged a reference we have no record of):');
    for (const l of report.missingOnOurs) {
      const what = [
        l.amount !== undefined ? `amount ${l.amount}` : '',
        l.debitStatus ? `debit ${l.debitStatus}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      out.push(`  line ${l.line}  ${l.reference}  ${l.date}  ${what}`);
    }
  }
  if (report.missingOnTheirs.length > 0) {
    out.push('', 'Missing on theirs (a paid call we recorded that the statement lacks):');
    for (const m of report.missingOnTheirs) {
      out.push(
        `  ${m.reference}  ${m.startedAt}  ${m.selfieId}${m.debitStatus ? `  debit ${m.debitStatus}` : ''}`,
      );
    }
  }
  if (report.mismatches.length > 0) {
    out.push('', 'Status mismatches:');
    for (const m of report.mismatches) {
      out.push(
        `  line ${m.line}  ${m.reference}: ${m.why}; ours: ${m.ours}; theirs: ${m.theirs}${m.selfieId ? `  (${m.selfieId})` : ''}`,
      );
    }
  }
  if (report.settled.length > 0) {
    out.push('', 'Uncertain calls settled (sent, no readable answer):');
    for (const c of report.settled) {
      const note = c.written ? '' : ' (not written: dry run, or the selfie is not decided yet)';
      out.push(`  ${c.reference}  ${c.selfieId} attempt ${c.attempt}: ${c.settledAs}${note}`);
    }
  }
  if (report.unreadable.length > 0) {
    out.push('', 'Unreadable lines:');
    for (const u of report.unreadable) out.push(`  line ${u.line}: ${u.problem}`);
  }
  out.push('', hasDiscrepancies(report) ? 'Discrepancies found (exit code 1).' : 'Everything matches.');
  return `${out.join('\n')}\n`;
}

export async function runReconcile(argv: string[], io: OpsIo = processIo()): Promise<number> {
  const { values } = parseOpsArgs(argv, {
    statement: { type: 'string' },
    batch: { type: 'string' },
    'dry-run': { type: 'boolean' },
    format: { type: 'string' },
  });
  if (values.help) return printHelp(io, HELP);
  const flags = parseFlags(flagsSchema, values);
  try {
    await access(flags.statement);
  } catch {
    throw new UsageError(`Cannot read the statement ${flags.statement}`);
  }
  const target = await openTarget(values, 'table', io.deps);
  const input = createReadStream(flags.statement);
  const records = statementRecords(input);
  try {
    const history = new OperatorHistory(target.db, target.tableName);
    const at = new Date().toISOString();
    const report = await reconcileStatement(records, new AuditQueries(target.db, target.tableName), {
      ...(flags.batch ? { batchId: flags.batch } : {}),
      ...(flags['dry-run']
        ? {}
        : {
            settle: (call, settledAs) =>
              history.settleUncertainCall(
                call,
                settledAs,
                at,
                `reconcile --statement ${basename(flags.statement)}`,
              ),
          }),
    });
    io.stdout.write(flags.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : textReport(report));
    return hasDiscrepancies(report) ? 1 : 0;
  } catch (error) {
    if (error instanceof StatementFormatError) throw new UsageError(`${flags.statement}: ${error.message}`);
    if (error instanceof CsvError) {
      throw new UsageError(
        `${flags.statement} is not a readable CSV file (${error.message}); fix the file or export it again`,
      );
    }
    throw error;
  } finally {
    input.destroy();
    await target.close();
  }
}

/**
 * The statement's records, streamed through csv-parse: quoted cells may hold commas, quotes and line
 * breaks, a UTF-8 byte-order mark (spreadsheet exports) is dropped, and rows may differ in length.
 */
async function* statementRecords(input: Readable): AsyncGenerator<StatementRecord> {
  const parser = input.pipe(
    parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true }),
  );
  for await (const { record, info } of parser as AsyncIterable<{
    record: string[];
    info: { lines: number };
  }>) {
    yield { cells: record, line: info.lines };
  }
}

export const reconcileCommand: Command = {
  name: 'reconcile',
  summary: "Match the vendor's billing statement (CSV) against the recorded calls; exit 1 on discrepancies",
  run: (argv) => runReconcile(argv),
};
