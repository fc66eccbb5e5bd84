import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../sandbox/ledger.ts';
import { faultFor, latencyFor } from '../../sandbox/outcomes.ts';
import {
  type RunningSandbox,
  SANDBOX_V3_PATH,
  SANDBOX_V4_PATH,
  type StartSandboxOptions,
  startSandbox,
} from '../../sandbox/server.ts';
import {
  livenessResponseSchema,
  PASSIVE_LIVENESS_VERIFICATION_TYPE,
} from '../../shared/liveness/contract.ts';
import { makeImage } from '../liveness/support.ts';

const auth = { userid: 'sandbox-user', apikey: 'sandbox-key' };
const running: RunningSandbox[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'sandbox-test-'));

async function sandboxWith(options: StartSandboxOptions = {}): Promise<RunningSandbox> {
  const sandbox = await startSandbox(options);
  running.push(sandbox);
  return sandbox;
}

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function post(url: string, body: unknown, headers: Record<string, string> = auth): Promise<Reply> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

function request(image: Buffer, transactionReference?: string) {
  return {
    verificationType: PASSIVE_LIVENESS_VERIFICATION_TYPE,
    selfie: image.toString('base64'),
    ...(transactionReference ? { transactionReference } : {}),
  };
}

let images: Buffer[];
beforeAll(async () => {
  images = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((shade) => makeImage(shade * 29)));
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  rmSync(scratch, { recursive: true, force: true });
});

function image(index: number): Buffer {
  const found = images[index];
  if (!found) throw new Error(`no image ${index}`);
  return found;
}

describe('sandbox: the contract', () => {
  it('answers with every field of the vendor sample, on both documented paths, with or without the slash', async () => {
    // Prepare
    const sandbox = await sandboxWith();
    const paths = [SANDBOX_V4_PATH, `${SANDBOX_V4_PATH}/`, SANDBOX_V3_PATH, SANDBOX_V3_PATH.slice(0, -1)];

    // Act
    const replies = await Promise.all(
      paths.map((p, i) => post(`${sandbox.baseUrl}${p}`, request(image(0), `paths-${i}`))),
    );

    // Assess
    for (const [i, reply] of replies.entries()) {
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-type')).toBe('application/json');
      expect(Object.keys(reply.body).sort()).toEqual(
        [
          'responseCode',
          'description',
          'verificationType',
          'verificationStatus',
          'transactionStatus',
          'transactionReference',
          'transactionDate',
          'searchParameter',
          'callBackUrl',
          'livenessScore',
          'paymentRef',
          'response',
          'faceMatch',
        ].sort(),
      );
      expect(livenessResponseSchema.parse(reply.body)).toMatchObject({
        responseCode: '00',
        verificationType: PASSIVE_LIVENESS_VERIFICATION_TYPE,
        transactionStatus: 'SUCCESSFUL',
        transactionReference: `paths-${i}`,
        searchParameter: null,
        callBackUrl: null,
        paymentRef: null,
        faceMatch: null,
        livenessScore: 0,
      });
      expect(reply.body.transactionDate).toMatch(/^\d{13}$/);
      expect(Math.abs(Number(reply.body.transactionDate) - Date.now())).toBeLessThan(60_000);
    }
  });

  it('generates a vendor-style reference when none is sent', async () => {
    // Prepare
    const sandbox = await sandboxWith();

    // Act
    const reply = await post(sandbox.endpointUrl, request(image(1)));

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.body.transactionReference).toMatch(/^\d{13}-[A-Z2-9]{8}$/);
    expect(sandbox.ledger()[0]).toMatchObject({ generatedReference: true, charged: true });
  });

  it.each(['png', 'webp'] as const)('accepts %s images', async (format) => {
    // Prepare
    const sandbox = await sandboxWith();

    // Act
    const reply = await post(sandbox.endpointUrl, request(await makeImage(3, format), `fmt-${format}`));

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.body.responseCode).toBe('00');
  });

  it('keeps scores consistent with the status, and swaps them for scoreDisagreeRate', async () => {
    // Prepare
    const live = await sandboxWith({ liveRatio: 1 });
    const spoof = await sandboxWith({ liveRatio: 0 });
    const contrary = await sandboxWith({ liveRatio: 1, scoreDisagreeRate: 1 });

    // Act
    const verified = await post(live.endpointUrl, request(image(2), 'consistent-1'));
    const notVerified = await post(spoof.endpointUrl, request(image(2), 'consistent-2'));
    const disagreeing = await post(contrary.endpointUrl, request(image(2), 'consistent-3'));

    // Assess
    const scores = (r: Reply) => r.body.response as { live_score: number; pop_score: number };
    expect(verified.body.verificationStatus).toBe('VERIFIED');
    expect(scores(verified).live_score).toBeGreaterThanOrEqual(70);
    expect(scores(verified).pop_score).toBeLessThanOrEqual(30);
    expect(notVerified.body.verificationStatus).toBe('NOT VERIFIED');
    expect(scores(notVerified).live_score).toBeLessThanOrEqual(40);
    expect(scores(notVerified).pop_score).toBeGreaterThanOrEqual(60);
    expect(disagreeing.body.verificationStatus).toBe('VERIFIED');
    expect(scores(disagreeing).live_score).toBeLessThanOrEqual(30);
    expect(scores(disagreeing).pop_score).toBeGreaterThanOrEqual(70);
  });

  it('answers GET /__sandbox/health with 200 and unknown routes with 404, GET on the endpoint with 405', async () => {
    // Prepare
    const sandbox = await sandboxWith();

    // Act
    const health = await fetch(`${sandbox.baseUrl}/__sandbox/health`);
    const unknown = await fetch(`${sandbox.baseUrl}/nope`);
    const wrongMethod = await fetch(sandbox.endpointUrl);

    // Assess
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(unknown.status).toBe(404);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });
});

describe('sandbox: refusals', () => {
  it.each([
    ['no headers', {}],
    ['a wrong key', { ...auth, apikey: 'sandbox-kez' }],
    ['a wrong user', { ...auth, userid: 'someone-else' }],
    ['a key of another length', { ...auth, apikey: 'sandbox-key-but-much-longer' }],
  ])('answers 401 for %s, without echoing the key', async (_name, headers) => {
    // Prepare
    const sandbox = await sandboxWith();

    // Act
    const reply = await post(
      sandbox.endpointUrl,
      request(image(0), 'auth-1'),
      headers as Record<string, string>,
    );

    // Assess
    expect(reply.status).toBe(401);
    expect(reply.body.responseCode).not.toBe('00');
    expect(String(reply.body.description)).toMatch(/unauthorized/i);
    expect(JSON.stringify(reply.body)).not.toContain('sandbox-ke');
    expect(sandbox.ledger()).toEqual([
      expect.objectContaining({ httpStatus: 401, charged: false, sha256: null }),
    ]);
  });

  it('accepts custom credentials and refuses the defaults then', async () => {
    // Prepare
    const sandbox = await sandboxWith({ userId: 'u-1', apiKey: 'k-1' });

    // Act
    const defaults = await post(sandbox.endpointUrl, request(image(0), 'c-1'));
    const custom = await post(sandbox.endpointUrl, request(image(0), 'c-2'), {
      userid: 'u-1',
      apikey: 'k-1',
    });

    // Assess
    expect(defaults.status).toBe(401);
    expect(custom.status).toBe(200);
  });

  it.each([
    ['a body that is not JSON', () => '{"verificationType":', /not valid JSON/],
    ['a JSON array', () => '[]', /JSON object/],
    [
      'a missing verificationType',
      () => ({ selfie: image(0).toString('base64') }),
      /verificationType is missing/,
    ],
    [
      'a wrong verificationType',
      () => ({ ...request(image(0)), verificationType: 'PASSIVE-LIVENESS-VERIFICATION' }),
      /verificationType is not supported: expected exactly "PASSIVE-LIVELINESS-VERIFICATION"/,
    ],
    [
      'a missing selfie',
      () => ({ verificationType: PASSIVE_LIVENESS_VERIFICATION_TYPE }),
      /selfie is missing/,
    ],
    ['a numeric selfie', () => ({ ...request(image(0)), selfie: 12 }), /selfie is missing/],
    [
      'a data-URL prefix',
      () => ({ ...request(image(0)), selfie: `data:image/jpeg;base64,${image(0).toString('base64')}` }),
      /data-URL prefix/,
    ],
    [
      'characters outside the alphabet',
      () => ({ ...request(image(0)), selfie: 'abc$defg' }),
      /position 3 is outside/,
    ],
    [
      'line breaks in the base64',
      () => ({
        ...request(image(0)),
        selfie: `${image(0).toString('base64').slice(0, 8)}\n${image(0).toString('base64').slice(8)}`,
      }),
      /position 8 is outside/,
    ],
    ['url-safe base64', () => ({ ...request(image(0)), selfie: 'ab-_' }), /outside the base64 alphabet/],
    ['missing padding', () => ({ ...request(image(0)), selfie: 'abcde' }), /multiple of 4/],
    ['padding in the middle', () => ({ ...request(image(0)), selfie: 'ab==abcd' }), /padding/],
    [
      'bytes that are not an image',
      () => ({ ...request(image(0)), selfie: Buffer.from('just some text here').toString('base64') }),
      /not a JPEG, PNG or WebP/,
    ],
    [
      'a GIF',
      () => ({ ...request(image(0)), selfie: Buffer.from('GIF89a\x01\x00\x01\x00').toString('base64') }),
      /not a JPEG, PNG or WebP/,
    ],
    [
      'a truncated JPEG',
      () => ({
        ...request(image(0)),
        selfie: image(0)
          .subarray(0, image(0).length - 2)
          .toString('base64'),
      }),
      /jpeg image could not be decoded/,
    ],
    [
      'a JPEG header followed by garbage',
      () => ({
        ...request(image(0)),
        selfie: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(200, 7)]).toString(
          'base64',
        ),
      }),
      /could not be decoded/,
    ],
    [
      'an empty transactionReference',
      () => ({ ...request(image(0)), transactionReference: '' }),
      /transactionReference/,
    ],
  ])('answers 400 with a description for %s', async (_name, body, description) => {
    // Prepare
    const sandbox = await sandboxWith();

    // Act
    const reply = await post(sandbox.endpointUrl, body());

    // Assess
    expect(reply.status).toBe(400);
    expect(reply.body.responseCode).toMatch(/^\d\d$/);
    expect(reply.body.responseCode).not.toBe('00');
    expect(String(reply.body.description)).toMatch(description);
    expect(sandbox.ledger()).toEqual([expect.objectContaining({ httpStatus: 400, charged: false })]);
  });

  it('answers 400 (not 413) for a body over the size limit, and stays usable', async () => {
    // Prepare
    const sandbox = await sandboxWith({ maxBodyBytes: 4_096 });
    const big = await makeImage(9, 'png');
    const oversized = { ...request(big, 'big-1'), padding: 'x'.repeat(200_000) };

    // Act
    const reply = await post(sandbox.endpointUrl, oversized);
    const after = await post(sandbox.endpointUrl, request(image(0), 'big-2'));

    // Assess
    expect(reply.status).toBe(400);
    expect(String(reply.body.description)).toMatch(/exceeds the sandbox limit of 4096 bytes/);
    expect(after.status).toBe(200);
  });
});

describe('sandbox: determinism', () => {
  it('gives the same image the same answer across servers with the same seed', async () => {
    // Prepare
    const a = await sandboxWith({ seed: 'same', liveRatio: 0.5 });
    const b = await sandboxWith({ seed: 'same', liveRatio: 0.5 });
    const pick = (r: Reply) => [r.body.verificationStatus, r.body.response];

    // Act
    const fromA = await Promise.all(images.map((img, i) => post(a.endpointUrl, request(img, `a-${i}`))));
    const fromB = await Promise.all(images.map((img, i) => post(b.endpointUrl, request(img, `b-${i}`))));
    const againA = await post(a.endpointUrl, request(image(0), 'a-again'));

    // Assess
    expect(fromA.map(pick)).toEqual(fromB.map(pick));
    expect(pick(againA)).toEqual(pick(fromA[0] as Reply));
    const statuses = new Set(fromA.map((r) => r.body.verificationStatus));
    expect(statuses).toEqual(new Set(['VERIFIED', 'NOT VERIFIED']));
  });

  it('decides faults from (seed, reference, call number), whatever the arrival order', async () => {
    // Prepare
    const options = { seed: 'faults', pendingRate: 0.25, errorRate: 0.25, throttleRate: 0.25 };
    const serial = await sandboxWith(options);
    const concurrent = await sandboxWith(options);
    const refs = Array.from({ length: 24 }, (_, i) => `fault-${i}`);

    // Act
    for (const ref of refs) await post(serial.endpointUrl, request(image(0), ref));
    await Promise.all([...refs].reverse().map((ref) => post(concurrent.endpointUrl, request(image(0), ref))));

    // Assess
    const byRef = (entries: LedgerEntry[]) =>
      Object.fromEntries(entries.map((e) => [e.transactionReference, [e.httpStatus, e.verificationStatus]]));
    expect(byRef(concurrent.ledger())).toEqual(byRef(serial.ledger()));
    const expected = refs.map((ref) => faultFor(ref, 0, { ...options, hangRate: 0 }));
    expect(serial.ledger().map((e) => e.fault ?? null)).toEqual(expected);
    expect(new Set(expected)).toEqual(new Set(['pending', 'error', 'throttle', null]));
  });

  it('sends each fault as the contract shapes it', async () => {
    // Prepare
    const pending = await sandboxWith({ pendingRate: 1 });
    const failing = await sandboxWith({ errorRate: 1 });
    const throttled = await sandboxWith({ throttleRate: 1 });

    // Act
    const p = await post(pending.endpointUrl, request(image(0), 'f-1'));
    const e = await post(failing.endpointUrl, request(image(0), 'f-2'));
    const t = await post(throttled.endpointUrl, request(image(0), 'f-3'));

    // Assess
    expect(p.status).toBe(200);
    expect(livenessResponseSchema.parse(p.body)).toMatchObject({
      verificationStatus: 'PENDING',
      responseCode: '01',
      transactionStatus: 'FAILED',
      response: null,
    });
    expect(e.status).toBe(500);
    expect(e.body.responseCode).not.toBe('00');
    expect(t.status).toBe(429);
    expect(t.headers.get('retry-after')).toBe('1');
  });

  it('applies latency without blocking other requests', async () => {
    // Prepare: two references whose (deterministic) latencies on their first call are far apart
    const sandbox = await sandboxWith({ latencyMs: { min: 0, max: 2000 } });
    const latency = (reference: string) =>
      latencyFor(sandbox.options.seed, reference, 0, sandbox.options.latencyMs);
    const names = Array.from({ length: 500 }, (_, i) => `lat-${i}`);
    const slowRef = names.find((name) => latency(name) >= 1500);
    const fastRef = names.find((name) => latency(name) <= 100);
    if (!slowRef || !fastRef) throw new Error('no references with far-apart latencies: widen the search');
    let slowAnswered = false;

    // Act: the slow call is received (the ledger records it before its delay), then the fast one is sent
    const slow = post(sandbox.endpointUrl, request(images[0] as Buffer, slowRef)).then((reply) => {
      slowAnswered = true;
      return reply;
    });
    await expect.poll(() => sandbox.ledger().length).toBe(1);
    const fast = await post(sandbox.endpointUrl, request(images[1] as Buffer, fastRef));
    const fastBeforeSlow = !slowAnswered;

    // Assess: the fast answer did not queue behind the slow one
    expect(fast.status).toBe(200);
    expect(fastBeforeSlow).toBe(true);
    expect((await slow).status).toBe(200);
  });
});

describe('sandbox: the charge ledger', () => {
  it('writes one JSON line per request and serves the same entries over HTTP', async () => {
    // Prepare
    const ledgerFile = join(scratch, 'lines.jsonl');
    const sandbox = await sandboxWith({ ledgerFile, liveRatio: 1 });

    // Act
    await post(sandbox.endpointUrl, request(image(0), 'line-1'));
    await post(sandbox.endpointUrl, request(image(1), 'line-2'), { ...auth, apikey: 'wrong' });
    await post(sandbox.endpointUrl, { ...request(image(2), 'line-3'), verificationType: 'X' });
    const served = (await (await fetch(`${sandbox.baseUrl}/__sandbox/ledger`)).json()) as LedgerEntry[];

    // Assess
    const lines = readFileSync(ledgerFile, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as LedgerEntry);
    expect(lines).toEqual(served);
    expect(lines).toEqual(sandbox.ledger());
    expect(lines.map((l) => [l.seq, l.transactionReference, l.httpStatus, l.charged])).toEqual([
      [1, 'line-1', 200, true],
      [2, null, 401, false],
      [3, 'line-3', 400, false],
    ]);
    const createdHash = createHash('sha256').update(image(0)).digest('hex');
    expect(lines[0]).toMatchObject({
      sha256: createdHash,
      responseCode: '00',
      verificationStatus: 'VERIFIED',
    });
    expect(Date.parse(String(lines[0]?.at))).not.toBeNaN();
  });

  it('with dedupeReferences on, does not charge a repeated reference twice and returns the same answer', async () => {
    // Prepare
    const sandbox = await sandboxWith({ dedupeReferences: true });

    // Act
    const first = await post(sandbox.endpointUrl, request(image(3), 'dup-1'));
    const again = await post(sandbox.endpointUrl, request(image(3), 'dup-1'));
    const concurrent = await Promise.all(
      [1, 2, 3, 4].map(() => post(sandbox.endpointUrl, request(image(4), 'dup-2'))),
    );

    // Assess
    expect(again.body).toEqual(first.body);
    for (const reply of concurrent) expect(reply.body).toEqual(concurrent[0]?.body);
    const entries = sandbox.ledger();
    expect(
      entries.filter((e) => e.transactionReference === 'dup-1').map((e) => [e.charged, e.replayOf]),
    ).toEqual([
      [true, undefined],
      [false, 1],
    ]);
    const dup2 = entries.filter((e) => e.transactionReference === 'dup-2');
    expect(dup2.filter((e) => e.charged)).toHaveLength(1);
    expect(dup2.filter((e) => e.replayOf !== undefined)).toHaveLength(3);
  });

  it('does not charge failures by default, but does with chargeFailures', async () => {
    // Prepare
    const free = await sandboxWith({ pendingRate: 0.5, errorRate: 0.5, dedupeReferences: true });
    const paid = await sandboxWith({
      pendingRate: 0.5,
      errorRate: 0.5,
      chargeFailures: true,
      dedupeReferences: true,
    });

    // Act
    for (const i of [1, 2, 3, 4, 5, 6]) {
      await post(free.endpointUrl, request(image(0), `cf-${i}`));
      await post(paid.endpointUrl, request(image(0), `cf-${i}`));
    }
    const replay = await post(paid.endpointUrl, request(image(0), 'cf-1'));

    // Assess
    expect(free.ledger().every((e) => !e.charged)).toBe(true);
    expect(
      paid
        .ledger()
        .slice(0, 6)
        .every((e) => e.charged),
    ).toBe(true);
    expect(paid.ledger()[6]).toMatchObject({ charged: false, replayOf: 1 });
    expect(replay.status).toBe(paid.ledger()[0]?.httpStatus);
  });

  it('loads an existing ledger file, so charges survive a restart (and a torn last line)', async () => {
    // Prepare
    const ledgerFile = join(scratch, 'restart.jsonl');
    const first = await startSandbox({ ledgerFile, liveRatio: 1, dedupeReferences: true });
    const original = await post(first.endpointUrl, request(image(5), 'restart-1'));
    await first.stop();
    writeFileSync(ledgerFile, `${readFileSync(ledgerFile, 'utf8')}{"seq":2,"at":"2025-`);

    // Act
    const second = await sandboxWith({ ledgerFile, liveRatio: 1, dedupeReferences: true });
    const replay = await post(second.endpointUrl, request(image(5), 'restart-1'));
    const fresh = await post(second.endpointUrl, request(image(6), 'restart-2'));

    // Assess
    expect(replay.body).toEqual(original.body);
    const entries = second.ledger();
    expect(entries.map((e) => [e.seq, e.transactionReference, e.charged, e.replayOf])).toEqual([
      [1, 'restart-1', true, undefined],
      [2, 'restart-1', false, 1],
      [3, 'restart-2', true, undefined],
    ]);
    expect(fresh.status).toBe(200);
    const lines = readFileSync(ledgerFile, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(4);
    expect(JSON.parse(lines[3] ?? '{}')).toMatchObject({ seq: 3, transactionReference: 'restart-2' });
  });
});

describe('sandbox: stopping', () => {
  it('stops promptly with a hung request and idle keep-alive connections', async () => {
    // Prepare
    const sandbox = await startSandbox({ hangRate: 1 });
    const hung = fetch(sandbox.endpointUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify(request(image(0), 'hang-1')),
    }).then(
      () => 'answered',
      () => 'connection closed',
    );
    await fetch(`${sandbox.baseUrl}/__sandbox/health`);
    await expect.poll(() => sandbox.ledger().length).toBeGreaterThan(0);

    // Act: a stop() that waited for the hung call would never return (the test would time out)
    await sandbox.stop();

    // Assess
    expect(await hung).toBe('connection closed');
    expect(sandbox.ledger()).toEqual([
      expect.objectContaining({ httpStatus: null, fault: 'hang', charged: false }),
    ]);
    await expect(fetch(`${sandbox.baseUrl}/__sandbox/health`)).rejects.toThrow();
  });

  it('refuses invalid options', async () => {
    // Act / Assess
    await expect(startSandbox({ pendingRate: 0.6, errorRate: 0.6 })).rejects.toThrow(/must not exceed 1/);
    await expect(startSandbox({ liveRatio: 1.5 })).rejects.toThrow(/liveRatio/);
    await expect(startSandbox({ latencyMs: { min: 5, max: 1 } })).rejects.toThrow(/min must not exceed max/);
  });
});
