/**
 * `npm run bench [-- --quick] [-- --only NAME[,NAME]]`: every benchmark, one table on stdout
 * (Markdown), progress on stderr. Ratios are measured within one run: the machine is shared.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';

import { parseArgs } from 'node:util';
import { benchAwsCost } from './aws-cost.ts';
import { benchColdStart } from './cold-start.ts';
import { describeMachine, loadAverage } from './machine.ts';
import { benchPipeline } from './pipeline-throughput.ts';
import { benchPreflight } from './preflight.ts';
import { type BenchOptions, type BenchRow, renderTable } from './table.ts';

const benches: Record<string, (options: BenchOptions) => Promise<BenchRow[]>> = {
  preflight: benchPreflight,
  'cold-start': benchColdStart,
  'aws-cost': benchAwsCost,
  // Throughput and peak RSS come from the same `liveness-batch run` child processes.
  pipeline: benchPipeline,
};

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } },
});
const only = values.only?.split(',') ?? Object.keys(benches);
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
    rows.push({ section: name, metric: 'failed', value: message.split('\n')[0] ?? 'error', verdict: 'FAIL' });
  }
}
console.log(`Machine: ${machine.join('; ')}`);
console.log(
  `Run: ${values.quick ? 'quick' : 'full'}, ${((Date.now() - started) / 1000).toFixed(0)} s; load average at end ${loadAverage()}\n`,
);
console.log(renderTable(rows));
if (failed) process.exitCode = 1;
