import { join } from 'node:path';
import type { LocalCloud } from '../local-cloud/host.ts';
import { statePaths } from '../local-cloud/state-dir.ts';
import { type Command, UsageError } from '../toolkit/command.ts';
import { untilInterrupted } from '../toolkit/signals.ts';
import { localCloudHelp, parseCommandLine, parseLocalCloudFlags } from './local-flags.ts';
import { bootLocalCloud, HostUnavailableError } from './session.ts';
import { Terminal } from './terminal.ts';

const HELP = `Usage: liveness-batch up [options]

Starts the local cloud alone and keeps it up until Ctrl-C: the S3+SQS emulator, DynamoDB Local and
the liveness sandbox on 127.0.0.1 (DynamoDB Local has no bind-address option and also listens on
other interfaces), with the same handlers as on AWS. It prints its endpoints, bucket, queues and
table. Anything that speaks S3 can upload into the bucket under uploads/<batch>/; the bucket is
listed every second while new objects keep coming (every 5 s when none came), and new objects are
delivered to enqueue as ObjectCreated events. The bucket
lives in memory, so an upload is deleted from it once its selfie is decided (FAILED ones stay for a
redrive; REVIEW and NOT_VERIFIED ones stay for \`liveness-batch review\`, up to 64 MiB of them: beyond
that the oldest are deleted, NOT_VERIFIED before REVIEW, and a warning says so once).
\`liveness-batch run DIR\` with the same --state-dir uploads into this host instead of starting one.

Options:
  --help, -h               this text

${localCloudHelp}`;

function endpointsText(host: LocalCloud): string {
  const e = host.endpoints;
  const vendor = host.sandbox
    ? `${host.sandbox.endpointUrl}  (sandbox: simulated scores, not a liveness model; ledger ${host.paths.ledger})`
    : `${e.vendorUrl}  (real vendor: calls may cost money)`;
  return [
    'Local cloud is up. Ctrl-C to stop.',
    '',
    `  S3 + SQS endpoint   ${e.s3}   (fauxqs, in memory)`,
    `  DynamoDB endpoint   ${e.dynamodb}   (DynamoDB Local, file-backed in ${host.paths.dynamodb})`,
    `  liveness vendor     ${vendor}`,
    `  region              ${e.region}; access key "local", secret "local"`,
    `  bucket              ${e.bucket}   (uploads under ${e.uploadPrefix}<batch>/)`,
    `  work queue          ${e.queues.work}`,
    `  dead-letter queue   ${e.queues.deadLetter}`,
    `  review queue        ${e.queues.review}`,
    `  ops queue           ${e.queues.ops}`,
    `  results table       ${e.tableName}`,
    `  event archive       ${host.paths.events}`,
    `  vendor calls        up to ${host.vendor.limit} in flight (${host.maxInvocations} worker invocations at once)`,
    `  handlers            ${host.handlersFrom === 'source' ? 'the TypeScript source' : `bundled as deployed, in ${host.handlersFrom}`}`,
    '',
    'Upload with any S3 client, e.g.:',
    `  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=${e.region} \\`,
    `    aws s3 cp ./selfies s3://${e.bucket}/${e.uploadPrefix}my-batch/ --recursive --endpoint-url ${e.s3}`,
    'or, from another terminal:',
    `  liveness-batch run ./selfies --state-dir ${host.paths.root}`,
  ].join('\n');
}

export const upCommand: Command = {
  name: 'up',
  summary: 'Start the local cloud alone and keep it up; any S3 client can upload into its bucket',
  async run(argv) {
    const { values, positionals } = parseCommandLine(argv, {}, true);
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length > 0)
      throw new UsageError(`up takes no folder (got ${positionals.join(' ')}); use run DIR`);
    const flags = parseLocalCloudFlags(values);
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    process.env.POWERTOOLS_LOG_LEVEL ??= 'INFO';
    const paths = statePaths(flags.stateDir);
    const terminal = new Terminal({
      minLevel: flags.verbose ? 'INFO' : 'WARN',
      logFile: join(paths.logs, 'pipeline.log'),
      plainStatusEveryMs: 30_000,
    });
    let host: LocalCloud | undefined;
    try {
      terminal.note(`Starting the local cloud (state ${paths.root})...`);
      try {
        host = await bootLocalCloud(flags, 'up', terminal);
      } catch (error) {
        if (error instanceof HostUnavailableError) {
          terminal.note(error.message);
          return 1;
        }
        throw error;
      }
      terminal.out(endpointsText(host));
      const { unfinished, lostMessages } = host.recovered;
      if (unfinished > 0) {
        terminal.note(
          `${unfinished} selfie(s) were left undecided by an earlier run; ${lostMessages} go back to the work queue when their files are uploaded again.`,
        );
      }
      const running = host;
      const timer = setInterval(() => {
        const a = running.activity();
        const calls = running.vendor.gauge;
        terminal.status(
          `messages received ${a.received}  invocations ${a.invocations} (${a.running} running)  vendor calls ${calls.calls} (${calls.inFlight} in flight)`,
        );
      }, 1000);
      await untilInterrupted();
      clearInterval(timer);
      terminal.endStatus();
      terminal.note('Stopping the local cloud...');
      return 0;
    } finally {
      await host?.stop();
      terminal.restore();
    }
  },
};
