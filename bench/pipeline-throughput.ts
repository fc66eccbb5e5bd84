/**
 * Pipeline throughput and peak memory of `liveness-batch run` on the local host, against the sandbox
 * with a fixed vendor latency L and C calls in flight. Throughput is measured by the CLI itself from
 * the first upload to the last decision (`elapsedMs` of --json) and reported as a ratio to the bound
 * C/L: no host can decide faster than C calls per L. The same child processes are sampled from /proc
 * for peak RSS (Node, and DynamoDB Local's java) and CPU time, which says where the time went.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../cli/run.ts';
import { machineCpuSeconds, mib, type ProcessPeak, sampleProcesses } from './rss.ts';
import { projectRoot } from './support/paths.ts';
import { linkFirst, writeSelfies } from './support/selfie-folder.ts';
import { type BenchOptions, type BenchRow, fixed, judged } from './table.ts';

/**
 * C = 16 calls in flight at two vendor latencies. L = 500 ms (bound 32 selfies/s) is above what two
 * cores can feed (each selfie costs ~70 ms of CPU across Node and DynamoDB Local), so it shows the
 * host's ceiling. L = 1000 ms (bound 16/s), a liveness API's usual answer time, is within the host's
 * capacity, so it shows whether the pipeline keeps C calls in flight.
 */
export const THROUGHPUT_CONFIG = { concurrency: 16, latencyMs: 500 } as const;
const UNDER_CAPACITY_CONFIG = { concurrency: 16, latencyMs: 1000 } as const;
const TARGET_RATIO = 0.9;

interface Measured {
  result: RunResult;
  peaks: Record<string, ProcessPeak>;
  /** Highest heapUsed + external after a full GC (bench/support/live-heap-probe.cjs), bytes. */
  peakLiveHeap: number | undefined;
  machineBusyCores: number;
  wallSeconds: number;
  /** CPU seconds per process from the end of boot to the printed result. */
  window: Record<string, number>;
}

const live = new Set<ChildProcess>();
const stateDirs = new Set<string>();

/** Never leave a CLI or its DynamoDB Local behind, whatever ends the bench. */
export function killLeftovers(): void {
  for (const child of live) child.kill('SIGKILL');
  for (const stateDir of stateDirs) {
    const pidFile = join(stateDir, 'dynamodb.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(stateDir)) process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
process.once('exit', killLeftovers);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killLeftovers();
    process.exit(130);
  });
}

export interface PipelineRunConfig {
  concurrency: number;
  /** The embedded sandbox's latency; ignored when `vendor` is given. */
  latencyMs?: number;
  /** Another vendor endpoint (the bench's sandbox process), instead of the CLI's embedded sandbox. */
  vendor?: { url: string; userId: string; apiKey: string };
  /** Node flags for the CLI's process that NODE_OPTIONS does not allow (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Further processes to read CPU time from over the same window (e.g. the sandbox's). */
  alsoSample?: Record<string, number>;
  /** The checkout whose CLI runs (default: this one); another for a before/after comparison. */
  root?: string;
}

/**
 * Runs `liveness-batch run DIR --json` as a child process and samples it. Besides the whole-run
 * figures, `window` holds each process's CPU seconds from the end of boot (the CLI's "Local cloud up"
 * note) to the printed result, so boot does not weigh on a short run's CPU per selfie.
 */
export async function runCli(dir: string, stateDir: string, config: PipelineRunConfig) {
  stateDirs.add(stateDir);
  const vendorArgs = config.vendor
    ? [
        '--vendor-url',
        config.vendor.url,
        '--user-id',
        config.vendor.userId,
        '--api-key',
        config.vendor.apiKey,
      ]
    : ['--latency-ms', String(config.latencyMs ?? 0), '--seed', 'bench'];
  const args = [
    ...(config.nodeArgs ?? []),
    join(config.root ?? projectRoot, 'bin', 'liveness-batch.js'),
    'run',
    dir,
    '--json',
    '--state-dir',
    stateDir,
    '--concurrency',
    String(config.concurrency),
    ...vendorArgs,
  ];
  const liveHeapFile = `${stateDir}.live-heap.jsonl`;
  const cpuBefore = machineCpuSeconds();
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: config.root ?? projectRoot,
    env: {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --require ${LIVE_HEAP_PROBE}`.trim(),
      LIVE_HEAP_FILE: liveHeapFile,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const javaPid = () => {
    try {
      return Number(readFileSync(join(stateDir, 'dynamodb.pid'), 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  };
  const sampler = sampleProcesses(() => ({ node: child.pid, java: javaPid(), ...config.alsoSample }));
  const cpuNow = () =>
    Object.fromEntries(Object.entries(sampler.peaks).map(([name, p]) => [name, p.cpuSeconds]));
  let booted: Record<string, number> | undefined;
  let decided: Record<string, number> | undefined;
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
    if (!decided && stdout.includes('\n')) {
      sampler.sampleNow();
      decided = cpuNow();
    }
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
    if (!booted && stderr.includes('Local cloud up')) {
      sampler.sampleNow();
      booted = cpuNow();
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  live.delete(child);
  const peaks = sampler.stop();
  const cpuAfter = machineCpuSeconds();
  const wallSeconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`liveness-batch run exited ${code}: ${stderr}`);
  return {
    result: JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as RunResult,
    peaks,
    peakLiveHeap: peakLiveHeap(liveHeapFile),
    machineBusyCores: (cpuAfter.busy - cpuBefore.busy) / wallSeconds,
    wallSeconds,
    window: Object.fromEntries(
      Object.entries(decided ?? {}).map(([name, cpu]) => [name, cpu - (booted?.[name] ?? 0)]),
    ),
  } satisfies Measured;
}

/** Forces a full GC every 10 s in the CLI and logs what is still in use (a few ms per sample). */
const LIVE_HEAP_PROBE = join(projectRoot, 'bench', 'support', 'live-heap-probe.cjs');

function peakLiveHeap(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const samples = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { heapUsed: number; external: number });
  rmSync(file, { force: true });
  return samples.length > 0 ? Math.max(...samples.map((s) => s.heapUsed + s.external)) : undefined;
}

function throughputRows(label: string, m: Measured, config: { concurrency: number; latencyMs: number }) {
  const { result } = m;
  const perSecond = result.decidedThisRun / (result.elapsedMs / 1000);
  const bound = config.concurrency / (config.latencyMs / 1000);
  const ratio = perSecond / bound;
  const node = m.peaks.node;
  const java = m.peaks.java;
  const perSelfieMs = (p?: ProcessPeak) =>
    p ? fixed((1000 * p.cpuSeconds) / result.decidedThisRun, 1) : '?';
  const ownCores = ((node?.cpuSeconds ?? 0) + (java?.cpuSeconds ?? 0)) / m.wallSeconds;
  return [
    judged(
      {
        section: 'throughput',
        metric: `${label}: ${result.decidedThisRun} selfies, C = ${config.concurrency}, L = ${config.latencyMs} ms (bound C/L = ${fixed(bound, 0)}/s)`,
        value: `${fixed(ratio)} (${fixed(perSecond, 1)}/s; ${fixed(result.elapsedMs / 1000, 1)} s first upload → last decision; mean ${result.vendorCalls?.meanInFlight ?? '?'} of ${config.concurrency} calls in flight)`,
      },
      `≥ ${TARGET_RATIO}`,
      ratio >= TARGET_RATIO,
    ),
    {
      section: 'throughput',
      metric: `${label}: where the CPU went (per selfie; whole run incl. boot)`,
      value: `Node ${perSelfieMs(node)} ms, DynamoDB Local ${perSelfieMs(java)} ms; these two used ${fixed(ownCores, 2)} cores on average, the whole machine ${fixed(m.machineBusyCores, 2)} of 2`,
    },
  ] satisfies BenchRow[];
}

export async function benchPipeline(options: BenchOptions): Promise<BenchRow[]> {
  const sizes = options.quick ? [200, 1000] : [1000, 5000];
  const root = mkdtempSync(join(tmpdir(), 'lb-bench-pipeline-'));
  const rows: BenchRow[] = [];
  try {
    const largest = sizes.at(-1) as number;
    const meanBytes = await writeSelfies(join(root, `selfies-${largest}`), largest, options.log);
    for (const size of sizes.slice(0, -1))
      linkFirst(join(root, `selfies-${largest}`), join(root, `selfies-${size}`), size);

    const memory: Array<{ size: number; node: number; java: number; live?: number }> = [];
    for (const config of [THROUGHPUT_CONFIG, UNDER_CAPACITY_CONFIG]) {
      for (const size of sizes) {
        options.log(`run ${size} selfies, C = ${config.concurrency}, L = ${config.latencyMs} ms…`);
        const stateDir = join(root, `state-${size}-${config.latencyMs}`);
        const m = await runCli(join(root, `selfies-${size}`), stateDir, config);
        rows.push(...throughputRows(`${size}`, m, config));
        if (config === THROUGHPUT_CONFIG) {
          memory.push({
            size,
            node: m.peaks.node?.peakRss ?? 0,
            java: m.peaks.java?.peakRss ?? 0,
            ...(m.peakLiveHeap !== undefined ? { live: m.peakLiveHeap } : {}),
          });
        }
        rmSync(stateDir, { recursive: true, force: true });
      }
    }

    for (const { size, node, java, live } of memory) {
      rows.push({
        section: 'peak RSS',
        metric: `liveness-batch run, ${size} selfies (VmHWM from /proc; live = heap + external after a full GC, sampled every 10 s)`,
        value: `Node ${mib(node)} MiB (live ${live !== undefined ? mib(live) : '?'} MiB); DynamoDB Local (java) ${mib(java)} MiB`,
      });
    }
    const [first, last] = [memory[0], memory.at(-1)];
    if (first && last && last.size > first.size) {
      const perSelfie = (bytes: number) => fixed(bytes / (last.size - first.size) / 1024, 1);
      const live =
        first.live !== undefined && last.live !== undefined ? perSelfie(last.live - first.live) : '?';
      rows.push({
        section: 'peak RSS',
        metric: `growth from ${first.size} to ${last.size} selfies, per extra selfie (uploads avg ${fixed(meanBytes / 1024, 1)} KiB)`,
        value: `Node RSS ${perSelfie(last.node - first.node)} KiB, live ${live} KiB; java ${perSelfie(last.java - first.java)} KiB`,
      });
    }
    return rows;
  } finally {
    killLeftovers();
    rmSync(root, { recursive: true, force: true });
  }
}
