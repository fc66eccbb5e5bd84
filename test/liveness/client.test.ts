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
  livenessResponseSchema,
  PASSIVE_LIVENESS_VERIFICATION_TYPE,
} from '../../shared/liveness/contract.ts';
import { type CannedAnswer, closedPort, makeImage, startCannedServer, tamperingFetch } from './support.ts';

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
  it('classifies a VERIFIED answer as completed, with scores, debit status and the raw body', async () => {
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
      description: 'Success',
      transactionReference: 'ref-verified-1',
      livenessScore: 0,
    });
    expect(completed.liveScore).toBeGreaterThanOrEqual(70);
    expect(completed.popScore).toBeLessThanOrEqual(30);
    expect(completed.transactionDate).toMatch(/^\d{13}$/);
    expect(livenessResponseSchema.safeParse(completed.raw).success).toBe(true);
    expect(completed.raw.transactionReference).toBe('ref-verified-1');
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

  it('classifies PENDING as pending, keeping its non-00 code', async () => {
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

  it('classifies no answer within timeoutMs as a retryable timeout', async () => {
    // Prepare
    const sandbox = await sandboxWith({ hangRate: 1 });
    const client = clientFor(sandbox.endpointUrl, { timeoutMs: 300 });

    // Act
    const result = await client.call(image, 'ref-hang');

    // Assess
    expect(result).toMatchObject({ outcome: 'retryable', reason: 'timeout' });
    expect(result.httpStatus).toBeUndefined();
    expect(result.durationMs).toBeGreaterThanOrEqual(290);
    expect(result.durationMs).toBeLessThan(3_000);
  });

  it('classifies a refused connection as a retryable network error', async () => {
    // Prepare
    const port = await closedPort();
    const client = clientFor(`http://127.0.0.1:${port}/sfx-v4-verify/v4/id-service`);

    // Act
    const result = await client.call(image, 'ref-network');

    // Assess
    expect(result).toMatchObject({ outcome: 'retryable', reason: 'network' });
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
    expect((result as CompletedResult).raw).toEqual(sample);
  });

  it('accepts lower-case statuses, numeric-string scores and keeps unknown fields', async () => {
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
    expect((result as CompletedResult).raw.vendorExtra).toEqual({ nested: true });
  });

  it('keeps an unknown debit status verbatim and a missing one as null', async () => {
    // Act
    const odd = await answerWith(json(200, { ...sample, transactionStatus: 'Reversed' }));
    const missing = await answerWith(json(200, { ...sample, transactionStatus: undefined, response: null }));

    // Assess
    expect(odd).toMatchObject({ outcome: 'completed', debitStatus: 'Reversed' });
    expect(missing).toMatchObject({
      outcome: 'completed',
      debitStatus: null,
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
    expect(result).toMatchObject({ outcome: 'permanent', reason: 'malformed_response', unauthorized: false });
    expect(result.detail).toContain(words);
  });

  it('refuses a 200 whose responseCode is not 00 and whose status is not PENDING', async () => {
    // Act
    const result = await answerWith(
      json(200, { ...sample, responseCode: '12', description: 'Insufficient balance' }),
    );

    // Assess
    expect(result).toMatchObject({
      outcome: 'permanent',
      reason: 'declined',
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

  it.each([403, 404, 422, 501])('does not retry HTTP %i', async (status) => {
    // Act
    const result = await answerWith(json(status, { responseCode: '99', description: 'no' }));

    // Assess
    expect(result.outcome).toBe('permanent');
    expect((result as PermanentResult).unauthorized).toBe(false);
    expect(result.responseCode).toBe('99');
  });

  it('reads Retry-After given as an HTTP-date', async () => {
    // Prepare
    const at = new Date(Date.now() + 5_000).toUTCString();

    // Act
    const result = await answerWith(json(429, {}, { 'retry-after': at }));

    // Assess
    const retryAfterMs = (result as RetryableResult).retryAfterMs ?? -1;
    expect(retryAfterMs).toBeGreaterThan(2_000);
    expect(retryAfterMs).toBeLessThanOrEqual(5_000);
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
