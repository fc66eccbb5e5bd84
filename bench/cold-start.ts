/**
 * Worker cold start: the handler bundled as the CDK stack bundles it, loaded in a fresh `node`
 * process (module load = the `import()` of the bundle), then its first record end to end against
 * the local emulators and the sandbox (runtime build, S3 read, preflight with sharp's first use,
 * DynamoDB writes, one vendor call), then a second record in the same process for comparison.
 * Also the bundle size of each function.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type BundledHandler,
  bundleHandler,
  type HandlerName,
  handlerEntries,
} from '../local-cloud/bundles.ts';
import { toSqsEvent } from '../local-cloud/sqs-event-source.ts';
import type { VerifySelfieMessage } from '../shared/messages.ts';
import { syntheticFace } from '../testkit/images.ts';
import { startLocalServices } from './support/local-services.ts';
import { projectRoot } from './support/paths.ts';
import { type BenchOptions, type BenchRow, fixed, median } from './table.ts';

/** Runs in the fresh process: times the import and two handler invocations, prints one JSON line. */
const PROBE = `
const bootMs = performance.now();
const [bundleUrl, eventsJson] = process.argv.slice(2);
const events = JSON.parse(eventsJson);
const context = { getRemainingTimeInMillis: () => 120000 };
const t0 = performance.now();
const mod = await import(bundleUrl);
const t1 = performance.now();
const first = await mod.handler(events[0], context);
const t2 = performance.now();
const second = await mod.handler(events[1], context);
const t3 = performance.now();
const failures = first.batchItemFailures.length + second.batchItemFailures.length;
process.stdout.write(JSON.stringify({ bootMs, loadMs: t1 - t0, firstMs: t2 - t1, secondMs: t3 - t2, failures }) + '\\n');
`;

interface ProbeResult {
  bootMs: number;
  loadMs: number;
  firstMs: number;
  secondMs: number;
  failures: number;
}

function runProbe(probeFile: string, bundle: string, events: unknown[], env: NodeJS.ProcessEnv) {
  return new Promise<ProbeResult>((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [probeFile, pathToFileURL(bundle).href, JSON.stringify(events)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.once('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`cold-start probe exited ${code}: ${err.slice(-2000)}`));
        return;
      }
      const result = JSON.parse(line) as ProbeResult;
      if (result.failures > 0) reject(new Error(`the bundled worker failed a record: ${err.slice(-2000)}`));
      else resolve({ ...result, bootMs: result.bootMs, wallMs: performance.now() - started } as ProbeResult);
    });
  });
}

export async function benchColdStart(options: BenchOptions): Promise<BenchRow[]> {
  const rounds = options.quick ? 3 : 7;
  const outDir = mkdtempSync(join(tmpdir(), 'lb-bench-bundle-'));
  const services = await startLocalServices();
  try {
    const bundles: BundledHandler[] = [];
    for (const name of Object.keys(handlerEntries) as HandlerName[]) {
      bundles.push(await bundleHandler(name, outDir));
    }
    // Resolve `sharp` (external, as in the Lambda asset) from the project's node_modules.
    symlinkSync(join(projectRoot, 'node_modules'), join(outDir, 'node_modules'), 'dir');
    const probeFile = join(outDir, 'probe.mjs');
    writeFileSync(probeFile, PROBE);
    const worker = bundles.find((b) => b.name === 'worker') as BundledHandler;

    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_S3: services.endpoints.s3,
      AWS_ENDPOINT_URL_DYNAMODB: services.endpoints.dynamodb,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      RESULTS_TABLE_NAME: services.resources.tableName,
      WORK_QUEUE_URL: services.resources.workQueue.queueUrl,
      VENDOR_URL: services.sandbox.endpointUrl,
      VENDOR_USER_ID: 'sandbox-user',
      VENDOR_API_KEY: 'sandbox-key',
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
    };
    const results: ProbeResult[] = [];
    for (let round = 0; round < rounds; round++) {
      const messages: VerifySelfieMessage[] = [];
      for (const n of [0, 1]) {
        const bytes = await syntheticFace({ seed: 70_000 + round * 2 + n, width: 320, height: 400 });
        messages.push(await services.putSelfie(`uploads/cold-start/r${round}-${n}.jpg`, bytes));
      }
      const events = messages.map((m, i) =>
        toSqsEvent(
          [{ MessageId: `cold-${round}-${i}`, ReceiptHandle: `rh-${round}-${i}`, Body: JSON.stringify(m) }],
          services.resources.workQueue.queueArn,
        ),
      );
      results.push(await runProbe(probeFile, worker.file, events, env));
    }
    const m = (pick: (r: ProbeResult) => number) => median(results.map(pick));
    options.log(
      `cold start: node boot ${fixed(
        m((r) => r.bootMs),
        0,
      )} ms, load ${fixed(
        m((r) => r.loadMs),
        0,
      )} ms, first record ${fixed(
        m((r) => r.firstMs),
        0,
      )} ms, second ${fixed(
        m((r) => r.secondMs),
        0,
      )} ms`,
    );
    const rows: BenchRow[] = [
      {
        section: 'cold start',
        metric: `worker bundle: import() in a fresh node, median of ${rounds}`,
        value: `${fixed(
          m((r) => r.loadMs),
          0,
        )} ms (node itself booted in ${fixed(
          m((r) => r.bootMs),
          0,
        )} ms)`,
      },
      {
        section: 'cold start',
        metric:
          'worker: first record (runtime build, S3 get, preflight, 6 table calls, vendor at 0 ms latency)',
        value: `${fixed(
          m((r) => r.firstMs),
          0,
        )} ms`,
      },
      {
        section: 'cold start',
        metric: 'worker: second record, same process (warm)',
        value: `${fixed(
          m((r) => r.secondMs),
          0,
        )} ms; cold load + first / warm = ${fixed((m((r) => r.loadMs) + m((r) => r.firstMs)) / m((r) => r.secondMs), 1)}×`,
      },
    ];
    for (const b of bundles) {
      rows.push({
        section: 'bundle size',
        metric: `${b.name} (index.mjs, minified, AWS SDK bundled${b.name === 'worker' ? ', sharp installed beside it' : ''})`,
        value: `${(b.bytes / 1024).toFixed(0)} KiB (${(b.gzipBytes / 1024).toFixed(0)} KiB gzipped; map ${(b.mapBytes / 1024).toFixed(0)} KiB)`,
      });
    }
    return rows;
  } finally {
    await services.stop();
    rmSync(outDir, { recursive: true, force: true });
  }
}
