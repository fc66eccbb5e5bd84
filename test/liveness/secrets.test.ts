import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type StartSandboxOptions, startSandbox } from '../../sandbox/server.ts';
import { LivenessClient } from '../../shared/liveness/client.ts';
import { verifyWithRetries } from '../../shared/liveness/retry.ts';
import { closedPort, makeImage, startCannedServer, startRawServer, tamperingFetch } from './support.ts';

const apiKey = 'k3y-THAT-must-never-leak-0123456789';
const userId = 'secret-test-user';

/** Everything written to the console or the process streams while a test runs. */
function captureOutput() {
  const lines: string[] = [];
  const record = (...args: unknown[]) => {
    lines.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 10 }))).join(' '));
  };
  const spies = [
    ...(['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation(record),
    ),
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      record(String(chunk));
      return true;
    }),
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => {
      record(String(chunk));
      return true;
    }),
  ];
  const restore = () => {
    for (const spy of spies) spy.mockRestore();
  };
  return { lines, restore };
}

describe('secrets: no image bytes, base64 or API key in results, errors or output', () => {
  let output: ReturnType<typeof captureOutput>;
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it('holds for every outcome class, including vendors that echo the request back', async () => {
    // Prepare
    const image = await makeImage(77, 'png');
    const base64 = image.toString('base64');
    const needles = [apiKey, base64, base64.slice(40, 100), image.toString('latin1').slice(20, 60)];
    const collected: unknown[] = [];
    const sandboxes = [];
    const call = async (
      endpointUrl: string,
      extra: { fetch?: typeof fetch; apiKey?: string; timeoutMs?: number } = {},
    ) => {
      const client = new LivenessClient({ endpointUrl, userId, apiKey, timeoutMs: 2_000, ...extra });
      collected.push(client, inspect(client, { showHidden: true }));
      const result = await client.call(image, 'ref-secret');
      collected.push(result);
      return result;
    };
    const faults: StartSandboxOptions[] = [
      { liveRatio: 1 },
      { liveRatio: 0 },
      { pendingRate: 1 },
      { errorRate: 1 },
      { throttleRate: 1 },
      { hangRate: 1 },
      { pendingDebitRate: 1 },
      { forbiddenRate: 1 },
      { lateRate: 1, lateAfterMs: 60_000 },
      // A redirect whose Location carries the key in its query: only the host may survive.
      { redirectRate: 1, redirectTo: `http://127.0.0.1:9/steal?key=${apiKey}` },
    ];
    const outcomes = new Set<string>();
    for (const fault of faults) {
      const sandbox = await startSandbox({ userId, apiKey, ...fault, onEntry: (e) => console.log(e) });
      sandboxes.push(sandbox);
      outcomes.add((await call(sandbox.endpointUrl, { timeoutMs: 300 })).outcome);
      collected.push(sandbox.ledger(), await (await fetch(`${sandbox.baseUrl}/__sandbox/ledger`)).text());
    }
    const plain = sandboxes[0];
    if (!plain) throw new Error('no sandbox');
    outcomes.add((await call(plain.endpointUrl, { apiKey: `${apiKey}-wrong` })).outcome);
    const tampered = tamperingFetch((body) => ({
      ...body,
      selfie: `data:image/png;base64,${String(body.selfie)}`,
    }));
    outcomes.add((await call(plain.endpointUrl, { fetch: tampered })).outcome);
    outcomes.add((await call(`http://127.0.0.1:${await closedPort()}/x`)).outcome);
    const retried = await verifyWithRetries({
      client: new LivenessClient({ endpointUrl: plain.endpointUrl, userId, apiKey, timeoutMs: 2_000 }),
      image,
      firstAttempt: 1,
      maxAttempts: 2,
      deadline: Date.now() + 30_000,
      backoff: { baseMs: 1, maxMs: 2 },
      beginAttempt: async (n) => `ref-secret-${n}`,
      endAttempt: async (record) => {
        collected.push(record);
      },
    });
    collected.push(retried);

    // Prepare (echo): a canned-answer server that echoes the selfie and the key back in every field it can.
    for (const status of [200, 400, 401, 429, 500]) {
      const echo = await startCannedServer((request, req) => ({
        status,
        body: JSON.stringify({
          responseCode: status === 200 ? '00' : 'E1',
          description: `bad selfie ${String(request.selfie)} for key ${String(req.headers.apikey)}`,
          verificationStatus: 'VERIFIED',
          transactionStatus: String(req.headers.apikey),
          transactionReference: String(request.selfie).slice(0, 150),
          selfie: request.selfie,
          response: { pop_score: 1, live_score: 99 },
          nested: [{ apiKey: req.headers.apikey, fragment: String(request.selfie).slice(30, 130) }],
        }),
      }));
      const result = await call(echo.url);
      outcomes.add(result.outcome);
      await echo.stop();
    }
    const garbage = await startCannedServer((request) => ({
      status: 200,
      body: `not json ${String(request.selfie)}`,
    }));
    outcomes.add((await call(garbage.url)).outcome);
    await garbage.stop();
    const truncated = await startRawServer((_req, res, body) => {
      const request = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '999999' });
      res.write(`{"description":"${String(request.selfie)}`);
      setTimeout(() => res.socket?.destroy(), 20);
    });
    outcomes.add((await call(truncated.url)).outcome);
    await truncated.stop();

    const errors: unknown[] = [];
    for (const make of [
      () => new LivenessClient({ endpointUrl: `not a url ${apiKey}`, userId, apiKey, timeoutMs: 1 }),
      () => new LivenessClient({ endpointUrl: 'http://127.0.0.1:1/', userId, apiKey, timeoutMs: -1 }),
      () => startSandbox({ userId, apiKey, pendingRate: 2 }),
    ]) {
      try {
        await make();
      } catch (error) {
        errors.push(error, inspect(error), String(error));
      }
    }
    await Promise.all(sandboxes.map((s) => s.stop()));

    // Assess
    expect(outcomes).toEqual(new Set(['completed', 'pending', 'retryable', 'uncertain', 'permanent']));
    expect(errors).toHaveLength(9);
    const haystacks = {
      results: JSON.stringify(collected) + collected.map((c) => inspect(c, { depth: 20 })).join('\n'),
      errors: errors.map((e) => (typeof e === 'string' ? e : inspect(e, { depth: 20 }))).join('\n'),
      output: output.lines.join('\n'),
    };
    for (const [where, text] of Object.entries(haystacks)) {
      for (const needle of needles) {
        expect(text.includes(needle), `${where} contains a secret (${needle.slice(0, 12)}…)`).toBe(false);
      }
    }
    expect(haystacks.results).toContain('[redacted]');
  });
});
