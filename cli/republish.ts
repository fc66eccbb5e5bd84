import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { outcomeRules } from '../infra/event-rules.ts';
import { jsonlArchive, LocalEventBus, sqsTarget } from '../local-cloud/event-bus.ts';
import { DEFAULT_STATE_DIR, type HostEndpoints, readLiveHost, statePaths } from '../local-cloud/state-dir.ts';
import { LocalUploadRetention } from '../local-cloud/upload-retention.ts';
import { AuditQueries } from '../operations/audit-queries.ts';
import {
  type RepublishedOutcome,
  replayPublishFailures,
  republishOutcomes,
  type StreamReader,
} from '../operations/republish.ts';
import { readStackOutputs } from '../operations/stack-outputs.ts';
import { createEventBridgeClient, createS3Client } from '../shared/aws-clients.ts';
import type { EventEnvelope } from '../shared/events/envelope.ts';
import { EventBridgePublisher, type EventPublisher } from '../shared/events/publisher.ts';
import { SelfieLifecycle } from '../shared/results/selfie-lifecycle.ts';
import { type Command, UsageError } from '../toolkit/command.ts';
import { type OpsIo, parseFlags, parseOpsArgs, printHelp, processIo } from './ops/io.ts';
import { type OpsTarget, openTarget, targetHelp } from './ops/target.ts';

const HELP = `Usage: liveness-batch republish (--batch B | --selfie ID ...) [--dry-run] [where]
       liveness-batch republish --from-failures --stack NAME [--region R] [--dry-run]

Publishes the outcome events of decided selfies again, built from the results table exactly as the
pipeline built them: the same detail, with the same detail.eventId (hex SHA-256 of
"<selfieId>\\n<decidedAt>"). EventBridge gives every PutEvents a new envelope id, so consumers
deduplicate by detail.eventId: a copy of an outcome they already have is dropped, a lost one arrives.
Use it when a consumer missed outcomes (a publish that kept failing, a target that was down, the
PublishFailureQueue alarm). Selfies not decided yet are listed and skipped.

Locally, events go onto the running host's event bus (its rules, review and ops queues, and the
archive in the state folder, which keeps one event per selfie and decision). On a stack, they go to
the stack's bus (output EventBusName) with PutEvents, under your AWS credentials (events:PutEvents).

--from-failures (a stack only): the publish function's on-failure queue (output
PublishFailureQueueUrl) holds pointers into the table's stream, not events. Each pointer's stretch of
the stream is read (dynamodb:GetShardIterator, GetRecords), its decided selfies are republished from
the table, and the message is deleted once all were accepted. The stream keeps records 24 hours: an
older pointer is reported with its time window and kept; republish those batches with --batch, then
delete it. The local cloud has no such queue: its stream poller logs what it skips.

Options:
  --batch B                every decided selfie of batch B (index byBatch)
  --selfie ID              one selfie (repeat for more)
  --from-failures          the selfies the publish failure queue points at (--stack only)
  --dry-run                list the outcomes and their event ids; publish nothing
  --help, -h               this text

${targetHelp('queues')}`;

const flagsSchema = z
  .object({
    batch: z.string().trim().min(1, '--batch must name a batch').optional(),
    selfie: z.array(z.string().trim().min(1, '--selfie must name a selfie id')).optional(),
    'from-failures': z.boolean().optional(),
  })
  .refine((f) => [f.batch, f.selfie, f['from-failures']].filter((x) => x !== undefined).length === 1, {
    message: 'Say what to republish: --batch B, --selfie ID or --from-failures (one of them)',
  });

/** Where republished events go; tests replace the stack's EventBridge client (no EventBridge emulator here). */
export interface RepublishIo extends OpsIo {
  eventBridge?: (region: string | undefined) => EventPublisher;
  streams?: (region: string | undefined) => StreamReader;
  /** The client that reads the publish failure queue (default: the target's). */
  sqs?: (region: string | undefined) => SQSClient;
}

const said: Record<RepublishedOutcome['result'], [string, string]> = {
  published: ['published', 'would be published'],
  failed: ['NOT published', 'NOT published'],
  undecided: ['not decided yet; nothing to publish', 'not decided yet; nothing to publish'],
  missing: ['no result recorded', 'no result recorded'],
};

export async function runRepublish(argv: string[], io: RepublishIo = processIo()): Promise<number> {
  const { values } = parseOpsArgs(argv, {
    batch: { type: 'string' },
    selfie: { type: 'string', multiple: true },
    'from-failures': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
  } as const);
  if (values.help) return printHelp(io, HELP);
  const flags = parseFlags(flagsSchema, values);
  if (values.table) {
    throw new UsageError(
      'republish needs the event bus too: pass --stack NAME (or use a running local `up`)',
    );
  }
  const dryRun = values['dry-run'] === true;
  if (flags['from-failures'] && !values.stack) {
    throw new UsageError(
      "--from-failures reads the stack's publish failure queue: pass --stack NAME (the local cloud has none)",
    );
  }
  const target = await openTarget(values, 'queues', io.deps);
  try {
    if (flags['from-failures']) return await replayFromFailures(values, target, dryRun, io);
    const destination = values.stack
      ? await stackBus(values.stack as string, values.region as string | undefined, io)
      : localBus(target, (values['state-dir'] as string | undefined) ?? DEFAULT_STATE_DIR);
    io.stdout.write(
      `${dryRun ? 'Dry run: listing' : 'Republishing'} outcomes of ${
        flags.batch ? `batch ${flags.batch}` : `${flags.selfie?.length} selfie(s)`
      } onto ${destination.description}\n`,
    );
    const summary = await republishOutcomes({
      queries: new AuditQueries(target.db, target.tableName),
      publisher: destination.publisher,
      eventBusName: destination.eventBusName,
      select: flags.batch ? { batchId: flags.batch } : { selfieIds: flags.selfie ?? [] },
      dryRun,
      onOutcome: (o) =>
        io.stdout.write(
          `  ${o.selfieId}: ${o.decision ? `${o.decision} ` : ''}${said[o.result][dryRun ? 1 : 0]}${
            o.eventId ? ` (eventId ${o.eventId})` : ''
          }${o.error ? ` - ${o.error}` : ''}\n`,
        ),
    });
    if (dryRun) {
      io.stdout.write(
        `${summary.outcomes.filter((o) => o.eventId).length} outcome(s); nothing published (dry run)\n`,
      );
      return 0;
    }
    io.stdout.write(
      `Published ${summary.published} outcome event(s)${summary.failed ? `, ${summary.failed} failed` : ''}\n`,
    );
    if (summary.failed > 0) {
      io.stderr.write(
        'Some events were refused (see above): fix the cause (permissions, throttling), then run again.\n',
      );
      return 1;
    }
    return 0;
  } finally {
    await target.close();
  }
}

async function replayFromFailures(
  values: Record<string, unknown>,
  target: OpsTarget,
  dryRun: boolean,
  io: RepublishIo,
): Promise<number> {
  const stack = values.stack as string;
  const region = values.region as string | undefined;
  const cfn = io.deps?.cloudFormation?.(region) ?? new CloudFormationClient(region ? { region } : {});
  const queueUrl = (await readStackOutputs(cfn, stack)).PublishFailureQueueUrl;
  if (typeof queueUrl !== 'string' || queueUrl === '') {
    throw new Error(`Stack ${stack} has no PublishFailureQueueUrl output; is it a liveness-batch stack?`);
  }
  const destination = await stackBus(stack, region, io);
  const queries = new AuditQueries(target.db, target.tableName);
  io.stdout.write(
    `${dryRun ? 'Dry run: reading' : 'Replaying'} the publish failure queue of stack ${stack} onto ${destination.description}\n`,
  );
  const pointers = await replayPublishFailures({
    sqs: io.sqs?.(region) ?? (target.sqs as SQSClient),
    publishFailureQueueUrl: queueUrl,
    streams: io.streams?.(region) ?? new DynamoDBStreamsClient(region ? { region } : {}),
    dryRun,
    republish: (selfieIds) =>
      republishOutcomes({
        queries,
        publisher: destination.publisher,
        eventBusName: destination.eventBusName,
        select: { selfieIds },
        dryRun: false,
      }),
    onPointer: (p) =>
      io.stdout.write(
        `  message ${p.messageId}: ${
          p.result === 'replayed'
            ? `${p.selfieIds.length} outcome(s) ${dryRun ? 'would be republished' : 'republished; message deleted'}`
            : `${p.result}, kept${p.detail ? ` (${p.detail})` : ''}`
        }${p.selfieIds.length ? `: ${p.selfieIds.join(', ')}` : ''}\n`,
      ),
  });
  const kept = pointers.filter((p) => p.result !== 'replayed').length;
  io.stdout.write(
    `${pointers.length} pointer(s) read; ${dryRun ? 'nothing published (dry run)' : `${pointers.length - kept} replayed, ${kept} kept`}\n`,
  );
  return kept > 0 && !dryRun ? 1 : 0;
}

interface Destination {
  publisher: EventPublisher;
  eventBusName: string;
  description: string;
}

async function stackBus(stack: string, region: string | undefined, io: RepublishIo): Promise<Destination> {
  const cfn = io.deps?.cloudFormation?.(region) ?? new CloudFormationClient(region ? { region } : {});
  const outputs = await readStackOutputs(cfn, stack);
  const eventBusName = outputs.EventBusName;
  if (typeof eventBusName !== 'string' || eventBusName === '') {
    throw new Error(`Stack ${stack} has no EventBusName output; is it a liveness-batch stack?`);
  }
  return {
    publisher:
      io.eventBridge?.(region) ?? new EventBridgePublisher(createEventBridgeClient(region ? { region } : {})),
    eventBusName,
    description: `the event bus ${eventBusName} of stack ${stack}`,
  };
}

/**
 * The running host's bus as local-cloud/host.ts wires it: the shipped rules, its review and ops
 * queues, the state folder's archive (which drops an outcome it already holds) and the local upload
 * retention. The host's bus object lives in the host's memory, so this process builds the same
 * wiring over the host's emulators: what consumers see is the same.
 */
function localBus(target: OpsTarget, stateDir: string): Destination {
  const paths = statePaths(stateDir);
  const host = readLiveHost(paths) as HostEndpoints;
  const sqs = target.sqs as SQSClient;
  const s3 = target.s3 ?? createS3Client();
  const archive = jsonlArchive(paths.events);
  // No budget here: the host's own retention bounds its bucket; this process sees only the outcomes
  // it republishes, so an account of its own would drop images the host's does not count.
  const retention = new LocalUploadRetention(
    s3,
    host.bucket,
    new SelfieLifecycle(target.db, target.tableName),
    {
      reviewImageBudgetBytes: Number.POSITIVE_INFINITY,
    },
  );
  const bus = new LocalEventBus({
    rules: outcomeRules,
    targets: { reviewQueue: sqsTarget(sqs, host.queues.review), opsQueue: sqsTarget(sqs, host.queues.ops) },
    archive: async (envelope: EventEnvelope) => {
      await archive(envelope);
      await retention.onOutcome(envelope);
    },
    region: host.region,
  });
  return { publisher: bus, eventBusName: 'liveness-batch', description: `${target.description}'s event bus` };
}

export const republishCommand: Command = {
  name: 'republish',
  summary:
    'Publish outcome events again from the results table (--batch, --selfie, --from-failures), with stable event ids',
  run: (argv) => runRepublish(argv),
};
