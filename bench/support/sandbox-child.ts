import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSecondsOf } from '../rss.ts';
import { projectRoot } from './paths.ts';

export interface LatencyShape {
  /** Every call is answered after this long... */
  latencyMs: number;
  /** ...except this share of calls (seeded draw per call)... */
  slowRate: number;
  /** ...answered after this long. */
  slowMs: number;
}

export interface SandboxChild {
  /** The v4 endpoint URL (through the delaying proxy). */
  url: string;
  pid: number;
  userId: string;
  apiKey: string;
  setLatency(shape: LatencyShape): Promise<void>;
  /** CPU seconds (user + system) the sandbox process has used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts bench/support/sandbox-process.ts (the sandbox behind a delaying proxy) as a child. */
export async function startSandboxChild(): Promise<SandboxChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/support/sandbox-process.ts'], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`the sandbox process exited ${code}`)));
  });
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping) console.error(`[bench] the sandbox process exited unexpectedly (${code ?? signal})`);
  });
  const base = new URL(url).origin;
  return {
    url,
    pid: child.pid as number,
    userId: 'sandbox-user',
    apiKey: 'sandbox-key',
    async setLatency(shape) {
      // Idempotent, so retried: after a long pause (generating phone photos) the pooled connection
      // can be one the sandbox just closed as idle, and the first request on it fails.
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await fetch(`${base}/__bench/latency`, { method: 'POST', body: JSON.stringify(shape) });
          await res.text();
          return;
        } catch (error) {
          if (child.exitCode !== null || child.signalCode !== null)
            throw new Error(`the sandbox process is gone (${child.exitCode ?? child.signalCode})`);
          if (attempt >= 3) throw error;
          await sleep(200);
        }
      }
    },
    cpuSeconds: () => cpuSecondsOf(child.pid as number) ?? 0,
    async stop() {
      stopping = true;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      children.delete(child);
    },
  };
}
