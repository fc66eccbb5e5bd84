import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/** Default state folder, relative to the working directory. */
export const DEFAULT_STATE_DIR = '.liveness-batch';

/** Where the local cloud keeps what must outlive the process. */
export interface StatePaths {
  root: string;
  /** DynamoDB Local's file-backed database (results survive restarts). */
  dynamodb: string;
  /** The sandbox's charge ledger, one JSON line per vendor request. */
  ledger: string;
  /** The event archive: one outcome event per selfie. */
  events: string;
  /** Where the stream poller resumes after a restart. */
  streamCheckpoint: string;
  logs: string;
  /** Endpoints and pid of the running host, for `run` to find a running `up`. */
  endpoints: string;
  /** Held (O_EXCL) while a host owns this folder. */
  lock: string;
  /** The DynamoDB Local java process of the host, so a crashed host's orphan can be stopped. */
  dynamodbPid: string;
}

export function statePaths(dir: string = DEFAULT_STATE_DIR): StatePaths {
  const root = resolve(dir);
  return {
    root,
    dynamodb: join(root, 'dynamodb'),
    ledger: join(root, 'ledger.jsonl'),
    events: join(root, 'events.jsonl'),
    streamCheckpoint: join(root, 'stream-checkpoint.json'),
    logs: join(root, 'logs'),
    endpoints: join(root, 'endpoints.json'),
    lock: join(root, 'host.lock'),
    dynamodbPid: join(root, 'dynamodb.pid'),
  };
}

/** What a running host publishes about itself (no credentials: the API key is never written). */
export const hostEndpointsSchema = z.object({
  pid: z.number().int().positive(),
  mode: z.enum(['run', 'up']),
  startedAt: z.string(),
  region: z.string(),
  s3: z.string().url(),
  sqs: z.string().url(),
  dynamodb: z.string().url(),
  bucket: z.string(),
  uploadPrefix: z.string(),
  tableName: z.string(),
  queues: z.object({ work: z.string(), deadLetter: z.string(), review: z.string(), ops: z.string() }),
  vendorUrl: z.string(),
  sandbox: z.string().url().optional(),
  concurrency: z.number().int().positive(),
});
export type HostEndpoints = z.infer<typeof hostEndpointsSchema>;

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The endpoints of a live host using this folder, or undefined (no file, stale pid, unreadable). */
export function readLiveHost(paths: StatePaths): HostEndpoints | undefined {
  let parsed: HostEndpoints;
  try {
    parsed = hostEndpointsSchema.parse(JSON.parse(readFileSync(paths.endpoints, 'utf8')));
  } catch {
    return undefined;
  }
  return parsed.pid !== process.pid && isProcessAlive(parsed.pid) ? parsed : undefined;
}

export function writeHostEndpoints(paths: StatePaths, endpoints: HostEndpoints): void {
  const temp = `${paths.endpoints}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(endpoints, null, 2)}\n`);
  renameSync(temp, paths.endpoints);
}

export class StateDirBusyError extends Error {
  constructor(
    readonly root: string,
    readonly pid: number,
  ) {
    super(
      `Another liveness-batch host (pid ${pid}) is using ${root}; stop it, or pass --state-dir for a separate one`,
    );
  }
}

/**
 * Takes the folder for this process. A lock left by a dead process is taken over (its resources are
 * then recovered by the host: orphaned DynamoDB Local, lost queue messages, leases).
 */
export function lockStateDir(paths: StatePaths): { release(): void } {
  mkdirSync(paths.root, { recursive: true });
  for (let tries = 0; tries < 3; tries++) {
    try {
      const fd = openSync(paths.lock, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return {
        release() {
          rmSync(paths.lock, { force: true });
          rmSync(paths.endpoints, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(paths.lock, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && isProcessAlive(holder)) {
        throw new StateDirBusyError(paths.root, holder);
      }
      rmSync(paths.lock, { force: true });
    }
  }
  throw new Error(`Could not take the lock ${paths.lock}`);
}
