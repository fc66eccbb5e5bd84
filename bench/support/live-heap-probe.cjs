// Preloaded (node --expose-gc --require) into the `liveness-batch run` child of the pipeline bench:
// every LIVE_HEAP_INTERVAL_MS it forces a full GC and appends the heap still in use, i.e. what the
// process really holds, to LIVE_HEAP_FILE. RSS alone cannot say that: V8 sizes its heap from the
// allocation rate, so RSS keeps climbing for the first minute or two of a run whatever is retained.
// CommonJS because --require runs before any ESM loader.
const { appendFileSync } = require('node:fs');

const file = process.env.LIVE_HEAP_FILE;
if (file && typeof global.gc === 'function') {
  const interval = Number(process.env.LIVE_HEAP_INTERVAL_MS) || 10_000;
  const started = Date.now();
  setInterval(() => {
    global.gc();
    const { heapUsed, external } = process.memoryUsage();
    appendFileSync(file, `${JSON.stringify({ t: Date.now() - started, heapUsed, external })}\n`);
  }, interval).unref();
}
