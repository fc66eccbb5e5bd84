import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult } from '../../cli/run.ts';
import type { OutcomeEventDetail } from '../../shared/events/outcome-event.ts';
import { defaultPreflightLimits } from '../../shared/preflight/limits.ts';
import { type CorpusEntry, hostileCorpus, syntheticFace } from '../support/images.ts';

export const repoRoot = join(import.meta.dirname, '..', '..');

export interface CorpusFile {
  /** Path under the corpus folder, `/`-separated: the S3 key below the batch folder. */
  path: string;
  bytes: Buffer;
  /** The preflight rejection it must end with, or 'ok' when it must reach the vendor (or reuse). */
  expect: CorpusEntry['expect'];
  /** Files with identical bytes share a group name. */
  sameBytesAs?: string;
}

const extensions: Record<string, string> = {
  jpeg: 'jpg',
  empty: 'jpg',
  text: 'txt',
  unknown: 'bin',
};

/** mulberry32: kill times and other choices are seeded, so a failure replays. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Everything hostile preflight knows (hostileCorpus), the same bytes under several keys, keys that
 * S3 events encode awkwardly (spaces, `+`, `%`, non-ASCII), and distinct faces to keep the vendor busy.
 * Keys stay in Unicode's basic plane: fauxqs 1.9.2 refuses SQS bodies with characters above U+FFFF
 * (an emoji in a file name), which real SQS accepts; see docs/benchmarks.md.
 */
export async function writeHostileCorpus(dir: string, faces: number): Promise<CorpusFile[]> {
  const files: CorpusFile[] = [];
  const hostile = await hostileCorpus(defaultPreflightLimits);
  for (const entry of hostile) {
    const ext = extensions[entry.detectedFormat] ?? entry.detectedFormat;
    files.push({ path: `hostile/${entry.name}.${ext}`, bytes: entry.bytes, expect: entry.expect });
  }
  const original = hostile.find((e) => e.name === 'jpeg') as CorpusEntry;
  const copies = [
    'copies/same bytes 1.jpg',
    'copies/same+bytes+2.jpg',
    'copies/same%20bytes%3.jpg',
    'copies/même-ünïcødé.jpg',
  ];
  for (const path of copies) files.push({ path, bytes: original.bytes, expect: 'ok', sameBytesAs: 'jpeg' });
  const first = files.find((f) => f.path === 'hostile/jpeg.jpg') as CorpusFile;
  first.sameBytesAs = 'jpeg';
  const awkward = [
    'keys/face with spaces.jpg',
    'keys/a+b.jpg',
    'keys/100%real.jpg',
    'keys/%2B-literal.jpg',
    'keys/visage-été-日本.jpg',
  ];
  let seed = 300_000;
  for (const path of awkward) {
    files.push({
      path,
      bytes: await syntheticFace({ seed: seed++, width: 320, height: 400, grain: 0.2 }),
      expect: 'ok',
    });
  }
  for (let i = 0; i < faces; i++) {
    const bytes = await syntheticFace({ seed: seed++, width: 320, height: 400, grain: 0.2 });
    files.push({ path: `faces/face-${i}.jpg`, bytes, expect: 'ok' });
  }
  for (const file of files) {
    await mkdir(join(dir, file.path, '..'), { recursive: true });
    await writeFile(join(dir, file.path), file.bytes);
  }
  return files;
}

export interface CliRun {
  child: ChildProcess;
  output: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** The CLI as a user runs it, in its own process so it can be killed like one. */
export function startCli(args: string[]): CliRun {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'liveness-batch.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, output: () => stdout + stderr, done };
}

export function parseRunResult(stdout: string): RunResult {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as RunResult;
}

export function readEvents(stateDir: string): OutcomeEventDetail[] {
  const file = join(stateDir, 'events.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => (JSON.parse(line) as { detail: OutcomeEventDetail }).detail);
}

/** Every text file the host wrote under its state folder, except DynamoDB Local's database. */
export function stateTextFiles(stateDir: string): Array<{ path: string; text: string }> {
  return readdirSync(stateDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !join(e.parentPath, e.name).includes(`${join(stateDir, 'dynamodb')}`))
    .map((e) => ({
      path: join(e.parentPath, e.name),
      text: readFileSync(join(e.parentPath, e.name), 'utf8'),
    }));
}

/**
 * Stops every DynamoDB Local serving this state folder, found through /proc rather than the pid file:
 * a host killed while DynamoDB Local was still starting has not written the pid file yet, and its
 * java child survives it (see docs/benchmarks.md). Returns how many were still running.
 */
export function stopDynamoDbServing(stateDir: string): number {
  const folder = join(stateDir, 'dynamodb');
  let stopped = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const at = args.indexOf('-dbPath');
      if (args.some((a) => a.endsWith('DynamoDBLocal.jar')) && at >= 0 && args[at + 1] === folder) {
        process.kill(Number(entry), 'SIGKILL');
        stopped += 1;
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return stopped;
}
