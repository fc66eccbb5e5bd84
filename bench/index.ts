/**
 * `npm run bench [-- --quick] [-- --only NAME[,NAME]]`: every benchmark, one table on stdout
 * (Markdown), progress on stderr. Ratios are measured within one run: the machine is shared.
 */
// First: it sets the environment the imports below read when they load.
import './support/bench-env.ts';
import { parseArgs } from 'node:util';
import { benchAwsCost } from './aws-cost.ts';
import { benchColdStart } from './cold-start.ts';
import { benchDynamoDbLocal } from './dynamodb-local.ts';
import { describeMachine, loadAverage } from './machine.ts';
import { benchPipeline } from './pipeline-throughput.ts';
import { benchPreflight } from './preflight.ts';
import { benchSideBySide } from './side-by-side.ts';
import { type BenchOptions, type BenchRow, renderTable } from './table.ts';

const benches: Record<string, (options: BenchOptions) => Promise<BenchRow[]>> = {
  preflight: benchPreflight,
  'cold-start': benchColdStart,
  'aws-cost': benchAwsCost,
  // Ratios to a plain pool and the batch barrier, overhead, phone photos, latency: one sandbox process.
  'side-by-side': benchSideBySide,
  // DynamoDB Local's CPU per request by kind, and the batch summary item under 64 concurrent decisions.
  'dynamodb-local': benchDynamoDbLocal,
  // Absolute throughput at 1,000 and 5,000 small selfies with the embedded sandbox (not in the default run).
  pipeline: benchPipeline,
};
/** What a plain `npm run bench` runs; `pipeline` is asked for by name. */
const defaults = ['preflight', 'cold-start', 'aws-cost', 'dynamodb-local', 'side-by-side'];

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } },
});
const only = values.only?.split(',') ?? defaults;
const unknown = only.filter((name) => !(name in benches));
if (unknown.length > 0) {
  console.error(`Unknown bench ${unknown.join(', ')}; choose from ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}

const options: BenchOptions = {
  quick: values.quick ?? false,
  log: (line) => console.error(`[bench] ${line}`),
};
const machine = describeMachine();
const started = Date.now();
const rows: BenchRow[] = [];
let failed = false;
for (const name of only) {
  options.log(`${name}…`);
  try {
    const measured = await (benches[name] as (o: BenchOptions) => Promise<BenchRow[]>)(options);
    // Also on stderr as each bench ends, so a later failure does not lose what was measured.
    options.log(`\n${renderTable(measured)}`);
    rows.push(...measured);
  } catch (error) {
    failed = true;
    const message = error instanceof Error ? error.message : String(error);
    options.log(`${name} failed: ${message}`);
    rows.push({
      section: name,
      metric: 'failed',
      value: message.split('\n')[0] ?? 'error',
      verdict: 'missed',
    });
  }
}
console.log(`Machine: ${machine.join('; ')}`);
console.log(
  `Run: ${values.quick ? 'quick' : 'full'}, ${((Date.now() - started) / 1000).toFixed(0)} s; load average at end ${loadAverage()}\n`,
);
// Judged figures (the ratios issue 15 sets targets for) first, absolute figures after, each in run order.
console.log(renderTable([...rows.filter((r) => r.target), ...rows.filter((r) => !r.target)]));
if (failed) process.exitCode = 1;
