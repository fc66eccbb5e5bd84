/**
 * Running the CLI as a user would (a child process, so it can be killed like one) and reading what
 * the run left in its state folder. Shared by the end-to-end suite and the reliability suite.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from '../../cli/run.ts';
import type { LedgerEntry } from '../../sandbox/ledger.ts';
import type { OutcomeEventDetail } from '../../shared/events/outcome-event.ts';

export const repoRoot = join(import.meta.dirname, '..', '..');

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliRun {
  child: ChildProcess;
  /** Everything written so far, stdout then stderr. */
  output: () => string;
  done: Promise<CliExit>;
}

/** The CLI as a user runs it, in its own process so it can be killed like one. */
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
  const done = new Promise<CliExit>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, output: () => stdout + stderr, done };
}

/** `run DIR --json --batch ID --state-dir DIR`, then any further flags: how both suites start a run. */
export function runArgs(corpusDir: string, batch: string, stateDir: string, ...more: string[]): string[] {
  return ['run', corpusDir, '--json', '--batch', batch, '--state-dir', stateDir, ...more];
}

/**
 * The summary of `run --json`. Its stdout carries the result and nothing else (cli/terminal.ts
 * sends every other line to stderr), so the whole of it must be one JSON document.
 */
export function parseRunResult(stdout: string): RunResult {
  return JSON.parse(stdout) as RunResult;
}

/** Runs the CLI to its end and returns its `--json` summary; any exit code but 0 throws. */
export async function runToCompletion(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const { code, stdout, stderr } = await startCli(args, env).done;
  if (code !== 0) throw new Error(`run exited ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  return parseRunResult(stdout);
}

/** How many files the summary counts as decided, whatever the decision. */
export function decidedTotal(result: RunResult): number {
  return Object.values(result.decisions).reduce((a, b) => a + b, 0);
}

/** The local sandbox's ledger in the state folder: every vendor call the host made. */
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

/** The detail of every outcome event the host archived in its state folder. */
export function readEvents(stateDir: string): OutcomeEventDetail[] {
  const file = join(stateDir, 'events.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => (JSON.parse(line) as { detail: OutcomeEventDetail }).detail);
}

/**
 * Stops every DynamoDB Local serving this state folder, found through /proc rather than the pid file:
 * a host killed while DynamoDB Local was still starting has not written the pid file yet, and its
 * java child survives it (see docs/benchmarks.md). Returns how many were still running. Where there
 * is no /proc (not Linux) there is nothing to look through, and it stops none.
 */
export function stopDynamoDbServing(stateDir: string): number {
  if (!existsSync('/proc')) return 0;
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
