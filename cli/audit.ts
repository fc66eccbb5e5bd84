import { z } from 'zod';
import { AuditQueries } from '../operations/audit-queries.ts';
import {
  AUDIT_FORMATS,
  RESULT_CSV_COLUMNS,
  SELFIE_CSV_COLUMNS,
  writeResultList,
  writeSelfieAudit,
} from '../operations/reports/audit-output.ts';
import { reviewCounts } from '../operations/review/verdicts.ts';
import { parseDecisionRange } from '../operations/time-input.ts';
import { DECISIONS, IN_FLIGHT_STATES } from '../shared/decision.ts';
import { selfieIdOf } from '../shared/selfie.ts';
import { type Command, UsageError } from '../toolkit/command.ts';
import { type OpsIo, openOutput, parseFlags, parseOpsArgs, printHelp, processIo } from './ops/io.ts';
import { openTarget, targetHelp } from './ops/target.ts';

const HELP = `Usage: liveness-batch audit QUERY [--format table|json|csv] [--out FILE] [where]

Answers the audit questions from the results table, by key or index (never a scan).

Queries (exactly one):
  --selfie ID                    one selfie (s3://bucket/key[?versionId=V]) with its result, every
                                 vendor attempt and its audit history (redrives, purges)
  --bucket B --key K             the same, by bucket and object key (--version-id V when versioned)
  --batch ID [--decision D]      every result of a batch (the first folder under uploads/),
                                 optionally only one decision or state
  --decision D --from DATE --to DATE
                                 every result with decision D decided in the range; DATE is a UTC day
                                 (both ends inclusive) or an ISO instant (--to exclusive)
  --reference REF                the selfie a vendor transactionReference was sent for, with its history
  --subject ID                   every decided check of one applicant (S3 metadata subject-id), newest
                                 first (index bySubject)

  D is one of ${DECISIONS.join(', ')} (with --batch also ${IN_FLIGHT_STATES.join(', ')}).

Output:
  --format F                     table (default), json or csv
  --out FILE                     write to FILE instead of standard output

  Lists are written page by page as they are read, so exports of any size run in constant memory.
  CSV is RFC 4180 with CRLF line ends; a text cell starting with = + - @ gets a leading ' so a
  spreadsheet does not run it. Column order of a list (--batch, --decision):
    ${RESULT_CSV_COLUMNS.join(',')}
  Column order of one selfie (--selfie, --bucket/--key, --reference): one RESULT row, then its
  ATTEMPT and HISTORY rows in time order:
    ${SELFIE_CSV_COLUMNS.join(',')}
  JSON: one document; a list is {"query":…, "results":[…], "count":N}, a selfie is
  {"selfieId", "result", "attempts", "history"}.

${targetHelp('table')}

Examples:
  liveness-batch audit --batch kyc-2026-11-26 --decision REVIEW
  liveness-batch audit --decision FAILED --from 2026-11-01 --to 2026-11-30 --format csv --out failed.csv
  liveness-batch audit --reference lb-3f2a9c1d0b7e4a5f6c8d9e01-1 --stack LivenessBatch --region eu-west-1`;

const stateOrDecision = z.enum([...DECISIONS, ...IN_FLIGHT_STATES], {
  error: `--decision must be one of ${[...DECISIONS, ...IN_FLIGHT_STATES].join(', ')}`,
});

const flagsSchema = z.object({
  selfie: z.string().min(1).optional(),
  bucket: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  'version-id': z.string().min(1).optional(),
  batch: z.string().min(1).optional(),
  decision: stateOrDecision.optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  reference: z.string().min(1).optional(),
  subject: z.string().min(1).optional(),
  format: z.enum(AUDIT_FORMATS, { error: '--format must be table, json or csv' }).default('table'),
  out: z.string().min(1).optional(),
});

type AuditQuery =
  | { kind: 'selfie'; selfieId: string }
  | { kind: 'batch'; batchId: string; state?: string }
  | { kind: 'decision'; decision: (typeof DECISIONS)[number]; from: string; to: string }
  | { kind: 'reference'; reference: string }
  | { kind: 'subject'; subjectId: string };

function queryOf(flags: z.infer<typeof flagsSchema>): AuditQuery {
  const asked = [
    flags.selfie && '--selfie',
    (flags.bucket || flags.key) && '--bucket/--key',
    flags.batch && '--batch',
    flags.reference && '--reference',
    flags.subject && '--subject',
    (flags.from || flags.to) && '--from/--to',
  ].filter(Boolean);
  if (asked.length > 1) throw new UsageError(`Ask one question at a time (got ${asked.join(' and ')})`);
  if (flags.selfie) return { kind: 'selfie', selfieId: flags.selfie };
  if (flags.bucket || flags.key) {
    if (!flags.bucket || !flags.key) throw new UsageError('--bucket and --key go together');
    return {
      kind: 'selfie',
      selfieId: selfieIdOf({
        bucket: flags.bucket,
        key: flags.key,
        ...(flags['version-id'] ? { versionId: flags['version-id'] } : {}),
      }),
    };
  }
  if (flags.batch)
    return { kind: 'batch', batchId: flags.batch, ...(flags.decision ? { state: flags.decision } : {}) };
  if (flags.reference) return { kind: 'reference', reference: flags.reference };
  if (flags.subject) return { kind: 'subject', subjectId: flags.subject };
  if (flags.decision) {
    if (!flags.from || !flags.to) {
      throw new UsageError('--decision needs --batch ID, or a date range: --from DATE --to DATE');
    }
    if (!(DECISIONS as readonly string[]).includes(flags.decision)) {
      throw new UsageError(
        `A date range lists decided results: --decision must be one of ${DECISIONS.join(', ')}`,
      );
    }
    const range = parseDecisionRange(flags.from, flags.to);
    if (typeof range === 'string') throw new UsageError(range);
    return { kind: 'decision', decision: flags.decision as (typeof DECISIONS)[number], ...range };
  }
  if (flags.from || flags.to) throw new UsageError('--from/--to go with --decision D');
  throw new UsageError(
    'Say what to audit: --selfie, --bucket/--key, --batch, --decision with --from/--to, --reference or --subject',
  );
}

export async function runAudit(argv: string[], io: OpsIo = processIo()): Promise<number> {
  const { values } = parseOpsArgs(argv, {
    selfie: { type: 'string' },
    bucket: { type: 'string' },
    key: { type: 'string' },
    'version-id': { type: 'string' },
    batch: { type: 'string' },
    decision: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    reference: { type: 'string' },
    subject: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
  });
  if (values.help) return printHelp(io, HELP);
  const flags = parseFlags(flagsSchema, values);
  const query = queryOf(flags);

  const target = await openTarget(values, 'table', io.deps);
  const output = openOutput(flags.out, io);
  try {
    const queries = new AuditQueries(target.db, target.tableName);
    switch (query.kind) {
      case 'selfie': {
        const audit = await queries.selfie(query.selfieId);
        if (!audit.result && audit.attempts.length === 0 && audit.history.length === 0) {
          io.stderr.write(`No record of ${query.selfieId} in ${target.description}\n`);
          return 1;
        }
        await writeSelfieAudit(audit, flags.format, output.stream);
        return 0;
      }
      case 'reference': {
        const attempts = await queries.attemptsByReference(query.reference);
        if (attempts.length === 0) {
          io.stderr.write(`No vendor call with reference ${query.reference} in ${target.description}\n`);
          return 1;
        }
        const selfieIds = [...new Set(attempts.map((a) => a.selfieId))];
        for (const selfieId of selfieIds) {
          await writeSelfieAudit(await queries.selfie(selfieId), flags.format, output.stream, {
            reference: query.reference,
          });
        }
        return 0;
      }
      case 'batch': {
        const summary = await queries.batchSummary(query.batchId);
        const counts = summary
          ? `total ${summary.total}: ${['VERIFIED', 'NOT_VERIFIED', 'REVIEW', 'REJECTED', 'FAILED', 'HELD']
              .map((d) => `${d} ${summary[d as 'VERIFIED'] ?? 0}`)
              .join(
                ', ',
              )}; paid calls ${summary.paidCalls}, uncertain calls ${summary.uncertainCalls}, retries ${summary.retries}; ${reviewText(summary)}`
          : 'no batch summary recorded';
        await writeResultList(queries.batchPages(query.batchId, query.state), flags.format, output.stream, {
          query: { batchId: query.batchId, decision: query.state },
          notes: [`Batch counts: ${counts}`],
          extra: { summary: summary ?? null },
        });
        return 0;
      }
      case 'decision': {
        const { decision, from, to } = query;
        await writeResultList(queries.decisionPages(decision, { from, to }), flags.format, output.stream, {
          query: { decision, from, to },
        });
        return 0;
      }
      case 'subject': {
        await writeResultList(queries.subjectPages(query.subjectId), flags.format, output.stream, {
          query: { subjectId: query.subjectId },
        });
        return 0;
      }
    }
  } finally {
    await output.close();
    await target.close();
  }
}

function reviewText(summary: Record<string, unknown>): string {
  const { reviewed, awaiting } = reviewCounts(summary);
  return `reviewed ${reviewed}, awaiting review ${awaiting}`;
}

export const auditCommand: Command = {
  name: 'audit',
  summary: 'Audit queries: one selfie with its attempts, a batch, a decision over dates, a vendor reference',
  run: (argv) => runAudit(argv),
};
