import { z } from 'zod';
import { AuditQueries, type DecisionRange } from '../operations/audit-queries.ts';
import {
  type RedrivenMessage,
  type RedrivenResult,
  redriveDeadLetters,
  redriveFailedResults,
} from '../operations/redrive.ts';
import { OperatorHistory } from '../operations/selfie-history.ts';
import { parseDecisionRange } from '../operations/time-input.ts';
import { pipelineSettings } from '../shared/settings.ts';
import { type Command, UsageError } from '../toolkit/command.ts';
import { type OpsIo, parseFlags, parseOpsArgs, printHelp, processIo } from './ops/io.ts';
import { type OpsTarget, openTarget, targetHelp } from './ops/target.ts';

const DLQ_RETENTION_DAYS = pipelineSettings.deadLetterQueue.retentionDays;

const HELP = `Usage: liveness-batch redrive [--dry-run] [where]
       liveness-batch redrive --failed [--batch B | --from DATE --to DATE] [--dry-run] [where]

Without --failed: moves every message of the dead-letter queue back to the work queue, bodies and attributes unchanged,
and prints how many it moved. A selfie in the DLQ was recorded FAILED on its last delivery, and FAILED
is final: before each message is moved its result is reopened (FAILED -> RECEIVED, the batch's FAILED
count -1, a REDRIVE item in the selfie's audit history), so the worker verifies it again. Attempts
already made are kept: new vendor calls continue the reference numbering, none is resent.
Fix the cause first (credentials, vendor outage): a message that fails again returns to the DLQ.

This is an explicit loop (ReceiveMessage, SendMessage, DeleteMessage) rather than SQS's
StartMessageMoveTask, which moves messages without reopening their results.

With --failed: finds FAILED results in the results table, reopens each the same way and sends the
work queue a message rebuilt from the result (selfieId, bucket, key, versionId, batchId, receivedAt),
whether or not a DLQ message is left for it. --batch B reads the batch's FAILED results (index
byBatch) and also sends again results an earlier, interrupted redrive reopened; otherwise FAILED
decisions are read per day over --from/--to (index byDecisionDate, default: the last
${DLQ_RETENTION_DAYS} days, the DLQ's retention). Never a scan.

Options:
  --failed                 redrive FAILED results from the table instead of the DLQ
  --batch B                with --failed: only batch B
  --from DATE, --to DATE   with --failed: decided in this range; DATE is a UTC day (both inclusive)
                           or an ISO instant ([from, to)); default the last ${DLQ_RETENTION_DAYS} days
  --dry-run                list what would happen to each; move, reopen and send nothing
  --help, -h               this text

${targetHelp('queues')}`;

const what: Record<RedrivenMessage['result'], [string, string]> = {
  reopened: ['FAILED result reopened', 'FAILED result would be reopened'],
  'already-open': ['result already open (an earlier redrive)', 'result already open'],
  decided: ['result has another decision; the worker will skip it', 'result has another decision'],
  'no-record': ['no result; the worker will record it', 'no result recorded'],
  unreadable: ['not a work message; moved as it is', 'not a work message'],
};

const failedFlagsSchema = z.object({
  batch: z.string().trim().min(1, '--batch must name a batch').optional(),
  from: z.string().optional(),
  to: z.string().optional(),
});

/** What `redrive --failed` reads: one batch, or a decision-date range (default: the DLQ's retention). */
function failedSelection(values: Record<string, unknown>, now: Date) {
  const flags = parseFlags(failedFlagsSchema, values);
  if (flags.batch) {
    if (flags.from || flags.to) throw new UsageError('--batch B and --from/--to exclude each other');
    return { batchId: flags.batch };
  }
  if ((flags.from === undefined) !== (flags.to === undefined)) {
    throw new UsageError(
      `Give both --from DATE and --to DATE, or neither (the last ${DLQ_RETENTION_DAYS} days)`,
    );
  }
  const range: DecisionRange | string = flags.from
    ? parseDecisionRange(flags.from, flags.to as string)
    : {
        from: new Date(now.getTime() - DLQ_RETENTION_DAYS * 86_400_000).toISOString(),
        to: new Date(now.getTime() + 1).toISOString(),
      };
  if (typeof range === 'string') throw new UsageError(range);
  return { range };
}

const failedWhat: Record<RedrivenResult['result'], [string, string]> = {
  reopened: ['reopened and queued', 'would be reopened and queued'],
  requeued: ['reopened earlier; queued again', 'reopened earlier; would be queued again'],
  changed: ['no longer FAILED; left alone', 'no longer FAILED'],
};

async function runFailedRedrive(
  values: Record<string, unknown>,
  target: OpsTarget,
  dryRun: boolean,
  io: OpsIo,
): Promise<number> {
  const select = failedSelection(values, new Date());
  if (!target.sqs || !target.workQueueUrl) throw new Error('No work queue for this target');
  io.stdout.write(
    `${dryRun ? 'Dry run: listing' : 'Redriving'} FAILED results ${
      'batchId' in select
        ? `of batch ${select.batchId}`
        : `decided from ${select.range.from} to ${select.range.to}`
    } (${target.description})\n`,
  );
  const summary = await redriveFailedResults({
    sqs: target.sqs,
    workQueueUrl: target.workQueueUrl,
    queries: new AuditQueries(target.db, target.tableName),
    history: new OperatorHistory(target.db, target.tableName),
    select,
    dryRun,
    onResult: (r) =>
      io.stdout.write(
        `  ${r.selfieId}: ${failedWhat[r.result][dryRun ? 1 : 0]}${r.reason ? ` (was ${r.reason})` : ''}\n`,
      ),
  });
  io.stdout.write(
    dryRun
      ? `${summary.results.length} result(s) found; nothing reopened or queued (dry run)\n`
      : `Queued ${summary.queued} selfie(s) for the worker\n`,
  );
  return 0;
}

export async function runRedrive(argv: string[], io: OpsIo = processIo()): Promise<number> {
  const { values } = parseOpsArgs(argv, {
    'dry-run': { type: 'boolean' },
    failed: { type: 'boolean' },
    batch: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
  });
  if (values.help) return printHelp(io, HELP);
  const dryRun = values['dry-run'] === true;
  if (!values.failed && (values.batch || values.from || values.to)) {
    throw new UsageError('--batch, --from and --to go with --failed (the DLQ redrive moves every message)');
  }
  if (values.failed) failedSelection(values, new Date());
  const target = await openTarget(values, 'queues', io.deps);
  try {
    if (values.failed) return await runFailedRedrive(values, target, dryRun, io);
    if (!target.sqs || !target.workQueueUrl || !target.dlqUrl) throw new Error('No queues for this target');
    io.stdout.write(`${dryRun ? 'Dry run: listing' : 'Redriving'} the DLQ of ${target.description}\n`);
    const summary = await redriveDeadLetters({
      sqs: target.sqs,
      deadLetterQueueUrl: target.dlqUrl,
      workQueueUrl: target.workQueueUrl,
      history: new OperatorHistory(target.db, target.tableName),
      dryRun,
      onMessage: (m) =>
        io.stdout.write(`  ${m.selfieId ?? `message ${m.messageId}`}: ${what[m.result][dryRun ? 1 : 0]}\n`),
    });
    io.stdout.write(
      dryRun
        ? `${summary.messages.length} message(s) in the DLQ; nothing moved (dry run)\n`
        : `Moved ${summary.moved} message(s) to the work queue\n`,
    );
    return 0;
  } finally {
    await target.close();
  }
}

export const redriveCommand: Command = {
  name: 'redrive',
  summary:
    'Move DLQ messages back to the work queue, or (--failed) re-queue FAILED results; reopens them (--dry-run lists)',
  run: (argv) => runRedrive(argv),
};
