/**
 * The vendor sandbox in a process of its own, so the bench can read its CPU apart from the
 * pipeline's (the sandbox stands in for the vendor, whose CPU is not ours). In front of it sits a
 * small delaying proxy, because the benches need a latency shape the sandbox has no switch for:
 * every call answered after L ms, except a share of slow calls answered after S ms, chosen by a
 * seeded draw per call. The sandbox itself answers at once.
 *
 * Started by bench/support/sandbox-child.ts as `node --import tsx bench/support/sandbox-process.ts`;
 * prints one JSON line `{ "url": ... }` on stdout when it listens. The latency shape is changed
 * between runs with `POST /__bench/latency {"latencyMs":L,"slowRate":R,"slowMs":S}`.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SANDBOX_V4_PATH, startSandbox } from '../../sandbox/server.ts';
import { seededRandom } from '../../testkit/images.ts';

const sandbox = await startSandbox({ port: 0, seed: 'bench', latencyMs: 0 });
const target = new URL(sandbox.baseUrl);
const shape = { latencyMs: 0, slowRate: 0, slowMs: 0 };
let random = seededRandom(1);

const server = createServer((req, res) => {
  if (req.url === '/__bench/latency' && req.method === 'POST') {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      Object.assign(shape, JSON.parse(body) as typeof shape);
      random = seededRandom(1);
      res.end('{}');
    });
    return;
  }
  const delay = random() < shape.slowRate ? shape.slowMs : shape.latencyMs;
  const started = performance.now();
  const forward = request(
    {
      host: target.hostname,
      port: target.port,
      path: req.url,
      method: req.method,
      headers: req.headers,
    },
    (answer) => {
      const remaining = delay - (performance.now() - started);
      setTimeout(
        () => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
        Math.max(0, remaining),
      );
    },
  );
  forward.on('error', () => {
    res.writeHead(502);
    res.end();
  });
  req.pipe(forward);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}${SANDBOX_V4_PATH}` })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  void sandbox.stop().then(() => process.exit(0));
});
