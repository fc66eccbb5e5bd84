import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { JavaMissingError } from '../local-cloud/dynamodb-local.ts';
import { BundleLoadError } from '../local-cloud/handlers.ts';
import { type LocalCloud, startLocalCloud } from '../local-cloud/host.ts';
import { type HostEndpoints, readLiveHost, StateDirBusyError, statePaths } from '../local-cloud/state-dir.ts';
import { createDocumentClient, createS3Client } from '../shared/aws-clients.ts';
import type { BatchSummary } from '../shared/results/records.ts';
import { SelfieLifecycle } from '../shared/results/selfie-lifecycle.ts';
import type { LocalCloudFlags } from './local-flags.ts';
import type { Terminal } from './terminal.ts';

/**
 * Where `run` sends its uploads: a host it started itself, a running `up` using the same state
 * folder, or a deployed stack (cli/stack-session.ts).
 */
export interface Session {
  kind: 'embedded' | 'attached' | 'stack';
  description: string;
  /** Vendor calls the host keeps in flight (its --concurrency). */
  concurrency: number;
  upload(key: string, body: Buffer, metadata?: Record<string, string>): Promise<void>;
  summary(batchId: string): Promise<BatchSummary | undefined>;
  /** Selfies the run may add to the undecided backlog (default: uploader.ts's undecidedWindow). */
  uploadWindow?: number;
  /** The bucket's upload prefix (default: pipelineSettings.uploadPrefix). */
  uploadPrefix?: string;
  /** Keys of the batch already uploaded or recorded; when given, a run uploads only the others. */
  uploadedKeys?(batchId: string): Promise<Set<string>>;
  /** Embedded only: the host itself, for in-flight counts, idleness and event draining. */
  host?: LocalCloud;
  stop(): Promise<void>;
}

export function hostErrorReporter(terminal: Terminal) {
  return (message: string, error: unknown) =>
    terminal.note(`local cloud: ${message}: ${error instanceof Error ? error.message : String(error)}`);
}

/** Boots the local cloud, or explains in one line why it cannot (Java missing, folder in use). */
export async function bootLocalCloud(
  flags: LocalCloudFlags,
  mode: 'run' | 'up',
  terminal: Terminal,
  /** Selfies a `run` will upload; tunes DynamoDB Local's JIT for a short run. */
  expectedSelfies?: number,
) {
  try {
    return await startLocalCloud({
      stateDir: flags.stateDir,
      mode,
      ...(expectedSelfies !== undefined ? { expectedSelfies } : {}),
      concurrency: flags.concurrency,
      ...(flags.vendor ? { vendor: flags.vendor } : { sandbox: flags.sandbox }),
      tunables: flags.tunables,
      handlers: flags.bundled
        ? { kind: 'bundled', dir: join(statePaths(flags.stateDir).root, 'bundles') }
        : { kind: 'source' },
      onError: hostErrorReporter(terminal),
      onWarning: (message) => terminal.note(`local cloud: ${message}`),
    });
  } catch (error) {
    if (
      error instanceof JavaMissingError ||
      error instanceof StateDirBusyError ||
      error instanceof BundleLoadError
    ) {
      throw new HostUnavailableError(error.message);
    }
    throw error;
  }
}

/** A reason the host cannot start that the user can fix; printed as one line. */
export class HostUnavailableError extends Error {}

export async function openSession(
  flags: LocalCloudFlags,
  terminal: Terminal,
  /** Files the run will upload. */
  expectedSelfies?: number,
): Promise<Session> {
  const running = readLiveHost(statePaths(flags.stateDir));
  if (running) return attach(running);
  terminal.note(`Starting the local cloud (state ${statePaths(flags.stateDir).root})...`);
  const host = await bootLocalCloud(flags, 'run', terminal, expectedSelfies);
  return {
    kind: 'embedded',
    description: `embedded local cloud (state ${host.paths.root})`,
    concurrency: host.vendor.limit,
    host,
    upload: (key, body, metadata) => host.upload(key, body, metadata),
    summary: (batchId) => host.repository.getBatchSummary(batchId),
    stop: () => host.stop(),
  };
}

/** Uses a running `up`: uploads go to its bucket (its bucket watcher delivers them), counts come from its table. */
function attach(running: HostEndpoints): Session {
  const endpoints = {
    region: running.region,
    s3: running.s3,
    sqs: running.sqs,
    dynamodb: running.dynamodb,
    localCredentials: true,
  };
  const s3 = createS3Client(endpoints);
  const repository = new SelfieLifecycle(createDocumentClient(endpoints), running.tableName);
  return {
    kind: 'attached',
    description: `the running \`liveness-batch ${running.mode}\` (pid ${running.pid})`,
    concurrency: running.concurrency,
    async upload(key, body, metadata) {
      await s3.send(
        new PutObjectCommand({
          Bucket: running.bucket,
          Key: key,
          Body: body,
          ...(metadata ? { Metadata: metadata } : {}),
        }),
      );
    },
    summary: (batchId) => repository.getBatchSummary(batchId),
    async stop() {
      s3.destroy();
    },
  };
}
