import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faultFor } from '../../sandbox/outcomes.ts';
import { type RunningSandbox, type StartSandboxOptions, startSandbox } from '../../sandbox/server.ts';
import { type CallResult, type LivenessCaller, LivenessClient } from '../../shared/liveness/client.ts';
import { transactionReferenceFor } from '../../shared/liveness/reference.ts';
import {
  type AttemptRecord,
  fullJitterDelay,
  type VerifyWithRetriesOptions,
  verifyWithRetries,
} from '../../shared/liveness/retry.ts';
import { makeImage } from './support.ts';

const credentials = { userId: 'sandbox-user', apiKey: 'sandbox-key' };
const running: RunningSandbox[] = [];
const selfieId = 'uploads/batch-7/Jane Doe passport.jpg';

async function sandboxWith(options: StartSandboxOptions): Promise<RunningSandbox> {
  const sandbox = await startSandbox({ ...credentials, ...options });
  running.push(sandbox);
  return sandbox;
}

/** The options a worker would pass, with references from the selfie id and a log of the calls made. */
function harness(client: LivenessCaller, image: Buffer, overrides: Partial<VerifyWithRetriesOptions> = {}) {
  const events: string[] = [];
  const ended: AttemptRecord[] = [];
  const sleeps: number[] = [];
  const options: VerifyWithRetriesOptions = {
    client,
    image,
    firstAttempt: 1,
    maxAttempts: 4,
    deadline: Date.now() + 60_000,
    backoff: { baseMs: 100, maxMs: 1_000 },
    beginAttempt: async (attempt, reuse) => {
      events.push(`begin ${attempt}`);
      return reuse ?? transactionReferenceFor(selfieId, attempt);
    },
    endAttempt: async (record) => {
      events.push(`end ${record.attempt} ${record.outcome}`);
      ended.push(record);
    },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...overrides,
  };
  return { options, events, ended, sleeps };
}

/** A scripted caller, for the pure timing rules (no HTTP involved; named as such). */
function scriptedCaller(
  outcomes: Array<Partial<CallResult> & Pick<CallResult, 'outcome'>>,
  timeoutMs = 1_000,
) {
  const sent: string[] = [];
  const caller: LivenessCaller = {
    timeoutMs,
    call: async (_image, reference) => {
      sent.push(reference);
      const next = outcomes[Math.min(sent.length - 1, outcomes.length - 1)];
      const now = new Date().toISOString();
      return { startedAt: now, endedAt: now, durationMs: 0, detail: 'scripted', ...next } as CallResult;
    },
  };
  return { caller, sent };
}

let image: Buffer;
beforeAll(async () => {
  image = await makeImage(42);
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
});

describe('verifyWithRetries against the sandbox', () => {
  it('retries a PENDING answer and records both attempts, each as it ends', async () => {
    // Prepare: a seed under which attempt 1 comes back PENDING and attempt 2 completes.
    const ref1 = transactionReferenceFor(selfieId, 1);
    const ref2 = transactionReferenceFor(selfieId, 2);
    const rates = { hangRate: 0, throttleRate: 0, errorRate: 0, pendingRate: 0.5 };
    let seed = 0;
    while (
      faultFor(ref1, 0, { ...rates, seed: String(seed) }) !== 'pending' ||
      faultFor(ref2, 0, { ...rates, seed: String(seed) }) !== null
    ) {
      seed++;
    }
    const sandbox = await sandboxWith({ ...rates, seed, liveRatio: 1 });
    const client = new LivenessClient({ endpointUrl: sandbox.endpointUrl, ...credentials, timeoutMs: 5_000 });
    const { options, events, ended, sleeps } = harness(client, image);

    // Act
    const result = await verifyWithRetries(options);

    // Assess
    expect(result.stoppedBecause).toBe('completed');
    expect(result.final).toMatchObject({ outcome: 'completed', verificationStatus: 'VERIFIED' });
    expect(result.attempts.map((a) => [a.attempt, a.outcome, a.transactionReference])).toEqual([
      [1, 'pending', ref1],
      [2, 'completed', ref2],
    ]);
    expect(result.attempts[0]).toMatchObject({ httpStatus: 200, responseCode: '01' });
    expect(events).toEqual(['begin 1', 'end 1 pending', 'begin 2', 'end 2 completed']);
    expect(ended).toEqual(result.attempts);
    expect(sleeps).toEqual([50]);
    expect(sandbox.ledger().map((e) => [e.transactionReference, e.verificationStatus, e.charged])).toEqual([
      [ref1, 'PENDING', false],
      [ref2, 'VERIFIED', true],
    ]);
  });

  it('stops at maxAttempts when the vendor keeps failing', async () => {
    // Prepare
    const sandbox = await sandboxWith({ errorRate: 1 });
    const client = new LivenessClient({ endpointUrl: sandbox.endpointUrl, ...credentials, timeoutMs: 5_000 });
    const { options } = harness(client, image, { maxAttempts: 3 });

    // Act
    const result = await verifyWithRetries(options);

    // Assess
    expect(result.stoppedBecause).toBe('max_attempts');
    expect(result.attempts.map((a) => [a.attempt, a.httpStatus, a.outcome])).toEqual([
      [1, 500, 'retryable'],
      [2, 500, 'retryable'],
      [3, 500, 'retryable'],
    ]);
    expect(result.final).toMatchObject({ outcome: 'retryable', httpStatus: 500 });
    expect(sandbox.ledger()).toHaveLength(3);
  });

  it('continues the numbering from firstAttempt and sends the reference beginAttempt returned', async () => {
    // Prepare
    const sandbox = await sandboxWith({ errorRate: 1 });
    const client = new LivenessClient({ endpointUrl: sandbox.endpointUrl, ...credentials, timeoutMs: 5_000 });
    const { options, events } = harness(client, image, { firstAttempt: 3, maxAttempts: 2 });

    // Act
    const result = await verifyWithRetries(options);

    // Assess
    expect(result.attempts.map((a) => a.attempt)).toEqual([3, 4]);
    expect(events.filter((e) => e.startsWith('begin'))).toEqual(['begin 3', 'begin 4']);
    expect(sandbox.ledger().map((e) => e.transactionReference)).toEqual([
      transactionReferenceFor(selfieId, 3),
      transactionReferenceFor(selfieId, 4),
    ]);
  });

  it("honours the vendor's Retry-After instead of the backoff", async () => {
    // Prepare
    const sandbox = await sandboxWith({ throttleRate: 1 });
    const client = new LivenessClient({ endpointUrl: sandbox.endpointUrl, ...credentials, timeoutMs: 5_000 });
    const { options, sleeps } = harness(client, image, { maxAttempts: 2 });

    // Act
    const result = await verifyWithRetries(options);

    // Assess
    expect(result.attempts.map((a) => a.httpStatus)).toEqual([429, 429]);
    expect(sleeps).toEqual([1_000]);
  });

  it.each([
    ['401', { apiKey: 'not-the-key' }, 'unauthorized'],
    ['400', {}, 'bad_request'],
  ])('never retries a %s', async (status, clientOverride, reason) => {
    // Prepare
    const sandbox = await sandboxWith({});
    const client = new LivenessClient({
      endpointUrl: sandbox.endpointUrl,
      ...credentials,
      timeoutMs: 5_000,
      ...clientOverride,
    });
    const payload = status === '400' ? Buffer.from('not an image at all') : image;
    const { options, sleeps } = harness(client, payload);

    // Act
    const result = await verifyWithRetries(options);

    // Assess
    expect(result.stoppedBecause).toBe('permanent');
    expect(result.attempts).toHaveLength(1);
    expect(result.final).toMatchObject({ outcome: 'permanent', reason, httpStatus: Number(status) });
    expect(sleeps).toEqual([]);
    expect(sandbox.ledger()).toHaveLength(1);
  });

  it('stops before an attempt that could not finish by the deadline', async () => {
    // Prepare: every call hangs until the 300 ms timeout; 700 ms leave room for two attempts, not three.
    // The retry loop's clock advances 300 ms per ended attempt (not the machine's, which a busy host slows).
    const sandbox = await sandboxWith({ hangRate: 1 });
    const client = new LivenessClient({ endpointUrl: sandbox.endpointUrl, ...credentials, timeoutMs: 300 });
    const start = Date.now();
    const { options, ended } = harness(client, image, {
      deadline: start + 700,
      random: () => 0,
      maxAttempts: 10,
    });
    options.now = () => start + 300 * ended.length;

    // Act
    const result = await verifyWithRetries(options);

    // Assess
    expect(result.stoppedBecause).toBe('deadline');
    expect(result.attempts).toHaveLength(2);
    expect(result.attempts.every((a) => a.outcome === 'uncertain' && a.detail?.includes('300 ms'))).toBe(
      true,
    );
    expect(sandbox.ledger()).toHaveLength(2);
  });

  it('resends the same reference after a call without a readable answer, a new one after a definitive answer', async () => {
    // Prepare: no answer, no answer, PENDING, then a verdict.
    const { caller, sent } = scriptedCaller([
      { outcome: 'uncertain' },
      { outcome: 'uncertain' },
      { outcome: 'pending' },
      { outcome: 'completed' },
    ]);
    const { options } = harness(caller, image);

    // Act
    const result = await verifyWithRetries(options);

    // Assess
    const reference = (n: number) => transactionReferenceFor(selfieId, n);
    expect(result.stoppedBecause).toBe('completed');
    expect(sent).toEqual([reference(1), reference(1), reference(1), reference(4)]);
  });

  it('resends the reference of an attempt a crashed delivery left open, then follows the same rule', async () => {
    // Prepare
    const { caller, sent } = scriptedCaller([{ outcome: 'retryable' }, { outcome: 'completed' }]);
    const { options } = harness(caller, image, { firstAttempt: 3, resumeReference: 'left-open-ref' });

    // Act
    await verifyWithRetries(options);

    // Assess
    expect(sent).toEqual(['left-open-ref', transactionReferenceFor(selfieId, 4)]);
  });

  it('stops with the refusal when mayCall says no, before any call', async () => {
    // Prepare
    const { caller, sent } = scriptedCaller([{ outcome: 'completed' }]);
    const { options } = harness(caller, image, {
      mayCall: async () => ({ ok: false, refusal: 'cap reached' }),
    });

    // Act
    const result = await verifyWithRetries(options);

    // Assess
    expect(result).toMatchObject({ stoppedBecause: 'refused', refusal: 'cap reached', final: null });
    expect(sent).toEqual([]);
  });
});

describe('verifyWithRetries timing rules (scripted caller, no HTTP)', () => {
  it('waits with full jitter: random() * min(maxMs, baseMs * 2^n)', async () => {
    // Prepare
    const { caller } = scriptedCaller([{ outcome: 'retryable' }]);
    const draws = [0.5, 0.25, 0.9, 0.999];
    const { options, sleeps } = harness(caller, image, {
      maxAttempts: 5,
      backoff: { baseMs: 100, maxMs: 300 },
      random: () => draws.shift() ?? 0,
    });

    // Act
    const result = await verifyWithRetries(options);

    // Assess: ceilings 100, 200, 300 (capped from 400), 300 (capped from 800).
    expect(result.stoppedBecause).toBe('max_attempts');
    expect(sleeps).toEqual([50, 50, 270, 299]);
  });

  it('never waits past the deadline for a Retry-After', async () => {
    // Prepare
    const { caller, sent } = scriptedCaller([{ outcome: 'retryable', retryAfterMs: 30_000 }]);
    const { options, sleeps } = harness(caller, image, { deadline: Date.now() + 10_000 });

    // Act
    const result = await verifyWithRetries(options);

    // Assess
    expect(result.stoppedBecause).toBe('deadline');
    expect(sent).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('makes no call at all when even one attempt cannot finish in time', async () => {
    // Prepare
    const { caller, sent } = scriptedCaller([{ outcome: 'completed' }], 5_000);
    const { options, events } = harness(caller, image, { deadline: Date.now() + 1_000 });

    // Act
    const result = await verifyWithRetries(options);

    // Assess
    expect(result).toEqual({ final: null, attempts: [], stoppedBecause: 'deadline' });
    expect(sent).toEqual([]);
    expect(events).toEqual([]);
  });

  it('uses an injected clock for the deadline arithmetic', async () => {
    // Prepare: the clock moves only when the loop sleeps or a call takes its full timeout.
    let clock = 0;
    const caller: LivenessCaller = {
      timeoutMs: 100,
      call: async () => {
        clock += 100;
        return {
          outcome: 'pending',
          startedAt: '',
          endedAt: '',
          durationMs: 100,
          detail: 'scripted',
        } as CallResult;
      },
    };
    const { options } = harness(caller, image, {
      now: () => clock,
      deadline: 450,
      maxAttempts: 10,
      random: () => 0.5,
      backoff: { baseMs: 100, maxMs: 100 },
      sleep: async (ms) => {
        clock += ms;
      },
    });

    // Act
    const result = await verifyWithRetries(options);

    // Assess: 0-100, wait 50, 150-250, wait 50, 300-400, then 400+50+100 > 450.
    expect(result.stoppedBecause).toBe('deadline');
    expect(result.attempts).toHaveLength(3);
  });

  it('refuses nonsense budgets loudly', async () => {
    // Prepare
    const { caller } = scriptedCaller([{ outcome: 'completed' }]);

    // Act / Assess
    await expect(verifyWithRetries(harness(caller, image, { maxAttempts: 0 }).options)).rejects.toThrow(
      RangeError,
    );
    await expect(verifyWithRetries(harness(caller, image, { firstAttempt: 0 }).options)).rejects.toThrow(
      RangeError,
    );
  });

  it('computes the full-jitter ceiling', () => {
    // Act / Assess
    expect(fullJitterDelay(0, { baseMs: 500, maxMs: 8_000 }, () => 0.999)).toBe(499);
    expect(fullJitterDelay(10, { baseMs: 500, maxMs: 8_000 }, () => 0.5)).toBe(4_000);
    expect(fullJitterDelay(3, { baseMs: 500, maxMs: 8_000 }, () => 0)).toBe(0);
  });
});
