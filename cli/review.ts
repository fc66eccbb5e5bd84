import { userInfo } from 'node:os';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { z } from 'zod';
import { outcomeRules } from '../infra/event-rules.ts';
import { jsonlArchive, LocalEventBus, sqsTarget } from '../local-cloud/event-bus.ts';
import { DEFAULT_STATE_DIR, readLiveHost, statePaths } from '../local-cloud/state-dir.ts';
import type { ReviewableDecision } from '../operations/review/verdicts.ts';
import { readStackOutputs } from '../operations/stack-outputs.ts';
import { parseDuration } from '../operations/time-input.ts';
import { createEventBridgeClient } from '../shared/aws-clients.ts';
import { EventBridgePublisher, type EventPublisher } from '../shared/events/publisher.ts';
import { type Command, UsageError } from '../toolkit/command.ts';
import { untilInterrupted } from '../toolkit/signals.ts';
import { type OpsIo, parseFlags, parseOpsArgs, printHelp, processIo } from './ops/io.ts';
import { openTarget } from './ops/target.ts';
import { type RunningReviewServer, startReviewServer } from './review/server.ts';

const HELP = `Usage: liveness-batch review [--batch ID] [--include-not-verified] [--include-failed]
                             [--since 30d] [--reviewer NAME] [where]

Starts a reviewer's web page on 127.0.0.1 at a random port and prints its URL, which carries a
one-time token (it opens nothing by itself; open the URL in your browser). The page lists the
selfies awaiting review (decision REVIEW, optionally NOT_VERIFIED and FAILED), oldest first, each
with its image (streamed from the bucket through this server, never written to disk), both
scores, the vendor status, the reason, the vendor calls and the subject and correlation IDs.

Approve or decline each one (a note is required to decline); keys: j/↓ next, k/↑ previous,
a approve, d decline (type the note, then Enter). Each verdict is one conditional write: the result
gains a review record (never twice: a second reviewer is told who was first), a history item keeps
who and when, the batch summary counts it, and a "Selfie Review Outcome" event goes on the bus (the
webhook receives it). The pipeline's decision and its vendor attempts stay as they were.

Options:
  --batch ID               only this batch (the page's filter can change it)
  --include-not-verified   list NOT_VERIFIED selfies too
  --include-failed         list FAILED selfies too
  --since D                without --batch: selfies decided in the last D (default 30d; e.g. 7d, 12h)
  --reviewer NAME          who you are (default: your OS user name). On a stack the verdict records
                           the caller's IAM ARN from STS GetCallerIdentity, with NAME beside it
  --help, -h               this text

Where (default: the local cloud of --state-dir):
  --state-dir DIR          the local cloud's state folder (default ${DEFAULT_STATE_DIR}); needs a running
                           \`liveness-batch up\` (the local bucket lives in its memory)
  --stack NAME             a deployed stack, with your own AWS credentials: they need to read the
                           table and the bucket, write the table and put events on the bus (the
                           stack grants nothing to this command)
  --region R               the stack's region

Stop with Ctrl-C.`;

const flagsSchema = z.object({
  batch: z.string().trim().min(1).optional(),
  'include-not-verified': z.boolean().optional(),
  'include-failed': z.boolean().optional(),
  since: z
    .string()
    .default('30d')
    .transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: '--since must be a duration such as 30d, 12h or 2w' });
        return z.NEVER;
      }
      return ms;
    }),
  reviewer: z.string().trim().min(1).max(200).optional(),
});

export interface ReviewDeps {
  /** Tests: called with the running server instead of waiting for Ctrl-C. */
  onStarted?: (server: RunningReviewServer) => Promise<void>;
}

export async function runReview(
  argv: string[],
  io: OpsIo = processIo(),
  deps: ReviewDeps = {},
): Promise<number> {
  const { values } = parseOpsArgs(argv, {
    batch: { type: 'string' },
    'include-not-verified': { type: 'boolean' },
    'include-failed': { type: 'boolean' },
    since: { type: 'string' },
    reviewer: { type: 'string' },
  });
  if (values.help) return printHelp(io, HELP);
  const flags = parseFlags(flagsSchema, values);
  const decisions: ReviewableDecision[] = [
    'REVIEW',
    ...(flags['include-not-verified'] ? (['NOT_VERIFIED'] as const) : []),
    ...(flags['include-failed'] ? (['FAILED'] as const) : []),
  ];
  const target = await openTarget(values, 'bucket', io.deps);
  const closers: Array<() => unknown> = [() => target.close()];
  try {
    if (!target.s3 || !target.bucket) throw new UsageError('review needs the selfie bucket');
    let publisher: EventPublisher;
    let eventBusName: string;
    let reviewer: string;
    const named = flags.reviewer ?? userInfo().username;
    if (target.kind === 'local') {
      const paths = statePaths(
        typeof values['state-dir'] === 'string' ? values['state-dir'] : DEFAULT_STATE_DIR,
      );
      const host = readLiveHost(paths);
      if (!host || !target.sqs)
        throw new Error(`No local cloud is running on ${paths.root}: start \`liveness-batch up\``);
      // The same rules and targets as the host's bus, and the same archive file (one line per event).
      publisher = new LocalEventBus({
        rules: outcomeRules,
        targets: {
          reviewQueue: sqsTarget(target.sqs, host.queues.review),
          opsQueue: sqsTarget(target.sqs, host.queues.ops),
        },
        archive: jsonlArchive(paths.events),
        region: host.region,
      });
      eventBusName = 'liveness-batch';
      reviewer = named;
    } else {
      const region = typeof values.region === 'string' ? values.region : undefined;
      const cfn = io.deps?.cloudFormation?.(region) ?? new CloudFormationClient(region ? { region } : {});
      const outputs = await readStackOutputs(cfn, String(values.stack));
      if (typeof outputs.EventBusName !== 'string')
        throw new Error(`Stack ${values.stack} has no EventBusName output`);
      eventBusName = outputs.EventBusName;
      const events = createEventBridgeClient(region ? { region } : {});
      closers.push(() => events.destroy());
      publisher = new EventBridgePublisher(events);
      const sts = new STSClient(region ? { region } : {});
      closers.push(() => sts.destroy());
      const identity = await sts.send(new GetCallerIdentityCommand({}));
      if (!identity.Arn) throw new Error('STS GetCallerIdentity returned no ARN; check your AWS credentials');
      // The ARN is who AWS says you are; a chosen name can only sit beside it.
      reviewer = flags.reviewer ? `${identity.Arn} (${flags.reviewer})` : identity.Arn;
    }
    const server = await startReviewServer({
      db: target.db,
      tableName: target.tableName,
      s3: target.s3,
      bucket: target.bucket,
      publisher,
      eventBusName,
      reviewer,
      where: target.description,
      decisions,
      ...(flags.batch ? { batchId: flags.batch } : {}),
      sinceMs: flags.since,
      log: (line) => io.stderr.write(`${line}\n`),
    });
    closers.unshift(() => server.close());
    io.stdout.write(
      `Review page for ${reviewer} on ${target.description}:\n  ${server.url}\nOpen it in your browser; the token in the URL is this session's only key. Ctrl-C stops the server.\n`,
    );
    if (deps.onStarted) await deps.onStarted(server);
    else await untilInterrupted();
    return 0;
  } finally {
    for (const close of closers) await close();
  }
}

export const reviewCommand: Command = {
  name: 'review',
  summary:
    "A reviewer's web page for REVIEW selfies on 127.0.0.1: approve or decline, one conditional write each",
  run: (argv) => runReview(argv),
};
