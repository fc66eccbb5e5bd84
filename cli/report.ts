import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { AuditQueries } from '../operations/audit-queries.ts';
import { gatherBatchReport } from '../operations/reports/batch-report.ts';
import { renderBatchReport } from '../operations/reports/html-report.ts';
import type { Command } from '../toolkit/command.ts';
import { type OpsIo, parseFlags, parseOpsArgs, printHelp, processIo } from './ops/io.ts';
import { openTarget, targetHelp } from './ops/target.ts';

const HELP = `Usage: liveness-batch report --batch ID [--out FILE.html] [--price-per-call N] [--currency C] [where]

Writes one self-contained HTML file about a batch (inline CSS and SVG, no script, nothing fetched:
it opens offline and can be mailed): counts per decision, live_score and pop_score histograms,
vendor calls, retries and latency (from the attempt records), paid calls and the estimated vendor
cost, and a table of the selfies that need review or failed (REVIEW, NOT_VERIFIED, FAILED,
REJECTED) with their reasons (the first 2000; export all with \`audit --format csv\`).

Options:
  --batch ID               the batch (the first folder under uploads/)
  --out FILE               where to write (default report-<batch>.html in the current folder)
  --price-per-call N       the vendor's price per paid call, for the cost estimate (e.g. 0.05)
  --currency C             ISO 4217 code of that price (default USD)
  --help, -h               this text

${targetHelp('table')}`;

const flagsSchema = z.object({
  batch: z.string({ error: '--batch ID is required' }).min(1, '--batch ID is required'),
  out: z.string().min(1).optional(),
  'price-per-call': z
    .string()
    .regex(/^\d+(\.\d+)?$/, '--price-per-call must be a non-negative number, e.g. 0.05')
    .transform(Number)
    .optional(),
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/, '--currency must be a three-letter ISO 4217 code, e.g. USD or NGN')
    .transform((c) => c.toUpperCase())
    .default('USD'),
});

export async function runReport(argv: string[], io: OpsIo = processIo()): Promise<number> {
  const { values } = parseOpsArgs(argv, {
    batch: { type: 'string' },
    out: { type: 'string' },
    'price-per-call': { type: 'string' },
    currency: { type: 'string' },
  });
  if (values.help) return printHelp(io, HELP);
  const flags = parseFlags(flagsSchema, values);
  const target = await openTarget(values, 'table', io.deps);
  try {
    const queries = new AuditQueries(target.db, target.tableName);
    const data = await gatherBatchReport(queries, flags.batch, {
      ...(flags['price-per-call'] !== undefined
        ? { price: { perCall: flags['price-per-call'], currency: flags.currency } }
        : {}),
    });
    if (data.results === 0 && !data.summary) {
      io.stderr.write(`No batch ${flags.batch} in ${target.description}\n`);
      return 1;
    }
    const file = resolve(flags.out ?? `report-${flags.batch.replace(/[^\w.-]/g, '_')}.html`);
    await writeFile(file, renderBatchReport(data));
    io.stdout.write(
      `Wrote ${file}: ${data.results} selfies, ${data.attentionTotal} need review or failed, ${data.paidCalls} paid calls\n`,
    );
    return 0;
  } finally {
    await target.close();
  }
}

export const reportCommand: Command = {
  name: 'report',
  summary: 'Write a self-contained HTML report of a batch: decisions, scores, latency, cost, items to review',
  run: (argv) => runReport(argv),
};
