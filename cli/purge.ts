import { z } from 'zod';
import { purgeExpiredSelfies } from '../operations/purge.ts';
import { OperatorHistory } from '../operations/selfie-history.ts';
import { parseDuration } from '../operations/time-input.ts';
import { pipelineSettings } from '../shared/settings.ts';
import { type Command, UsageError } from '../toolkit/command.ts';
import { type OpsIo, parseFlags, parseOpsArgs, printHelp, processIo } from './ops/io.ts';
import { openTarget, targetHelp } from './ops/target.ts';

const HELP = `Usage: liveness-batch purge --older-than DURATION [--dry-run] [where]

Deletes the selfie objects under the upload prefix (${pipelineSettings.uploadPrefix}) last modified before now minus
DURATION (on a versioned bucket, every such version), and records each deletion in the selfie's audit
history (a PURGED item with bucket, key, versionId and lastModified; see \`audit --selfie\`).
Results are never deleted: the results table is the audit record and outlives the biometric data.
On AWS the bucket's lifecycle rule expires uploads after selfieRetentionDays
(${pipelineSettings.selfieRetentionDays}) by itself; purge is for the local cloud, for a shorter retention
decided later, and for a record of each deletion.

Options:
  --older-than DURATION    e.g. 30d, 12h, 90m, 45s, 2w (required)
  --dry-run                list what would be deleted; delete and record nothing
  --help, -h               this text

${targetHelp('bucket')}`;

export async function runPurge(argv: string[], io: OpsIo = processIo()): Promise<number> {
  const { values } = parseOpsArgs(argv, { 'older-than': { type: 'string' }, 'dry-run': { type: 'boolean' } });
  if (values.help) return printHelp(io, HELP);
  const olderThan = parseFlags(
    z.string({ error: '--older-than DURATION is required, e.g. --older-than 30d' }),
    values['older-than'],
  );
  const olderThanMs = parseDuration(olderThan);
  if (olderThanMs === undefined) {
    throw new UsageError(
      `--older-than must be a positive duration like 30d, 12h, 90m or 45s (got "${olderThan}")`,
    );
  }
  const dryRun = values['dry-run'] === true;
  const target = await openTarget(values, 'bucket', io.deps);
  try {
    if (!target.s3 || !target.bucket) throw new Error('No bucket for this target');
    io.stdout.write(
      `${dryRun ? 'Dry run: listing' : 'Purging'} objects under s3://${target.bucket}/${target.uploadPrefix} older than ${olderThan} (${target.description})\n`,
    );
    const summary = await purgeExpiredSelfies({
      s3: target.s3,
      bucket: target.bucket,
      prefix: target.uploadPrefix,
      olderThanMs,
      history: new OperatorHistory(target.db, target.tableName),
      dryRun,
      ...(io.now ? { now: io.now } : {}),
      onPurged: (o) =>
        io.stdout.write(
          `  ${o.key}${o.versionId ? ` (version ${o.versionId})` : ''}  last modified ${o.lastModified}\n`,
        ),
    });
    io.stdout.write(
      `${dryRun ? 'Would delete' : 'Deleted'} ${summary.purged} of ${summary.examined} object(s) (${summary.bytes} bytes) last modified before ${summary.cutoff}${dryRun ? '; nothing deleted (dry run)' : '; each deletion recorded in its selfie history'}\n`,
    );
    return 0;
  } finally {
    await target.close();
  }
}

export const purgeCommand: Command = {
  name: 'purge',
  summary:
    'Delete uploaded selfies past retention (--older-than 30d), recording each deletion; never results',
  run: (argv) => runPurge(argv),
};
