/**
 * Before/after comparison of the local cloud in one interleaved run: `tsx bench/ab.ts --before DIR`
 * where DIR is another checkout of this project (e.g. `git archive <commit> | tar -x -C DIR` with
 * node_modules linked in). Against one sandbox process, alternately for each checkout (the order
 * flips every round): `liveness-batch run` over the same selfies (throughput, CPU per decided selfie
 * per process), then upload-to-event latency and the idle host's CPU. Prints a Markdown table.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { killLeftovers, runCli } from './pipeline-throughput.ts';
import { frontCameraSelfies } from './selfie-files.ts';
import { projectRoot } from './support/paths.ts';
import { startSandboxChild } from './support/sandbox-child.ts';
import { fixed, median } from './table.ts';
import { type LatencyResult, percentile, VENDOR_MS } from './upload-latency.ts';

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    selfies: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '16' },
    'latency-ms': { type: 'string', default: '1000' },
    'latency-selfies': { type: 'string', default: '40' },
  },
});
if (!values.before) throw new Error('usage: tsx bench/ab.ts --before DIR [--rounds N] [--selfies N]');
const variants = { before: resolve(values.before), after: projectRoot };
const log = (line: string) => console.error(`[ab] ${line}`);

const root = mkdtempSync(join(tmpdir(), 'lb-bench-ab-'));
const sandbox = await startSandboxChild();
type Row = { variant: string; perSecond: number; node: number; java: number; latency?: LatencyResult };
const rows: Row[] = [];
try {
  const selfies = await frontCameraSelfies(join(root, 'selfies'), Number(values.selfies));
  const latencyFiles = (await frontCameraSelfies(join(root, 'latency'), Number(values['latency-selfies'])))
    .files;
  for (let round = 0; round < Number(values.rounds); round++) {
    const order = round % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const);
    for (const variant of order) {
      await sandbox.setLatency({ latencyMs: Number(values['latency-ms']), slowRate: 0, slowMs: 0 });
      log(`round ${round + 1}: ${variant}: pipeline…`);
      const stateDir = join(root, `state-${variant}-${round}`);
      const m = await runCli(selfies.dir, stateDir, {
        concurrency: Number(values.concurrency),
        vendor: sandbox,
        root: variants[variant],
      });
      rmSync(stateDir, { recursive: true, force: true });
      const decided = m.result.decidedThisRun;
      log(`round ${round + 1}: ${variant}: latency…`);
      await sandbox.setLatency({ latencyMs: VENDOR_MS, slowRate: 0, slowMs: 0 });
      const latency = await latencyChild({
        root: variants[variant],
        vendor: { url: sandbox.url, userId: sandbox.userId, apiKey: sandbox.apiKey },
        stateDir: join(root, `latency-${variant}-${round}`),
        files: latencyFiles,
        rate: 2,
        warmUp: 5,
        otherClient: Math.floor(latencyFiles.length / 4),
        idleSeconds: 10,
      });
      rows.push({
        variant,
        perSecond: decided / (m.result.elapsedMs / 1000),
        node: (1000 * (m.window.node ?? Number.NaN)) / decided,
        java: (1000 * (m.window.java ?? Number.NaN)) / decided,
        latency,
      });
      log(
        JSON.stringify(rows.at(-1), (k, v) =>
          k === 'afterBoot' || k === 'viaRun' || k === 'viaOtherClient' ? undefined : v,
        ),
      );
    }
  }
} finally {
  killLeftovers();
  await sandbox.stop();
  rmSync(root, { recursive: true, force: true });
}

function latencyChild(input: Record<string, unknown>): Promise<LatencyResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'bench/support/latency-child.ts', JSON.stringify(input)],
      { cwd: projectRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.once('close', (code) =>
      code === 0
        ? resolvePromise(JSON.parse(out.trim()) as LatencyResult)
        : reject(new Error(`latency child exited ${code}`)),
    );
  });
}

const summary = (variant: string) => {
  const mine = rows.filter((r) => r.variant === variant);
  const all = (pick: (l: LatencyResult) => number[]) =>
    mine.flatMap((r) => (r.latency ? pick(r.latency) : []));
  return [
    variant,
    mine.map((r) => fixed(r.perSecond, 1)).join(', '),
    mine.map((r) => fixed(r.node, 1)).join(', '),
    mine.map((r) => fixed(r.java, 1)).join(', '),
    `${fixed(
      percentile(
        all((l) => l.viaRun),
        50,
      ),
      0,
    )} / ${fixed(
      percentile(
        all((l) => l.viaRun),
        99,
      ),
      0,
    )}`,
    `${fixed(
      percentile(
        all((l) => l.viaOtherClient),
        50,
      ),
      0,
    )} / ${fixed(
      percentile(
        all((l) => l.viaOtherClient),
        99,
      ),
      0,
    )}`,
    `${fixed(median(mine.map((r) => r.latency?.idle.nodeMsPerSecond ?? Number.NaN)), 1)} / ${fixed(median(mine.map((r) => r.latency?.idle.javaMsPerSecond ?? Number.NaN)), 1)}`,
  ];
};
console.log(
  `C = ${values.concurrency}, L = ${values['latency-ms']} ms, ${values.selfies} selfies, ${values.rounds} rounds (interleaved); latency: ${values['latency-selfies']} selfies at 2/s, vendor ${VENDOR_MS} ms subtracted\n`,
);
console.log(
  '| variant | selfies/s per round | Node ms/selfie | DynamoDB Local ms/selfie | latency p50 / p99 (run) ms | latency p50 / p99 (other client) ms | idle CPU Node / java ms/s |',
);
console.log('|---|---|---|---|---|---|---|');
for (const variant of ['before', 'after']) console.log(`| ${summary(variant).join(' | ')} |`);
