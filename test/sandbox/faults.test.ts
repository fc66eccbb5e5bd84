import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../sandbox/ledger.ts';
import { faultFor } from '../../sandbox/outcomes.ts';
import { type RunningSandbox, type StartSandboxOptions, startSandbox } from '../../sandbox/server.ts';
import { PASSIVE_LIVENESS_VERIFICATION_TYPE } from '../../shared/liveness/contract.ts';
import { makeImage, startRawServer } from '../liveness/support.ts';

const auth = { userid: 'sandbox-user', apikey: 'sandbox-key' };
const running: RunningSandbox[] = [];

async function sandboxWith(options: StartSandboxOptions = {}): Promise<RunningSandbox> {
  const sandbox = await startSandbox(options);
  running.push(sandbox);
  return sandbox;
}

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

async function post(url: string, image: Buffer, reference: string, signal?: AbortSignal): Promise<Reply> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({
      verificationType: PASSIVE_LIVENESS_VERIFICATION_TYPE,
      selfie: image.toString('base64'),
      transactionReference: reference,
    }),
    redirect: 'manual',
    ...(signal ? { signal } : {}),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const json = (reply: Reply) => JSON.parse(reply.text) as Record<string, unknown>;

async function setFaultsOverHttp(sandbox: RunningSandbox, body: unknown) {
  const response = await fetch(`${sandbox.baseUrl}/__sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const charged = (entries: LedgerEntry[]) => entries.filter((e) => e.charged);

let face: Buffer;
let faceSha256: string;
beforeAll(async () => {
  face = await makeImage(41);
  faceSha256 = createHash('sha256').update(face).digest('hex');
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
});

describe('sandbox: references are not deduplicated by default', () => {
  it('charges every repeat of a reference on its own ledger line, concurrent repeats included', async () => {
    // Prepare
    const sandbox = await sandboxWith();

    // Act
    const first = await post(sandbox.endpointUrl, face, 'again-1');
    const second = await post(sandbox.endpointUrl, face, 'again-1');
    await Promise.all([1, 2, 3].map(() => post(sandbox.endpointUrl, face, 'again-2')));

    // Assess
    expect(sandbox.options.dedupeReferences).toBe(false);
    expect([first.status, second.status]).toEqual([200, 200]);
    const entries = sandbox.ledger();
    expect(entries).toHaveLength(5);
    expect(charged(entries)).toHaveLength(5);
    expect(entries.every((e) => e.replayOf === undefined)).toBe(true);
    expect(entries.map((e) => e.transactionReference)).toEqual([
      'again-1',
      'again-1',
      'again-2',
      'again-2',
      'again-2',
    ]);
  });

  it('draws a new fault for each repeat (call index), where dedupe on answers the first draw again', async () => {
    // Prepare: a reference whose first call is a 500 and whose second is not.
    const rates = { seed: 'redraw', errorRate: 0.5, chargeFailures: true };
    const reference =
      Array.from({ length: 200 }, (_, i) => `redraw-${i}`).find(
        (ref) =>
          faultFor(ref, 0, { ...rates, hangRate: 0, throttleRate: 0, pendingRate: 0 }) === 'error' &&
          faultFor(ref, 1, { ...rates, hangRate: 0, throttleRate: 0, pendingRate: 0 }) === null,
      ) ?? '';
    const off = await sandboxWith(rates);
    const on = await sandboxWith({ ...rates, dedupeReferences: true });

    // Act
    const offReplies = [
      await post(off.endpointUrl, face, reference),
      await post(off.endpointUrl, face, reference),
    ];
    const onReplies = [
      await post(on.endpointUrl, face, reference),
      await post(on.endpointUrl, face, reference),
    ];

    // Assess
    expect(reference).not.toBe('');
    expect(offReplies.map((r) => r.status)).toEqual([500, 200]);
    expect(off.ledger().map((e) => [e.outcome, e.charged])).toEqual([
      ['server_error', true],
      ['completed', true],
    ]);
    expect(onReplies.map((r) => r.status)).toEqual([500, 500]);
    expect(on.ledger().map((e) => [e.outcome, e.charged, e.replayOf])).toEqual([
      ['server_error', true, undefined],
      ['server_error', false, 1],
    ]);
  });
});

describe('sandbox: late answers', () => {
  it('charges, then holds the answer past the client giving up; the ledger marks it late', async () => {
    // Prepare
    const sandbox = await sandboxWith({ lateRate: 1, lateAfterMs: 60_000 });
    const client = new AbortController();
    let settled = false;

    // Act: the client gives up only once the sandbox has charged.
    const outcome = post(sandbox.endpointUrl, face, 'late-1', client.signal).then(
      () => 'answered',
      (error: Error) => error.name,
    );
    void outcome.then(() => {
      settled = true;
    });
    await expect.poll(() => sandbox.ledger().length).toBe(1);
    const answeredBeforeGivingUp = settled;
    client.abort();

    // Assess
    expect(answeredBeforeGivingUp).toBe(false);
    expect(await outcome).toBe('AbortError');
    expect(sandbox.ledger()).toEqual([
      expect.objectContaining({
        transactionReference: 'late-1',
        sha256: faceSha256,
        outcome: 'completed',
        fault: 'late',
        late: true,
        charged: true,
      }),
    ]);
  });

  it('does send the charged verdict to a client patient enough to wait', async () => {
    // Prepare
    const sandbox = await sandboxWith({ lateRate: 1, lateAfterMs: 50, liveRatio: 1 });

    // Act
    const reply = await post(sandbox.endpointUrl, face, 'late-2');

    // Assess
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({
      responseCode: '00',
      verificationStatus: 'VERIFIED',
      transactionStatus: 'SUCCESSFUL',
    });
    expect(sandbox.ledger()[0]).toMatchObject({ late: true, charged: true });
  });
});

describe('sandbox: PENDING with and without a debit', () => {
  it('charges a PENDING that says "Successful", and not a plain PENDING', async () => {
    // Prepare
    const debiting = await sandboxWith({ pendingDebitRate: 1 });
    const plain = await sandboxWith({ pendingRate: 1 });

    // Act
    const debited = await post(debiting.endpointUrl, face, 'pd-1');
    const free = await post(plain.endpointUrl, face, 'pd-2');

    // Assess
    expect(json(debited)).toMatchObject({ verificationStatus: 'PENDING', transactionStatus: 'Successful' });
    expect(json(free)).toMatchObject({ verificationStatus: 'PENDING', transactionStatus: 'FAILED' });
    expect(debiting.ledger()).toEqual([
      expect.objectContaining({ outcome: 'pending', fault: 'pending_debit', charged: true, late: false }),
    ]);
    expect(plain.ledger()).toEqual([
      expect.objectContaining({ outcome: 'pending', fault: 'pending', charged: false }),
    ]);
  });
});

describe('sandbox: redirects and firewall pages', () => {
  it('answers 307 to --redirect-to, uncharged, and the target hears nothing from the sandbox', async () => {
    // Prepare
    const target = await startRawServer((_req, res) => res.end('{}'));
    const sandbox = await sandboxWith({ redirectRate: 1, redirectTo: `${target.url}?where=elsewhere` });

    // Act
    const reply = await post(sandbox.endpointUrl, face, 'redir-1');
    await target.stop();

    // Assess
    expect(reply.status).toBe(307);
    expect(reply.headers.get('location')).toBe(`${target.url}?where=elsewhere`);
    expect(target.connections()).toBe(0);
    expect(sandbox.ledger()).toEqual([
      expect.objectContaining({ httpStatus: 307, outcome: 'redirect', fault: 'redirect', charged: false }),
    ]);
  });

  it('refuses a redirect rate without a URL to redirect to', async () => {
    // Act / Assess
    await expect(startSandbox({ redirectRate: 0.1 })).rejects.toThrow(/redirectTo/);
  });

  it('answers 403 with an HTML page, like a firewall, uncharged', async () => {
    // Prepare
    const sandbox = await sandboxWith({ forbiddenRate: 1 });

    // Act
    const reply = await post(sandbox.endpointUrl, face, 'waf-1');

    // Assess
    expect(reply.status).toBe(403);
    expect(reply.headers.get('content-type')).toMatch(/^text\/html/);
    expect(reply.text).toMatch(/<html>/);
    expect(sandbox.ledger()).toEqual([
      expect.objectContaining({
        transactionReference: 'waf-1',
        sha256: faceSha256,
        httpStatus: 403,
        outcome: 'forbidden',
        charged: false,
      }),
    ]);
  });

  it('answers every call inside the forbidden window with the 403, and none outside it', async () => {
    // Prepare
    const now = await sandboxWith({ forbiddenWindow: { fromSeconds: 0, toSeconds: 3600 } });
    const later = await sandboxWith({ forbiddenWindow: { fromSeconds: 3600, toSeconds: 7200 } });

    // Act
    const inside = await Promise.all([1, 2, 3].map((i) => post(now.endpointUrl, face, `win-${i}`)));
    const outside = await post(later.endpointUrl, face, 'win-4');

    // Assess
    expect(inside.map((r) => r.status)).toEqual([403, 403, 403]);
    expect(charged(now.ledger())).toEqual([]);
    expect(outside.status).toBe(200);
    expect(later.ledger()).toEqual([expect.objectContaining({ outcome: 'completed', charged: true })]);
  });
});

describe('sandbox: fault settings at runtime', () => {
  it('opens and closes an outage through POST /__sandbox/faults', async () => {
    // Prepare
    const sandbox = await sandboxWith();

    // Act
    const before = await post(sandbox.endpointUrl, face, 'rt-1');
    const opened = await setFaultsOverHttp(sandbox, { forbiddenRate: 1 });
    const during = await post(sandbox.endpointUrl, face, 'rt-2');
    const closed = await setFaultsOverHttp(sandbox, { forbiddenRate: 0 });
    const after = await post(sandbox.endpointUrl, face, 'rt-3');
    const shown = (await (await fetch(`${sandbox.baseUrl}/__sandbox/faults`)).json()) as Record<
      string,
      unknown
    >;

    // Assess
    expect([before.status, during.status, after.status]).toEqual([200, 403, 200]);
    expect(opened).toMatchObject({ status: 200, body: { forbiddenRate: 1 } });
    expect(closed).toMatchObject({ status: 200, body: { forbiddenRate: 0 } });
    expect(shown).toMatchObject({ forbiddenRate: 0, pendingRate: 0, latencyMs: 0 });
    expect(sandbox.ledger().map((e) => [e.transactionReference, e.outcome, e.charged])).toEqual([
      ['rt-1', 'completed', true],
      ['rt-2', 'forbidden', false],
      ['rt-3', 'completed', true],
    ]);
  });

  it('refuses unknown names and invalid totals over HTTP, and changes nothing then', async () => {
    // Prepare
    const sandbox = await sandboxWith({ errorRate: 0.5 });

    // Act
    const unknown = await setFaultsOverHttp(sandbox, { forbidenRate: 1 });
    const tooMuch = await setFaultsOverHttp(sandbox, { pendingRate: 0.6 });
    const noTarget = await setFaultsOverHttp(sandbox, { redirectRate: 0.2 });
    const notJson = await fetch(`${sandbox.baseUrl}/__sandbox/faults`, { method: 'POST', body: '{' });

    // Assess
    expect(unknown.status).toBe(400);
    expect(String(unknown.body.error)).toMatch(/forbidenRate/);
    expect(tooMuch.status).toBe(400);
    expect(String(tooMuch.body.error)).toMatch(/must not exceed 1/);
    expect(noTarget.status).toBe(400);
    expect(String(noTarget.body.error)).toMatch(/redirectTo/);
    expect(notJson.status).toBe(400);
    expect(sandbox.options).toMatchObject({ errorRate: 0.5, pendingRate: 0, redirectRate: 0 });
  });

  it('changes faults programmatically too (setFaults), validated the same way', async () => {
    // Prepare
    const sandbox = await sandboxWith();

    // Act
    sandbox.setFaults({ pendingDebitRate: 1 });
    const reply = await post(sandbox.endpointUrl, face, 'prog-1');

    // Assess
    expect(json(reply)).toMatchObject({ verificationStatus: 'PENDING', transactionStatus: 'Successful' });
    expect(() => sandbox.setFaults({ errorRate: 0.5 })).toThrow(/must not exceed 1/);
    expect(sandbox.options.errorRate).toBe(0);
  });
});

describe('sandbox: the new faults stay deterministic', () => {
  it('decides them from (seed, reference, call number), whatever the arrival order', async () => {
    // Prepare
    const target = await startRawServer((_req, res) => res.end('{}'));
    const options = {
      seed: 'new-faults',
      pendingRate: 0.15,
      pendingDebitRate: 0.2,
      redirectRate: 0.2,
      forbiddenRate: 0.2,
      lateRate: 0.15,
      lateAfterMs: 0,
      redirectTo: target.url,
    };
    const serial = await sandboxWith(options);
    const concurrent = await sandboxWith(options);
    const refs = Array.from({ length: 40 }, (_, i) => `det-${i}`);

    // Act
    for (const ref of refs) await post(serial.endpointUrl, face, ref);
    await Promise.all([...refs].reverse().map((ref) => post(concurrent.endpointUrl, face, ref)));
    await target.stop();

    // Assess
    const byRef = (entries: LedgerEntry[]) =>
      Object.fromEntries(entries.map((e) => [e.transactionReference, [e.outcome, e.charged, e.late]]));
    expect(byRef(concurrent.ledger())).toEqual(byRef(serial.ledger()));
    const expected = refs.map((ref) =>
      faultFor(ref, 0, { ...options, hangRate: 0, errorRate: 0, throttleRate: 0 }),
    );
    expect(serial.ledger().map((e) => e.fault ?? null)).toEqual(expected);
    expect(new Set(expected)).toEqual(
      new Set(['pending', 'pending_debit', 'redirect', 'forbidden', 'late', null]),
    );
    expect(target.connections()).toBe(0);
  });
});
