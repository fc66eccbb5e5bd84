import { type RedrivenMessage, redriveDeadLetters } from '../shared/operations/redrive.ts';
import { OperatorHistory } from '../shared/operations/selfie-history.ts';
import type { Command } from './command.ts';
import { type OpsIo, parseOpsArgs, printHelp, processIo } from './ops/io.ts';
import { openTarget, targetHelp } from './ops/target.ts';

const HELP = `Usage: liveness-batch redrive [--dry-run] [where]

Moves every message of the dead-letter queue back to the work queue, bodies and attributes unchanged,
and prints how many it moved. A selfie in the DLQ was recorded FAILED on its last delivery, and FAILED
is final: before each message is moved its result is reopened (FAILED -> RECEIVED, the batch's FAILED
count -1, a REDRIVE item in the selfie's audit history), so the worker verifies it again. Attempts
already made are kept: new vendor calls continue the reference numbering, none is resent.
Fix the cause first (credentials, vendor outage): a message that fails again returns to the DLQ.

This is an explicit loop (ReceiveMessage, SendMessage, DeleteMessage) rather than SQS's
StartMessageMoveTask, which moves messages without reopening their results.

Options:
  --dry-run                list the messages and what would happen to each; move and reopen nothing
  --help, -h               this text

${targetHelp('queues')}`;

const what: Record<RedrivenMessage['result'], [string, string]> = {
  reopened: ['FAILED result reopened', 'FAILED result would be reopened'],
  'already-open': ['result already open (an earlier redrive)', 'result already open'],
  decided: ['result has another decision; the worker will skip it', 'result has another decision'],
  'no-record': ['no result; the worker will record it', 'no result recorded'],
  unreadable: ['not a work message; moved as it is', 'not a work message'],
};

export async function runRedrive(argv: string[], io: OpsIo = processIo()): Promise<number> {
  const { values } = parseOpsArgs(argv, { 'dry-run': { type: 'boolean' } });
  if (values.help) return printHelp(io, HELP);
  const dryRun = values['dry-run'] === true;
  const target = await openTarget(values, 'queues', io.deps);
  try {
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
  summary: 'Move DLQ messages back to the work queue, reopening their FAILED results (--dry-run lists)',
  run: (argv) => runRedrive(argv),
};
