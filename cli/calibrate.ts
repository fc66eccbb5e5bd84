import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { AuditQueries, type DecisionRange } from '../operations/audit-queries.ts';
import { type Calibration, calibrate, formatThreshold } from '../operations/calibration/calibrate.ts';
import { renderCalibrationPage } from '../operations/calibration/det-page.ts';
import {
  type CandidateResult,
  candidateOf,
  type LabelledResult,
  LabelsFileError,
  matchLabels,
  parseLabelsCsv,
} from '../operations/calibration/labels.ts';
import type { Rate, Target } from '../operations/calibration/rates.ts';
import { reviewOf } from '../operations/review/review-record.ts';
import { parseDecisionRange } from '../operations/time-input.ts';
import { DECISIONS } from '../shared/decision.ts';
import type { DecisionThresholds } from '../shared/decision-policy.ts';
import type { SelfieResult } from '../shared/results/records.ts';
import { type Command, UsageError } from '../toolkit/command.ts';
import { type OpsIo, parseFlags, parseOpsArgs, printHelp, processIo } from './ops/io.ts';
import { openTarget, targetHelp } from './ops/target.ts';

const HELP = `Usage: liveness-batch calibrate (--labels FILE.csv | --from-reviews) (--batch ID | --from DATE --to DATE)
                             [--min-live-score N] [--max-pop-score N] [--max-bpcer R | --max-apcer R]
                             [--json] [--out FILE.html] [where]

Measures presentation-attack error rates (ISO/IEC 30107-3) of decided results against known labels:
  APCER  attack presentations accepted (decision VERIFIED)
  BPCER  bona fide presentations not accepted (REVIEW or NOT_VERIFIED)
each with its counts and a 95% Wilson score interval; the same across the whole threshold range of
live_score alone and of the pipeline's rule (vendor VERIFIED, live_score >= min, pop_score <= max);
the equal error rate (EER); and, with a target, the thresholds that meet it, printed as the flags of
\`run\`/\`up\` and as stack props.

Labels (one):
  --labels FILE            CSV with a header: label (bona_fide or attack) and one of selfie_id, key
                           or subject_id (a subject labels every check of that applicant). Quoted and
                           multi-line cells and a UTF-8 BOM are fine. Unknown labels, duplicates and
                           labels that match no decided result are listed as warnings, not errors.
  --from-reviews           use reviewers' verdicts (\`liveness-batch review\`): APPROVED is bona fide,
                           DECLINED an attack

Results (one):
  --batch ID               the decided results of one batch
  --from DATE --to DATE    results decided in the range (UTC days, both inclusive, or ISO instants)

The rule in force (for "at the current thresholds"; default: none, the vendor's status decides):
  --min-live-score N       as passed to \`run\`/\`up\` or the stack prop minLiveScore
  --max-pop-score N        as passed to \`run\`/\`up\` or the stack prop maxPopScore

Target (optional):
  --max-bpcer R            the highest acceptable BPCER, as 0.05 or 5%: the thresholds with the lowest
                           APCER that keep BPCER at or below it
  --max-apcer R            the mirror: lowest BPCER with APCER at or below R

Output:
  (default)                a table on standard output
  --json                   one JSON document instead
  --out FILE.html          also write a self-contained page with a DET curve (inline SVG, no script)
  --help, -h               this text

Selfies with no vendor verdict (REJECTED in preflight, FAILED) cannot be counted and are warnings.

${targetHelp('table')}

Examples:
  liveness-batch calibrate --labels truth.csv --batch pad-test-1 --min-live-score 90 --max-bpcer 5%
  liveness-batch calibrate --from-reviews --from 2026-11-01 --to 2026-11-30 --out calibration.html`;

const score = (flag: string) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, `${flag} must be a score between 0 and 100`)
    .transform(Number)
    .refine((n) => n <= 100, `${flag} must be a score between 0 and 100`)
    .optional();

const rate = (flag: string) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?%?$/, `${flag} must be a rate, as 0.05 or 5%`)
    .transform((s) => (s.endsWith('%') ? Number(s.slice(0, -1)) / 100 : Number(s)))
    .refine((n) => n >= 0 && n <= 1, `${flag} must be between 0 and 1 (or 0% and 100%)`)
    .optional();

const flagsSchema = z.object({
  labels: z.string().min(1).optional(),
  'from-reviews': z.boolean().optional(),
  batch: z.string().min(1).optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  'min-live-score': score('--min-live-score'),
  'max-pop-score': score('--max-pop-score'),
  'max-bpcer': rate('--max-bpcer'),
  'max-apcer': rate('--max-apcer'),
  json: z.boolean().optional(),
  out: z.string().min(1).optional(),
});
type Flags = z.infer<typeof flagsSchema>;

type Selection = { kind: 'batch'; batchId: string } | { kind: 'range'; range: DecisionRange };

function selectionOf(flags: Flags): Selection {
  if (flags.batch && (flags.from || flags.to))
    throw new UsageError('Give --batch ID or --from/--to, not both');
  if (flags.batch) return { kind: 'batch', batchId: flags.batch };
  if (!flags.from || !flags.to)
    throw new UsageError('Say which results: --batch ID, or --from DATE --to DATE');
  const range = parseDecisionRange(flags.from, flags.to);
  if (typeof range === 'string') throw new UsageError(range);
  return { kind: 'range', range };
}

/** The decided results of the selection, page by page (index byBatch, or byDecisionDate per decision). */
async function* resultsOf(queries: AuditQueries, selection: Selection): AsyncGenerator<SelfieResult> {
  if (selection.kind === 'batch') {
    for await (const page of queries.batchPages(selection.batchId)) yield* page;
    return;
  }
  for (const decision of DECISIONS) {
    for await (const page of queries.decisionPages(decision, selection.range)) yield* page;
  }
}

const pct = (r: number | null) => (r === null ? '–' : `${(r * 100).toFixed(2)}%`);
const rateCell = (r: Rate) =>
  r.rate === null
    ? 'n/a (none)'
    : `${pct(r.rate)} ${r.errors}/${r.total} [${pct(r.ci95?.low ?? null)}, ${pct(r.ci95?.high ?? null)}]`;

function table(c: Calibration, selection: string, labelsSource: string): string {
  const rows: Array<[string, string, string]> = [
    ['', 'APCER (attacks accepted)', 'BPCER (bona fide rejected)'],
    ['decisions as recorded', rateCell(c.recorded.apcer), rateCell(c.recorded.bpcer)],
    ['pipeline rule at the thresholds', rateCell(c.current.apcer), rateCell(c.current.bpcer)],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const lines = [
    `${selection}, labels from ${labelsSource}: ${c.counts.bonaFide} bona fide, ${c.counts.attack} attack`,
    `thresholds: min-live-score ${c.thresholds.minLiveScore ?? 'unset'}, max-pop-score ${c.thresholds.maxPopScore ?? 'unset'}`,
    '',
    ...rows.map((r) => `${r[0].padEnd(w0)}  ${r[1].padEnd(w1)}  ${r[2]}`),
    '(rate errors/total [95% Wilson score interval])',
    '',
    'equal error rate (where APCER and BPCER are closest):',
    ...c.curves.map(
      (curve) =>
        `  ${curve.title}: ${curve.eer ? `${pct(curve.eer.eer)} at t = ${formatThreshold(curve.eer.threshold)}` : 'n/a (needs both labels)'}`,
    ),
  ];
  if (c.target) {
    lines.push(
      '',
      'maxBpcer' in c.target
        ? `thresholds with BPCER <= ${pct(c.target.maxBpcer)} and the lowest APCER:`
        : `thresholds with APCER <= ${pct(c.target.maxApcer)} and the lowest BPCER:`,
    );
    if (c.recommendations.length === 0) lines.push('  none on this set');
    for (const r of c.recommendations) {
      const curve = c.curves.find((x) => x.id === r.curve);
      lines.push(
        `  ${curve?.title ?? r.curve}: t = ${formatThreshold(r.threshold)}, APCER ${rateCell(r.rates.apcer)}, BPCER ${rateCell(r.rates.bpcer)}`,
        r.flags
          ? `    run/up: ${r.flags}\n    stack:  ${r.props}`
          : '    (a score alone: the pipeline needs the vendor VERIFIED too)',
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function runCalibrate(argv: string[], io: OpsIo = processIo()): Promise<number> {
  const { values } = parseOpsArgs(argv, {
    labels: { type: 'string' },
    'from-reviews': { type: 'boolean' },
    batch: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    'min-live-score': { type: 'string' },
    'max-pop-score': { type: 'string' },
    'max-bpcer': { type: 'string' },
    'max-apcer': { type: 'string' },
    json: { type: 'boolean' },
    out: { type: 'string' },
  });
  if (values.help) return printHelp(io, HELP);
  const flags = parseFlags(flagsSchema, values);
  if (Boolean(flags.labels) === Boolean(flags['from-reviews'])) {
    throw new UsageError('Give the labels: --labels FILE.csv or --from-reviews (one of them)');
  }
  if (flags['max-bpcer'] !== undefined && flags['max-apcer'] !== undefined) {
    throw new UsageError('Give one target: --max-bpcer or --max-apcer');
  }
  const selection = selectionOf(flags);
  const thresholds: DecisionThresholds = {
    ...(flags['min-live-score'] !== undefined ? { minLiveScore: flags['min-live-score'] } : {}),
    ...(flags['max-pop-score'] !== undefined ? { maxPopScore: flags['max-pop-score'] } : {}),
  };
  const target: Target | undefined =
    flags['max-bpcer'] !== undefined
      ? { maxBpcer: flags['max-bpcer'] }
      : flags['max-apcer'] !== undefined
        ? { maxApcer: flags['max-apcer'] }
        : undefined;
  // Read the labels before opening the target, so a bad file fails fast.
  let labelsFile: ReturnType<typeof parseLabelsCsv> | undefined;
  if (flags.labels) {
    try {
      labelsFile = parseLabelsCsv(await readFile(flags.labels, 'utf8'));
    } catch (error) {
      if (error instanceof LabelsFileError) throw new UsageError(`${flags.labels}: ${error.message}`);
      throw error;
    }
  }
  const selectionText =
    selection.kind === 'batch'
      ? `batch ${selection.batchId}`
      : `results decided ${selection.range.from} … ${selection.range.to}`;
  const labelsSource = flags.labels ? flags.labels : "reviewers' verdicts";

  const target_ = await openTarget(values, 'table', io.deps);
  let samples: LabelledResult[];
  const warnings: string[] = [...(labelsFile?.warnings ?? [])];
  let results = 0;
  try {
    const queries = new AuditQueries(target_.db, target_.tableName);
    const candidates: CandidateResult[] = [];
    const reviewed: LabelledResult[] = [];
    for await (const result of resultsOf(queries, selection)) {
      results++;
      if (labelsFile) {
        candidates.push(candidateOf(result));
        continue;
      }
      const review = reviewOf(result);
      if (!review) continue;
      if (result.vendorStatus !== 'VERIFIED' && result.vendorStatus !== 'NOT VERIFIED') {
        warnings.push(
          `${result.key} was reviewed but has no vendor verdict (decision ${result.decision}); not counted`,
        );
        continue;
      }
      const c = candidateOf(result);
      reviewed.push({
        ...c,
        decision: c.decision ?? '',
        vendorStatus: result.vendorStatus,
        label: review.verdict === 'APPROVED' ? 'bona_fide' : 'attack',
      });
    }
    if (labelsFile) {
      const matched = matchLabels(labelsFile, candidates);
      samples = matched.samples;
      warnings.push(...matched.warnings);
    } else {
      samples = reviewed;
    }
  } finally {
    await target_.close();
  }
  if (results === 0) {
    io.stderr.write(`No results for ${selectionText} in ${target_.description}\n`);
    return 1;
  }
  const calibration = calibrate(samples, thresholds, target);
  if (flags.out) {
    const file = resolve(flags.out);
    await writeFile(
      file,
      renderCalibrationPage({
        calibration,
        selection: selectionText,
        labelsSource,
        warnings,
        generatedAt: new Date().toISOString(),
      }),
    );
    io.stderr.write(`Wrote ${file}\n`);
  }
  if (flags.json) {
    io.stdout.write(
      `${JSON.stringify({ selection: selectionText, labels: labelsSource, confidenceInterval: 'Wilson score, 95%', ...calibration, warnings }, null, 2)}\n`,
    );
  } else {
    io.stdout.write(table(calibration, selectionText, labelsSource));
    if (warnings.length > 0) {
      io.stdout.write(`\nwarnings (${warnings.length}):\n${warnings.map((w) => `  ${w}`).join('\n')}\n`);
    }
  }
  if (samples.length === 0) {
    io.stderr.write(
      'No labelled result has a vendor verdict: there is nothing to measure (see the warnings).\n',
    );
    return 1;
  }
  return 0;
}

export const calibrateCommand: Command = {
  name: 'calibrate',
  summary:
    'APCER/BPCER (ISO/IEC 30107-3) of decided results against labels, the EER and thresholds for a target',
  run: (argv) => runCalibrate(argv),
};
