import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult } from '../../cli/run.ts';
import type { LedgerEntry } from '../../sandbox/ledger.ts';
import { defaultPreflightLimits } from '../../shared/preflight/limits.ts';
import { hostileCorpus, syntheticFace } from '../support/images.ts';

const repoRoot = join(import.meta.dirname, '..', '..');

export interface Corpus {
  /** Paths relative to the corpus folder. */
  files: string[];
  /** Files preflight must reject. */
  badFiles: string[];
}

/**
 * A folder like a KYC backlog: distinct synthetic faces in three formats (some in a subfolder and
 * one with a space in its name), byte-identical copies of a few, and hostile uploads.
 */
export async function writeCorpus(dir: string, faces = 44): Promise<Corpus> {
  const files: string[] = [];
  const put = async (name: string, bytes: Buffer) => {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), bytes);
    files.push(name);
  };
  const formats = ['jpeg', 'png', 'webp'] as const;
  const extension = { jpeg: 'jpg', png: 'png', webp: 'webp' };
  const faceBytes: Buffer[] = [];
  for (let seed = 1; seed <= faces; seed++) {
    const format = formats[seed % 3] ?? 'jpeg';
    const bytes = await syntheticFace({ seed: 5000 + seed, width: 360, height: 480, format, grain: 0.3 });
    faceBytes.push(bytes);
    const folder = seed % 4 === 0 ? 'branch-b/' : '';
    const name =
      seed === 7
        ? `${folder}face ${seed}.${extension[format]}`
        : `${folder}face-${seed}.${extension[format]}`;
    await put(name, bytes);
  }
  for (const index of [0, 1, 2, 3]) {
    const original = faceBytes[index] as Buffer;
    await put(`copies/copy-of-face-${index + 1}.bin.jpg`, original);
  }
  const badFiles: string[] = [];
  const hostile = (await hostileCorpus(defaultPreflightLimits)).filter(
    (entry) => entry.expect !== 'ok' && entry.bytes.length < 1_000_000,
  );
  for (const entry of hostile.slice(0, 8)) {
    const name = `bad/${entry.name}.jpg`;
    await put(name, entry.bytes);
    badFiles.push(name);
  }
  return { files, badFiles };
}

export interface CliRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Runs the CLI as a user would, in a child process (so it can be killed like one). */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'liveness-batch.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
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
  return { child, done };
}

export async function runToCompletion(args: string[]): Promise<RunResult> {
  const { done } = startCli(args);
  const { code, stdout, stderr } = await done;
  if (code !== 0) throw new Error(`run exited ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  return JSON.parse(stdout) as RunResult;
}

export function readLedger(stateDir: string): LedgerEntry[] {
  const file = join(stateDir, 'ledger.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LedgerEntry];
      } catch {
        return []; // a line cut short by SIGKILL
      }
    });
}

export interface ArchivedEvent {
  detail: { selfieId: string; key: string; decision: string; transactionReference: string | null };
}

export function readEvents(stateDir: string): ArchivedEvent[] {
  const file = join(stateDir, 'events.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as ArchivedEvent);
}

/** References charged more than once: must always be empty. */
export function doubleCharges(ledger: readonly LedgerEntry[]): string[] {
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const entry of ledger) {
    if (!entry.charged || entry.transactionReference === null) continue;
    if (seen.has(entry.transactionReference)) twice.push(entry.transactionReference);
    seen.add(entry.transactionReference);
  }
  return twice;
}

/** Stops a DynamoDB Local the test's host left behind (its pid file names it), so no java outlives the test. */
export function stopLeftoverDynamoDb(stateDir: string): void {
  const pidFile = join(stateDir, 'dynamodb.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  const cmdline = (() => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  })();
  if (pid > 0 && cmdline.includes('DynamoDBLocal.jar') && cmdline.includes(stateDir)) {
    process.kill(pid, 'SIGKILL');
  }
}

export const sandboxFaults = ['--pending-rate', '0.12', '--error-rate', '0.12', '--latency-ms', '20-150'];
