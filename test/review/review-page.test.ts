import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../cli/audit.ts';
import { runReport } from '../../cli/report.ts';
import { REVIEW_CSP, type RunningReviewServer, startReviewServer } from '../../cli/review/server.ts';
import { runReview } from '../../cli/review.ts';
import { outcomeRules } from '../../infra/event-rules.ts';
import { LocalEventBus } from '../../local-cloud/event-bus.ts';
import { AuditQueries } from '../../operations/audit-queries.ts';
import type { EventEnvelope } from '../../shared/events/envelope.ts';
import { keys, type SelfieResult } from '../../shared/results/records.ts';
import { pipelineSettings } from '../../shared/settings.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { captureIo, describePipelineAsRunningHost } from '../ops/support.ts';
import { createPipelineFixture, type PipelineFixture } from '../support/pipeline.ts';

const CHROMIUM = '/usr/bin/chromium';
const HOSTILE_KEY = 'uploads/hostile/<img src=x onerror="window.__pwned=1">.jpg';
/** One batch per test, so no test depends on what another one decided. */
const BATCHES = { keyboard: 4, race: 1, hostile: 0, cli: 1, counts: 2 } as const;

let pipeline: PipelineFixture;
let browser: Browser;
let stateDir: string;
let host: { stop(): void };
const servers: RunningReviewServer[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y chromium\`.`);
  }
  // Every face VERIFIED with a live_score below 100, so a minimum of 100 sends each one to REVIEW.
  pipeline = await createPipelineFixture({
    sandbox: { liveRatio: 1, scoreDisagreeRate: 0 },
    env: { MIN_LIVE_SCORE: '100' },
  });
  const records = [];
  let seed = 500;
  for (const [batch, count] of Object.entries(BATCHES)) {
    for (let i = 1; i <= count; i++) {
      const bytes = await syntheticFace({ seed: seed++, width: 240, height: 320, grain: 0.2 });
      records.push(await pipeline.upload(`uploads/${batch}/face-${i}.jpg`, bytes));
    }
  }
  records.push(
    await pipeline.upload(HOSTILE_KEY, await syntheticFace({ seed: seed++, width: 240, height: 320 })),
  );
  await pipeline.enqueue(records);
  await pipeline.drain();
  stateDir = mkdtempSync(join(tmpdir(), 'review-state-'));
  host = describePipelineAsRunningHost(stateDir, pipeline);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
    ],
  });
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await browser?.close();
  host?.stop();
  await pipeline?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

/** A review server on the fixture's table and bucket, publishing to a local bus whose archive is kept. */
async function startServer(reviewer: string, batchId: string) {
  const events: EventEnvelope[] = [];
  const publisher = new LocalEventBus({
    rules: outcomeRules,
    targets: { reviewQueue: async () => undefined, opsQueue: async () => undefined },
    archive: async (envelope) => {
      events.push(envelope);
    },
  });
  const server = await startReviewServer({
    db: pipeline.db,
    tableName: pipeline.tableName,
    s3: pipeline.s3,
    bucket: pipeline.bucket,
    publisher,
    eventBusName: 'test-bus',
    reviewer,
    where: 'the test cloud',
    decisions: ['REVIEW'],
    batchId,
    sinceMs: 24 * 3600 * 1000,
  });
  servers.push(server);
  return { server, events };
}

async function batchResults(batchId: string): Promise<SelfieResult[]> {
  const results: SelfieResult[] = [];
  for await (const page of new AuditQueries(pipeline.db, pipeline.tableName).batchPages(batchId))
    results.push(...page);
  return results.sort(
    (a, b) => (a.decidedAt ?? '').localeCompare(b.decidedAt ?? '') || a.selfieId.localeCompare(b.selfieId),
  );
}

async function historyOf(selfieId: string) {
  const out = await pipeline.db.send(
    new QueryCommand({
      TableName: pipeline.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :h)',
      ExpressionAttributeValues: { ':pk': keys.selfie(selfieId), ':h': keys.historyPrefix },
    }),
  );
  return out.Items ?? [];
}

async function open(url: string): Promise<{ page: Page; dialogs: string[]; requests: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const dialogs: string[] = [];
  const requests: string[] = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(url);
  return { page, dialogs, requests };
}

describe('liveness-batch review in headless Chromium', () => {
  it('walks the list with the keyboard: approve, skip, decline with a note, go back, approve', async () => {
    // Prepare
    const before = await batchResults('keyboard');
    const { server, events } = await startServer('alice', 'keyboard');
    const { page } = await open(server.url);
    const items = page.locator('article.item');
    const status = (i: number) => items.nth(i).locator('.status');

    // Assess: every REVIEW selfie of the batch, oldest first, with its facts and its image.
    expect(before.map((r) => r.decision)).toEqual(['REVIEW', 'REVIEW', 'REVIEW', 'REVIEW']);
    expect(await items.evaluateAll((els) => els.map((e) => e.getAttribute('data-selfie-id')))).toEqual(
      before.map((r) => r.selfieId),
    );
    expect(await items.nth(0).locator('.live-score').textContent()).toBe(before[0]?.liveScore?.toFixed(3));
    expect(await items.nth(0).locator('.reason').textContent()).toBe(before[0]?.reason);
    expect(await items.nth(0).locator('.vendor-status').textContent()).toBe('VERIFIED');
    expect(await items.nth(0).locator('.attempts').textContent()).toBe('1');
    await expect
      .poll(() =>
        items
          .nth(0)
          .locator('img')
          .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBe(240);

    // Act: a approves the first; j skips the second; d asks for a note; Enter declines with it.
    await page.keyboard.press('a');
    await expect.poll(() => status(0).textContent()).toBe('APPROVED by alice');
    await page.keyboard.press('j');
    await page.keyboard.press('d');
    await expect.poll(() => status(2).textContent()).toMatch(/A note is required/);
    await page.keyboard.type('printed photo held to the camera');
    await page.keyboard.press('Enter');
    await expect.poll(() => status(2).textContent()).toBe('DECLINED by alice');
    // k goes back to the one skipped; a approves it.
    await page.keyboard.press('k');
    await page.keyboard.press('a');
    await expect.poll(() => status(1).textContent()).toBe('APPROVED by alice');

    // Assess: the table has each verdict once, beside the pipeline's untouched decision and attempts.
    const after = await batchResults('keyboard');
    expect(after.map((r) => (r.review as { verdict?: string } | undefined)?.verdict)).toEqual([
      'APPROVED',
      'APPROVED',
      'DECLINED',
      undefined,
    ]);
    expect(after[2]?.review).toMatchObject({ reviewer: 'alice', note: 'printed photo held to the camera' });
    for (const [i, result] of after.entries()) {
      const { review: _review, ...rest } = result;
      const { review: _none, ...was } = before[i] as SelfieResult;
      expect(rest).toEqual(was);
    }
    const history = await historyOf(after[2]?.selfieId as string);
    expect(history).toEqual([
      expect.objectContaining({
        what: 'REVIEW',
        verdict: 'DECLINED',
        reviewer: 'alice',
        decision: 'REVIEW',
        note: 'printed photo held to the camera',
        at: (after[2]?.review as { at?: string } | undefined)?.at,
      }),
    ]);
    expect(await pipeline.repository.getBatchSummary('keyboard')).toMatchObject({
      REVIEW: 4,
      reviewed: 3,
      reviewedREVIEW: 3,
    });
    // One "Selfie Review Outcome" event per verdict, on the bus, with the reviewer's answer.
    expect(
      events.map((e) => [e['detail-type'], e.detail.selfieId, e.detail.verdict, e.detail.reviewer]),
    ).toEqual([
      [pipelineSettings.events.reviewDetailType, after[0]?.selfieId, 'APPROVED', 'alice'],
      [pipelineSettings.events.reviewDetailType, after[2]?.selfieId, 'DECLINED', 'alice'],
      [pipelineSettings.events.reviewDetailType, after[1]?.selfieId, 'APPROVED', 'alice'],
    ]);
    // A fresh load lists only the one still awaiting review.
    await page.reload();
    expect(
      await page
        .locator('article.item')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-selfie-id'))),
    ).toEqual([after[3]?.selfieId]);
    expect(events[1]?.detail).toMatchObject({
      schemaVersion: 1,
      decision: 'REVIEW',
      note: 'printed photo held to the camera',
      batchId: 'keyboard',
    });
  });

  it('lets only one of two reviewers decide a selfie; the second is told who was first', async () => {
    // Prepare: two reviewers, each with a browser context of their own, on the same selfie.
    const [selfie] = await batchResults('race');
    const alice = await startServer('alice', 'race');
    const bob = await startServer('bob', 'race');
    const a = await open(alice.server.url);
    const b = await open(bob.server.url);

    // Act: both press approve at once.
    await Promise.all([a.page.keyboard.press('a'), b.page.keyboard.press('a')]);

    // Assess: exactly one verdict; the other page names the winner.
    const texts = await Promise.all(
      [a.page, b.page].map(async (page) => {
        await expect.poll(() => page.locator('article.item .status').textContent()).not.toBe('');
        return page.locator('article.item .status').textContent();
      }),
    );
    const winner = texts.some((t) => t === 'APPROVED by alice') ? 'alice' : 'bob';
    const loserText = winner === 'alice' ? texts[1] : texts[0];
    expect(texts).toContain(`APPROVED by ${winner}`);
    expect(loserText).toMatch(new RegExp(`^Already decided: APPROVED by ${winner} at \\d{4}-`));
    const stored = (await batchResults('race'))[0];
    expect(stored?.review).toMatchObject({ verdict: 'APPROVED', reviewer: winner });
    expect(await historyOf(selfie?.selfieId as string)).toHaveLength(1);
    expect([...alice.events, ...bob.events]).toHaveLength(1);
    expect(await pipeline.repository.getBatchSummary('race')).toMatchObject({ reviewed: 1 });
  });

  it('refuses requests without the right token or from another Host, and sends no CORS headers', async () => {
    // Prepare
    const { server } = await startServer('alice', 'race');
    const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = request(`${server.origin}${path}`, { method, headers }, (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const port = new URL(server.origin).port;

    // Act
    const missing = await get('/');
    const wrong = await get(`/?token=${'x'.repeat(server.token.length)}`);
    const image = await get(`/image?id=x`);
    const postWithoutHeader = await get('/verdict', { 'content-type': 'application/json' }, 'POST');
    const rebinding = await get(`/?token=${server.token}`, { host: `evil.example:${port}` });
    const withOrigin = await get(`/?token=${server.token}`, { origin: 'http://evil.example' });
    const preflight = await get('/verdict', { origin: 'http://evil.example' }, 'OPTIONS');
    const { page } = await open(`${server.origin}/?token=wrong`);

    // Assess
    expect([missing.status, wrong.status, image.status, postWithoutHeader.status]).toEqual([
      403, 403, 403, 403,
    ]);
    expect(missing.body).not.toContain('article');
    expect(rebinding.status).toBe(421);
    expect(withOrigin.status).toBe(200);
    expect(withOrigin.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.status).toBe(403);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(await page.locator('article.item').count()).toBe(0);
    expect(await page.textContent('body')).toContain('Wrong or missing token');
  });

  it('shows a hostile key as text: nothing runs, the CSP allows no inline script', async () => {
    // Prepare
    const { server } = await startServer('alice', 'hostile');
    const { page, dialogs, requests } = await open(server.url);

    // Assess
    const key = page.locator('article.item h2.key');
    expect(await key.textContent()).toBe(HOSTILE_KEY);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(await page.locator('script:not([src])').count()).toBe(0);
    const response = await page.request.get(server.url);
    expect(response.headers()['content-security-policy']).toBe(REVIEW_CSP);
    expect(requests.every((url) => url.startsWith(server.origin))).toBe(true);
    // The image is served for the hostile key too, streamed from the bucket.
    await expect
      .poll(() =>
        page
          .locator('article.item img')
          .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBe(240);
  });

  it('runs from the CLI on the local cloud: prints the URL with its token, and the event reaches the archive', async () => {
    // Prepare
    const io = captureIo();
    const [selfie] = await batchResults('cli');

    // Act
    const code = await runReview(['--batch', 'cli', '--reviewer', 'carol', '--state-dir', stateDir], io, {
      onStarted: async (server) => {
        const { page } = await open(server.url);
        await page.keyboard.press('a');
        await expect.poll(() => page.locator('article.item .status').textContent()).toBe('APPROVED by carol');
      },
    });

    // Assess
    expect(code).toBe(0);
    expect(io.out()).toMatch(
      /Review page for carol on .*:\n {2}http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43}\n/,
    );
    const archived = readFileSync(join(stateDir, 'events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as EventEnvelope);
    expect(archived).toEqual([
      expect.objectContaining({
        'detail-type': 'Selfie Review Outcome',
        source: 'liveness-batch',
        detail: expect.objectContaining({
          selfieId: selfie?.selfieId,
          verdict: 'APPROVED',
          reviewer: 'carol',
        }),
      }),
    ]);
  });

  it('counts reviewed vs awaiting review in the batch summary, shown by audit and report', async () => {
    // Prepare
    const [first] = await batchResults('counts');
    const { server } = await startServer('dave', 'counts');
    const dir = mkdtempSync(join(tmpdir(), 'review-report-'));

    // Act: one verdict through the server's API, as the page sends it.
    const response = await fetch(`${server.origin}/verdict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-review-token': server.token },
      body: JSON.stringify({ selfieId: first?.selfieId, verdict: 'DECLINED', note: 'mask' }),
    });
    const declineWithoutNote = await fetch(`${server.origin}/verdict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-review-token': server.token },
      body: JSON.stringify({ selfieId: first?.selfieId, verdict: 'DECLINED' }),
    });
    const auditIo = captureIo();
    await runAudit(['--batch', 'counts', '--state-dir', stateDir], auditIo);
    const reportIo = captureIo();
    await runReport(['--batch', 'counts', '--out', join(dir, 'r.html'), '--state-dir', stateDir], reportIo);
    const { page } = await open(`file://${join(dir, 'r.html')}`);

    // Assess
    expect(response.status).toBe(200);
    expect(declineWithoutNote.status).toBe(400);
    expect(await declineWithoutNote.json()).toEqual({ message: 'A note is required to decline.' });
    expect(auditIo.out()).toContain('reviewed 1, awaiting review 1');
    const one = captureIo();
    await runAudit(['--selfie', first?.selfieId as string, '--state-dir', stateDir], one);
    expect(one.out()).toMatch(/ {2}review +DECLINED by dave at \d{4}-[\d:.TZ-]+: mask\n/);
    expect(await page.textContent('#card-reviewed b')).toBe('1 / 1');
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('liveness-batch review: the optional decisions', () => {
  let vendorSaysNo: PipelineFixture;
  beforeAll(async () => {
    // Every face NOT VERIFIED: nothing is REVIEW, everything is NOT_VERIFIED.
    vendorSaysNo = await createPipelineFixture({ sandbox: { liveRatio: 0 } });
    const records = [];
    for (const seed of [880, 881]) {
      const bytes = await syntheticFace({ seed, width: 240, height: 320 });
      records.push(await vendorSaysNo.upload(`uploads/nv/face-${seed}.jpg`, bytes));
    }
    await vendorSaysNo.enqueue(records);
    await vendorSaysNo.drain();
  }, 120_000);
  afterAll(async () => {
    await vendorSaysNo?.stop();
  });

  it('lists NOT_VERIFIED selfies only when the reviewer asks for them (the page filter)', async () => {
    // Prepare
    const server = await startReviewServer({
      db: vendorSaysNo.db,
      tableName: vendorSaysNo.tableName,
      s3: vendorSaysNo.s3,
      bucket: vendorSaysNo.bucket,
      publisher: new LocalEventBus({
        rules: outcomeRules,
        targets: { reviewQueue: async () => undefined, opsQueue: async () => undefined },
        archive: async () => undefined,
      }),
      eventBusName: 'test-bus',
      reviewer: 'erin',
      where: 'the test cloud',
      decisions: ['REVIEW'],
      sinceMs: 24 * 3600 * 1000,
    });
    servers.push(server);
    const { page } = await open(server.url);
    const before = await page.locator('article.item').count();
    const emptyText = await page.textContent('#empty');

    // Act
    await page.fill('#filter input[name="batch"]', 'nv');
    await page.check('#filter input[value="NOT_VERIFIED"]');
    await page.click('#filter button[type="submit"]');
    await page.waitForURL(/include=NOT_VERIFIED/);

    // Assess
    expect(before).toBe(0);
    expect(emptyText).toBe('Nothing is waiting for review.');
    expect(await page.locator('article.item .decision').allTextContents()).toEqual([
      'NOT_VERIFIED',
      'NOT_VERIFIED',
    ]);
    expect(await page.locator('#filter input[value="NOT_VERIFIED"]').isChecked()).toBe(true);
  });
});
