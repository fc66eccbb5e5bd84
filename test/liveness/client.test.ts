import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSandbox, type StartSandboxOptions, startSandbox } from '../../sandbox/server.ts';
import {
  type CallResult,
  type CompletedResult,
  LivenessClient,
  type PendingResult,
  type PermanentResult,
  parseRetryAfter,
  type RetryableResult,
} from '../../shared/liveness/client.ts';
import {
  PASSIVE_LIVENESS_VERIFICATION_TYPE,
  vendorAnswerRecordSchema,
} from '../../shared/liveness/contract.ts';
import {
  type CannedAnswer,
  closedPort,
  makeImage,
  startCannedServer,
  startRawServer,
  tamperingFetch,
} from './support.ts';

const credentials = { userId: 'sandbox-user', apiKey: 'sandbox-key' };
const running: RunningSandbox[] = [];

async function sandboxWith(options: StartSandboxOptions): Promise<RunningSandbox> {
  const sandbox = await startSandbox({ ...credentials, ...options });
  running.push(sandbox);
  return sandbox;
}

function clientFor(
  endpointUrl: string,
  extra: Partial<ConstructorParameters<typeof LivenessClient>[0]> = {},
) {
  return new LivenessClient({ endpointUrl, ...credentials, timeoutMs: 5_000, ...extra });
}

function expectTiming(result: CallResult) {
  expect(Date.parse(result.startedAt)).not.toBeNaN();
  expect(Date.parse(result.endedAt)).toBeGreaterThanOrEqual(Date.parse(result.startedAt));
  expect(result.durationMs).toBeGreaterThanOrEqual(0);
  expect(result.detail.length).toBeGreaterThan(0);
}

let image: Buffer;
beforeAll(async () => {
  image = await makeImage(10);
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
});

describe('LivenessClient against the sandbox', () => {
  it('classifies a VERIFIED answer as completed, debited, with scores and the bounded answer record', async () => {
    // Prepare
    const sandbox = await sandboxWith({ liveRatio: 1 });
    const client = clientFor(sandbox.endpointUrl);

    // Act
    const result = await client.call(image, 'ref-verified-1');

    // Assess
    expect(result.outcome).toBe('completed');
    const completed = result as CompletedResult;
    expect(completed).toMatchObject({
      httpStatus: 200,
      responseCode: '00',
      verificationStatus: 'VERIFIED',
      debitStatus: 'SUCCESSFUL',
      debited: true,
      description: 'Success',
      transactionReference: 'ref-verified-1',
      livenessScore: 0,
    });
    expect(completed.liveScore).toBeGreaterThanOrEqual(70);
    expect(completed.popScore).toBeLessThanOrEqual(30);
    expect(completed.transactionDate).toMatch(/^\d{13}$/);
    expect(vendorAnswerRecordSchema.safeParse(completed.raw).success).toBe(true);
    expect(completed.raw).toMatchObject({
      responseCode: '00',
      verificationStatus: 'VERIFIED',
      transactionStatus: 'SUCCESSFUL',
      transactionReference: 'ref-verified-1',
      response: { live_score: completed.liveScore, pop_score: completed.popScore },
    });
    expect(completed.raw.bodyBytes).toBeGreaterThan(100);
    expectTiming(result);
  });

  it('classifies a NOT VERIFIED answer as completed, with scores that agree', async () => {
    // Prepare
    const sandbox = await sandboxWith({ liveRatio: 0 });

    // Act
    const result = await clientFor(sandbox.endpointUrl).call(image, 'ref-not-verified-1');

    // Assess
    expect(result).toMatchObject({
      outcome: 'completed',
      verificationStatus: 'NOT VERIFIED',
      responseCode: '00',
    });
    const completed = result as CompletedResult;
    expect(completed.liveScore).toBeLessThanOrEqual(40);
    expect(completed.popScore).toBeGreaterThanOrEqual(60);
  });

  it('classifies PENDING as pending, keeping its non-00 code, not debited', async () => {
    // Prepare
    const sandbox = await sandboxWith({ pendingRate: 1 });

    // Act
    const result = await clientFor(sandbox.endpointUrl).call(image, 'ref-pending-1');

    // Assess
    expect(result.outcome).toBe('pending');
    const pending = result as PendingResult;
    expect(pending.httpStatus).toBe(200);
    expect(pending.responseCode).not.toBe('00');
    expect(pending.raw.verificationStatus).toBe('PENDING');
    expect(pending.detail).toContain('PENDING');
    expect(pending).toMatchObject({ debited: false, debitStatus: 'FAILED' });
    expectTiming(result);
  });

  it('classifies HTTP 500 as retryable', async () => {
    // Prepare
    const sandbox = await sandboxWith({ errorRate: 1 });

    // Act
    const result = await clientFor(sandbox.endpointUrl).call(image, 'ref-500');

    // Assess
    expect(result).toMatchObject({ outcome: 'retryable', reason: 'server_error', httpStatus: 500 });
    expectTiming(result);
  });

  it('classifies HTTP 429 as retryable and reads Retry-After seconds', async () => {
    // Prepare
    const sandbox = await sandboxWith({ throttleRate: 1 });

    // Act
    const result = await clientFor(sandbox.endpointUrl).call(image, 'ref-429');

    // Assess
    expect(result).toMatchObject({
      outcome: 'retryable',
      reason: 'throttled',
      httpStatus: 429,
      retryAfterMs: 1000,
    });
  });

  it('classifies no answer within timeoutMs as an uncertain timeout (it may have been charged)', async () => {
    // Prepare
    const sandbox = await sandboxWith({ hangRate: 1 });
    const client = clientFor(sandbox.endpointUrl, { timeoutMs: 300 });

    // Act
    const result = await client.call(image, 'ref-hang');

    // Assess
    expect(result).toMatchObject({
      outcome: 'uncertain',
      reason: 'timeout',
      debited: false,
      debitStatus: null,
    });
    expect(result.httpStatus).toBeUndefined();
    // The sandbox never answers: only the client's own timeout can have ended the call.
    expect(result.durationMs).toBeGreaterThanOrEqual(290);
  });

  it('classifies a refused connection as a retryable network error (the request never left)', async () => {
    // Prepare
    const port = await closedPort();
    const client = clientFor(`http://127.0.0.1:${port}/sfx-v4-verify/v4/id-service`);

    // Act
    const result = await client.call(image, 'ref-network');

    // Assess
    expect(result).toMatchObject({ outcome: 'retryable', reason: 'network', debited: false });
    expect(result.detail).toContain('ECONNREFUSED');
  });

  it('classifies 401 as permanent and marks it unauthorized', async () => {
    // Prepare
    const sandbox = await sandboxWith({});
    const client = new LivenessClient({
      endpointUrl: sandbox.endpointUrl,
      userId: 'sandbox-user',
      apiKey: 'wrong-key',
      timeoutMs: 5_000,
    });

    // Act
    const result = await client.call(image, 'ref-401');

    // Assess
    expect(result).toMatchObject({
      outcome: 'permanent',
      reason: 'unauthorized',
      unauthorized: true,
      systemic: true,
      httpStatus: 401,
    });
  });

  it.each([
    ['bytes that are not an image', undefined, 'not a JPEG, PNG or WebP'],
    [
      'a wrong verificationType',
      (body: Record<string, unknown>) => ({ ...body, verificationType: 'ACTIVE-LIVENESS' }),
      'verificationType',
    ],
    [
      'base64 with a data-URL prefix',
      (body: Record<string, unknown>) => ({
        ...body,
        selfie: `data:image/jpeg;base64,${String(body.selfie)}`,
      }),
      'data-URL',
    ],
  ])('classifies 400 for %s as permanent, with the vendor description', async (_name, rewrite, words) => {
    // Prepare
    const sandbox = await sandboxWith({});
    const client = clientFor(sandbox.endpointUrl, rewrite ? { fetch: tamperingFetch(rewrite) } : {});
    const payload = rewrite ? image : Buffer.from('this is plain text, not a picture');

    // Act
    const result = await client.call(payload, 'ref-400');

    // Assess
    expect(result).toMatchObject({
      outcome: 'permanent',
      reason: 'bad_request',
      unauthorized: false,
      systemic: false,
      httpStatus: 400,
    });
    expect(result.responseCode).toMatch(/^(?!00$)/);
    expect(result.detail).toContain(words);
  });

  it('works against the older v3 endpoint too', async () => {
    // Prepare
    const sandbox = await sandboxWith({ liveRatio: 1 });

    // Act
    const result = await clientFor(sandbox.legacyEndpointUrl).call(image, 'ref-v3');

    // Assess
    expect(result).toMatchObject({ outcome: 'completed', verificationStatus: 'VERIFIED' });
  });

  it('sends the documented request: headers userid and apiKey, plain base64, the reference', async () => {
    // Prepare
    let headers: Record<string, unknown> = {};
    const server = await startCannedServer((_request, req) => {
      headers = { ...req.headers };
      return { status: 500, body: '{}' };
    });

    // Act
    await clientFor(server.url).call(image, 'ref-shape');
    await server.stop();

    // Assess
    expect(headers.userid).toBe('sandbox-user');
    expect(headers.apikey).toBe('sandbox-key');
    expect(server.received[0]).toEqual({
      verificationType: PASSIVE_LIVENESS_VERIFICATION_TYPE,
      selfie: image.toString('base64'),
      transactionReference: 'ref-shape',
    });
  });
});

describe('LivenessClient with a canned-answer server (answers the sandbox never gives)', () => {
  const sample = {
    responseCode: '00',
    description: 'Success',
    verificationStatus: 'VERIFIED',
    transactionStatus: 'SUCCESSFUL',
    transactionReference: '1628016393774-LH92B5CT',
    transactionDate: '1683200825928',
    searchParameter: null,
    callBackUrl: null,
    livenessScore: 0.0,
    paymentRef: null,
    response: { pop_score: 98.825, live_score: 1.175 },
    faceMatch: null,
  };

  async function answerWith(canned: CannedAnswer): Promise<CallResult> {
    const server = await startCannedServer(() => canned);
    try {
      return await clientFor(server.url).call(image, 'ref-canned');
    } finally {
      await server.stop();
    }
  }
  const json = (status: number, body: unknown, headers?: Record<string, string>): CannedAnswer => ({
    status,
    body: JSON.stringify(body),
    ...(headers ? { headers } : {}),
  });

  it("reads the vendor's own sample verbatim, even though its scores contradict its status", async () => {
    // Act
    const result = await answerWith(json(200, sample));

    // Assess
    expect(result).toMatchObject({
      outcome: 'completed',
      verificationStatus: 'VERIFIED',
      liveScore: 1.175,
      popScore: 98.825,
      transactionReference: '1628016393774-LH92B5CT',
      transactionDate: '1683200825928',
    });
    expect((result as CompletedResult).raw).toEqual({
      responseCode: '00',
      description: 'Success',
      verificationStatus: 'VERIFIED',
      transactionStatus: 'SUCCESSFUL',
      transactionReference: '1628016393774-LH92B5CT',
      transactionDate: '1683200825928',
      livenessScore: 0,
      paymentRef: null,
      response: { pop_score: 98.825, live_score: 1.175 },
      bodySha256: createHash('sha256').update(JSON.stringify(sample)).digest('hex'),
      bodyBytes: Buffer.byteLength(JSON.stringify(sample)),
    });
  });

  it('accepts lower-case statuses and numeric-string scores, and keeps no undocumented field', async () => {
    // Act
    const result = await answerWith(
      json(200, {
        ...sample,
        verificationStatus: 'not verified',
        transactionStatus: 'successful',
        response: { pop_score: '71.5', live_score: '3' },
        livenessScore: '0.0',
        vendorExtra: { nested: true },
      }),
    );

    // Assess
    expect(result).toMatchObject({
      outcome: 'completed',
      verificationStatus: 'NOT VERIFIED',
      debitStatus: 'SUCCESSFUL',
      liveScore: 3,
      popScore: 71.5,
      livenessScore: 0,
    });
    expect(JSON.stringify((result as CompletedResult).raw)).not.toContain('vendorExtra');
  });

  it('keeps an unknown debit status verbatim and a missing one as null', async () => {
    // Act
    const odd = await answerWith(json(200, { ...sample, transactionStatus: 'Reversed' }));
    const missing = await answerWith(json(200, { ...sample, transactionStatus: undefined, response: null }));

    // Assess
    expect(odd).toMatchObject({ outcome: 'completed', debitStatus: 'Reversed', debited: false });
    expect(missing).toMatchObject({
      outcome: 'completed',
      debitStatus: null,
      debited: false,
      liveScore: null,
      popScore: null,
    });
  });

  it('reads a lower-case pending as pending', async () => {
    // Act
    const result = await answerWith(
      json(200, { ...sample, responseCode: '02', verificationStatus: 'pending' }),
    );

    // Assess
    expect(result).toMatchObject({ outcome: 'pending', responseCode: '02' });
  });

  it.each([
    ['a body that is not JSON', { status: 200, body: '<html>gateway</html>' }, 'not JSON'],
    ['a JSON array', { status: 200, body: '[1,2]' }, 'not a JSON object'],
    ['a body without responseCode', json(200, { ...sample, responseCode: undefined }), 'responseCode'],
    [
      'a success without verificationStatus',
      json(200, { ...sample, verificationStatus: undefined }),
      'no verificationStatus',
    ],
    [
      'an unknown verificationStatus',
      json(200, { ...sample, verificationStatus: 'MAYBE' }),
      'unknown verificationStatus',
    ],
    [
      'an unreadable score',
      json(200, { ...sample, response: { pop_score: 'high', live_score: 1 } }),
      'response.pop_score',
    ],
  ])('refuses %s as a permanent malformed response', async (_name, canned, words) => {
    // Act
    const result = await answerWith(canned);

    // Assess
    expect(result).toMatchObject({
      outcome: 'permanent',
      reason: 'malformed_response',
      unauthorized: false,
      systemic: true,
    });
    expect(result.detail).toContain(words);
  });

  it('refuses a 200 whose responseCode is not 00 and whose status is not PENDING, as systemic', async () => {
    // Act
    const result = await answerWith(
      json(200, { ...sample, responseCode: '12', description: 'Insufficient balance' }),
    );

    // Assess
    expect(result).toMatchObject({
      outcome: 'permanent',
      reason: 'declined',
      systemic: true,
      debited: true,
      responseCode: '12',
      httpStatus: 200,
    });
    expect(result.detail).toContain('Insufficient balance');
  });

  it.each([502, 503, 504])('retries HTTP %i', async (status) => {
    // Act
    const result = await answerWith({ status, body: 'Bad gateway' });

    // Assess
    expect(result).toMatchObject({ outcome: 'retryable', reason: 'server_error', httpStatus: status });
  });

  it.each([
    [403, true],
    [404, true],
    [405, true],
    [408, true],
    [413, true],
    [501, true],
    [409, false],
    [415, false],
    [422, false],
  ])('does not retry HTTP %i; systemic (about the vendor, not the selfie): %s', async (status, systemic) => {
    // Act
    const result = await answerWith(json(status, { responseCode: '99', description: 'no' }));

    // Assess
    expect(result.outcome).toBe('permanent');
    expect(result).toMatchObject({ unauthorized: false, systemic, responseCode: '99' });
  });

  it('reads Retry-After given as an HTTP-date', async () => {
    // Prepare: an hour ahead, so however slow this machine is, the date is read as about an hour
    const at = new Date(Date.now() + 3_600_000).toUTCString();

    // Act
    const result = await answerWith(json(429, {}, { 'retry-after': at }));

    // Assess
    const retryAfterMs = (result as RetryableResult).retryAfterMs ?? -1;
    expect(retryAfterMs).toBeGreaterThan(3_000_000);
    expect(retryAfterMs).toBeLessThanOrEqual(3_600_000);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP-dates and ignores anything else', () => {
    // Prepare
    const now = Date.parse('2025-01-01T00:00:00Z');

    // Act / Assess
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe('LivenessClient never follows a redirect', () => {
  it('sends nothing to the target of the sandbox 307: no userid, apiKey or selfie reach it', async () => {
    // Prepare
    const target = await startRawServer((_req, res) => res.end('{}'));
    const sandbox = await sandboxWith({ redirectRate: 1, redirectTo: `${target.url}?token=abc` });
    const targetHost = new URL(target.url).host;

    // Act
    const result = await clientFor(sandbox.endpointUrl).call(image, 'ref-redirect');
    await target.stop();

    // Assess
    expect(target.connections()).toBe(0);
    expect(result).toMatchObject({
      outcome: 'permanent',
      reason: 'redirect',
      systemic: true,
      unauthorized: false,
      httpStatus: 307,
      redirectHost: targetHost,
      debited: false,
      detail: `HTTP 307 redirect to host ${targetHost} (not followed)`,
    });
    expect(JSON.stringify(result)).not.toMatch(/token=abc|sfx-v4/);
    expect(sandbox.ledger()).toEqual([expect.objectContaining({ outcome: 'redirect', charged: false })]);
  });

  it.each([301, 302, 303, 308])(
    'keeps only the host of a %i Location, never its path or query',
    async (status) => {
      // Prepare
      const server = await startRawServer((_req, res) => {
        res.writeHead(status, { location: 'http://user:pw@evil.example:8443/steal?apiKey=x' });
        res.end();
      });

      // Act
      const result = await clientFor(server.url).call(image, 'ref-3xx');
      await server.stop();

      // Assess
      expect(result).toMatchObject({
        outcome: 'permanent',
        reason: 'redirect',
        redirectHost: 'evil.example:8443',
      });
      expect(JSON.stringify(result)).not.toMatch(/steal|apiKey=x|user:pw/);
    },
  );

  it('reads a relative Location against the endpoint, and a missing one as no host', async () => {
    // Prepare
    const relative = await startRawServer((_req, res) => {
      res.writeHead(307, { location: '/elsewhere?q=1' });
      res.end();
    });
    const bare = await startRawServer((_req, res) => {
      res.writeHead(302);
      res.end();
    });

    // Act
    const toRelative = await clientFor(relative.url).call(image, 'ref-rel');
    const toNowhere = await clientFor(bare.url).call(image, 'ref-bare');
    await Promise.all([relative.stop(), bare.stop()]);

    // Assess
    expect(toRelative).toMatchObject({ reason: 'redirect', redirectHost: new URL(relative.url).host });
    expect(toNowhere).toMatchObject({ reason: 'redirect', systemic: true });
    expect((toNowhere as PermanentResult).redirectHost).toBeUndefined();
    expect(toNowhere.detail).toBe('HTTP 302 redirect without a usable Location (not followed)');
  });
});

describe('LivenessClient: sent without a readable answer is uncertain, never retryable', () => {
  it('marks a socket destroyed after the request was read as uncertain connection_lost', async () => {
    // Prepare
    const server = await startRawServer((req) => req.socket.destroy());

    // Act
    const result = await clientFor(server.url).call(image, 'ref-reset');
    await server.stop();

    // Assess
    expect(result).toMatchObject({
      outcome: 'uncertain',
      reason: 'connection_lost',
      debited: false,
      debitStatus: null,
    });
    expect(result.httpStatus).toBeUndefined();
  });

  it('marks a body shorter than its Content-Length as uncertain truncated_body', async () => {
    // Prepare
    const server = await startRawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"responseCode":"00","verificationStatus":"VERI');
      setTimeout(() => res.socket?.destroy(), 20);
    });

    // Act
    const result = await clientFor(server.url).call(image, 'ref-short');
    await server.stop();

    // Assess
    expect(result).toMatchObject({ outcome: 'uncertain', reason: 'truncated_body', httpStatus: 200 });
    expect(result.detail).toContain('cut short');
  });

  it('marks headers followed by a body that never ends as an uncertain timeout', async () => {
    // Prepare
    const server = await startRawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{');
    });

    // Act
    const result = await clientFor(server.url, { timeoutMs: 1_000 }).call(image, 'ref-slow-body');
    await server.stop();

    // Assess
    expect(result).toMatchObject({ outcome: 'uncertain', reason: 'timeout', httpStatus: 200 });
  });

  it('marks a late vendor answer as uncertain while the sandbox ledger shows it charged', async () => {
    // Prepare
    const sandbox = await sandboxWith({ lateRate: 1, lateAfterMs: 60_000 });

    // Act
    const result = await clientFor(sandbox.endpointUrl, { timeoutMs: 300 }).call(image, 'ref-late');

    // Assess
    expect(result).toMatchObject({ outcome: 'uncertain', reason: 'timeout' });
    await expect
      .poll(() => sandbox.ledger())
      .toEqual([expect.objectContaining({ transactionReference: 'ref-late', charged: true, late: true })]);
  });

  it('keeps retryable network for a TLS handshake that failed before anything was sent', async () => {
    // Prepare: https spoken to a plain-HTTP server fails in the handshake.
    const server = await startRawServer((_req, res) => res.end('{}'));

    // Act
    const result = await clientFor(server.url.replace('http:', 'https:')).call(image, 'ref-tls');
    await server.stop();

    // Assess
    expect(result).toMatchObject({ outcome: 'retryable', reason: 'network', debited: false });
    expect(result.detail).toMatch(/before sending: ERR_SSL_/);
  });

  it('keeps retryable network for a host name that does not resolve', async () => {
    // Act
    const result = await clientFor('http://no-such-vendor.invalid/sfx-v4-verify/v4/id-service').call(
      image,
      'ref-dns',
    );

    // Assess
    expect(result).toMatchObject({ outcome: 'retryable', reason: 'network' });
    expect(result.detail).toMatch(/ENOTFOUND|EAI_AGAIN/);
  });
});

describe('LivenessClient: what counts as debited', () => {
  async function answerWith(status: number, body: unknown): Promise<CallResult> {
    const server = await startCannedServer(() => ({
      status,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }));
    try {
      return await clientFor(server.url).call(image, 'ref-debit');
    } finally {
      await server.stop();
    }
  }

  it('reads the sandbox PENDING with a "Successful" debit as pending and debited', async () => {
    // Prepare
    const sandbox = await sandboxWith({ pendingDebitRate: 1 });

    // Act
    const result = await clientFor(sandbox.endpointUrl).call(image, 'ref-pending-debit');

    // Assess
    expect(result).toMatchObject({ outcome: 'pending', debited: true, debitStatus: 'SUCCESSFUL' });
    expect(sandbox.ledger()).toEqual([expect.objectContaining({ charged: true })]);
  });

  it.each([
    [
      'a PENDING with a padded lower-case status',
      'pending',
      true,
      200,
      { responseCode: '02', verificationStatus: 'PENDING', transactionStatus: ' successful ' },
    ],
    [
      'a 200 with a non-00 code',
      'permanent',
      true,
      200,
      { responseCode: '12', verificationStatus: null, transactionStatus: 'Successful' },
    ],
    [
      'a 500 whose body says debited',
      'retryable',
      true,
      500,
      { responseCode: '96', transactionStatus: 'SUCCESSFUL' },
    ],
    [
      'a 500 whose body says failed',
      'retryable',
      false,
      500,
      { responseCode: '96', transactionStatus: 'FAILED' },
    ],
    ['a 429 without a body', 'retryable', false, 429, ''],
    ['a 400 that says failed', 'permanent', false, 400, { responseCode: '04', transactionStatus: 'failed' }],
  ] as const)('reads %s as %s, debited %s', async (_name, outcome, debited, status, body) => {
    // Act
    const result = await answerWith(status, body);

    // Assess
    expect(result).toMatchObject({ outcome, debited });
    const said = typeof body === 'string' ? undefined : body.transactionStatus;
    expect(result.debitStatus).toBe(said === undefined ? null : said.trim().toUpperCase());
  });
});

describe('LivenessClient: what is kept of an answer is bounded', () => {
  it('keeps the documented fields, each cut to 256 characters, plus the whole body hash and size', async () => {
    // Prepare
    const body = JSON.stringify({
      responseCode: '00',
      description: 'a long description. '.repeat(500),
      verificationStatus: 'VERIFIED',
      transactionStatus: 'SUCCESSFUL',
      transactionReference: 'ref.'.repeat(1_250),
      response: { live_score: 90, pop_score: 2, extra: 'x'.repeat(1_000) },
      ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`unknown${i}`, 'u'.repeat(1_000)])),
    });
    const server = await startCannedServer(() => ({ status: 200, body }));

    // Act
    const result = (await clientFor(server.url).call(image, 'ref-big')) as CompletedResult;
    await server.stop();

    // Assess
    expect(result.outcome).toBe('completed');
    expect(String(result.raw.description)).toHaveLength(256);
    expect(String(result.raw.transactionReference)).toHaveLength(256);
    expect(result.description).toHaveLength(256);
    expect(result.transactionReference).toHaveLength(256);
    expect(result.raw.response).toEqual({ live_score: 90, pop_score: 2 });
    expect(result.raw.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(result.raw.bodyBytes).toBe(Buffer.byteLength(body));
    expect(JSON.stringify(result).length).toBeLessThan(2_500);
  });

  it.each([
    [
      'declared in Content-Length',
      true,
      /body of 300000 bytes \(declared\), over the 262144-byte limit: not read/,
    ],
    [
      'sent chunked, without a length',
      false,
      /body over the 262144-byte limit: reading stopped at \d+ bytes/,
    ],
  ])(
    'refuses a body over 256 KiB %s as malformed, without reading it all',
    async (_name, declared, detail) => {
      // Prepare
      const server = await startRawServer((_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/json',
          ...(declared ? { 'content-length': '300000' } : {}),
        });
        for (let i = 0; i < 30; i++) res.write('x'.repeat(10_000));
        res.end();
      });

      // Act
      const result = await clientFor(server.url).call(image, 'ref-huge');
      await server.stop();

      // Assess
      expect(result).toMatchObject({
        outcome: 'permanent',
        reason: 'malformed_response',
        systemic: true,
        httpStatus: 200,
        debited: false,
      });
      expect(result.detail).toMatch(detail);
      expect((result as PermanentResult).raw).toBeUndefined();
    },
  );

  it("reads the sandbox firewall's HTML 403 as systemic, keeping only the page's hash and size", async () => {
    // Prepare
    const sandbox = await sandboxWith({ forbiddenRate: 1 });

    // Act
    const result = await clientFor(sandbox.endpointUrl).call(image, 'ref-waf');

    // Assess
    expect(result).toMatchObject({
      outcome: 'permanent',
      reason: 'client_error',
      systemic: true,
      httpStatus: 403,
      debited: false,
    });
    expect(result.detail).toMatch(/^HTTP 403 \(not JSON, \d+ bytes\)$/);
    expect(Object.keys((result as PermanentResult).raw ?? {}).sort()).toEqual(['bodyBytes', 'bodySha256']);
  });
});
