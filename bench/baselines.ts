/**
 * What the pipeline is compared with, run in this process against the same sandbox and the same
 * files: a plain pool (C calls in flight, a call starts the moment one ends, nothing else), the
 * vendor's batch barrier (C calls, `Promise.allSettled`, then the next C), and the essential work
 * per selfie (preflight plus one call), whose CPU is what the pipeline's overhead is measured against.
 */
import { readFile } from 'node:fs/promises';
import { forEachWithConcurrency } from '../shared/concurrency.ts';
import { LivenessClient } from '../shared/liveness/client.ts';
import { defaultPreflightLimits, preflightSelfie } from '../shared/preflight/index.ts';
import type { SandboxChild } from './support/sandbox-child.ts';

export interface BaselineRun {
  calls: number;
  /** Calls that ended in anything but a vendor decision (should be 0). */
  failed: number;
  elapsedMs: number;
  perSecond: number;
  /** This process's CPU (user + system) per call, ms. */
  cpuMsPerCall: number;
  /** The sandbox process's CPU per call, ms. */
  sandboxCpuMsPerCall: number;
}

let runs = 0;

function clientFor(sandbox: SandboxChild): LivenessClient {
  return new LivenessClient({
    endpointUrl: sandbox.url,
    timeoutMs: 15_000,
    userId: sandbox.userId,
    apiKey: sandbox.apiKey,
  });
}

async function measured(
  sandbox: SandboxChild,
  files: readonly string[],
  drive: (call: (file: string, index: number) => Promise<void>) => Promise<void>,
  work: (client: LivenessClient, bytes: Buffer, reference: string) => Promise<boolean>,
): Promise<BaselineRun> {
  const client = clientFor(sandbox);
  const run = ++runs;
  let failed = 0;
  const cpuBefore = process.cpuUsage();
  const sandboxBefore = sandbox.cpuSeconds();
  const started = performance.now();
  await drive(async (file, index) => {
    const ok = await work(client, await readFile(file), `bench-${process.pid}-${run}-${index}`);
    if (!ok) failed += 1;
  });
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    calls: files.length,
    failed,
    elapsedMs,
    perSecond: files.length / (elapsedMs / 1000),
    cpuMsPerCall: (cpu.user + cpu.system) / 1000 / files.length,
    sandboxCpuMsPerCall: ((sandbox.cpuSeconds() - sandboxBefore) * 1000) / files.length,
  };
}

const postOnly = async (client: LivenessClient, bytes: Buffer, reference: string) =>
  (await client.call(bytes, reference)).outcome === 'completed';

/** POSTs each file with `concurrency` calls in flight: a call starts as soon as one ends. */
export function plainPool(sandbox: SandboxChild, files: readonly string[], concurrency: number) {
  return measured(
    sandbox,
    files,
    (call) => forEachWithConcurrency(files, concurrency, (file, index) => call(file, index)),
    postOnly,
  );
}

/** The vendor's own design: `concurrency` calls, wait for all of them, then the next batch. */
export function batchBarrier(sandbox: SandboxChild, files: readonly string[], concurrency: number) {
  return measured(
    sandbox,
    files,
    async (call) => {
      for (let start = 0; start < files.length; start += concurrency) {
        await Promise.allSettled(
          files.slice(start, start + concurrency).map((file, i) => call(file, start + i)),
        );
      }
    },
    postOnly,
  );
}

/**
 * The essential work per selfie: read the file, preflight it, POST the normalised image once. Run
 * with a few calls in flight against an answer-at-once sandbox, so the CPU it reports is the work's,
 * not idle waiting's.
 */
export function essentialWork(sandbox: SandboxChild, files: readonly string[], concurrency: number) {
  return measured(
    sandbox,
    files,
    (call) => forEachWithConcurrency(files, concurrency, (file, index) => call(file, index)),
    async (client, bytes, reference) => {
      const checked = await preflightSelfie(bytes, defaultPreflightLimits);
      if (!checked.ok) return false;
      return (await client.call(checked.jpeg, reference)).outcome === 'completed';
    },
  );
}
