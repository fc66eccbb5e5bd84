import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCalibrate } from '../../cli/calibrate.ts';
import { AuditQueries } from '../../operations/audit-queries.ts';
import { CALIBRATION_CSP } from '../../operations/calibration/det-page.ts';
import { ReviewVerdicts } from '../../operations/review/verdicts.ts';
import type { SelfieResult } from '../../shared/results/records.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { captureIo, describePipelineAsRunningHost } from '../ops/support.ts';
import { createPipelineFixture, type PipelineFixture } from '../support/pipeline.ts';

const BATCH = 'pad-1';
const CHROMIUM = '/usr/bin/chromium';
const HOSTILE = 'uploads/pad-1/<img src=x onerror="window.__pwned=1">.jpg';

let pipeline: PipelineFixture;
let host: { stop(): void };
let stateDir: string;
let dir: string;
let faces: SelfieResult[];
let labelsFile: string;
/**
 * Ground truth as a PAD test would have it: mostly what the vendor said, with one attack it called
 * VERIFIED and one live person it called NOT VERIFIED, so both error rates are above zero.
 */
let labels: Array<'bona_fide' | 'attack'>;
const labelOf = (i: number) => labels[i] as 'bona_fide' | 'attack';

beforeAll(async () => {
  pipeline = await createPipelineFixture({ sandbox: { liveRatio: 0.5 }, env: { MIN_LIVE_SCORE: '50' } });
  const records = [];
  for (let seed = 1; seed <= 16; seed++) {
    const bytes = await syntheticFace({ seed: 100 + seed, width: 240, height: 320, grain: 0.2 });
    records.push(await pipeline.upload(`uploads/${BATCH}/face-${seed}.jpg`, bytes));
  }
  records.push(await pipeline.upload(`uploads/${BATCH}/not-a-selfie.jpg`, Buffer.from('plain text')));
  await pipeline.enqueue(records);
  await pipeline.drain();
  const all: SelfieResult[] = [];
  for await (const page of new AuditQueries(pipeline.db, pipeline.tableName).batchPages(BATCH))
    all.push(...page);
  faces = all.filter((r) => r.key.includes('/face-')).sort((a, b) => a.key.localeCompare(b.key));
  labels = faces.map((r) => (r.vendorStatus === 'VERIFIED' ? 'bona_fide' : 'attack'));
  const firstVerified = faces.findIndex((r) => r.vendorStatus === 'VERIFIED');
  const firstNot = faces.findIndex((r) => r.vendorStatus === 'NOT VERIFIED');
  labels[firstVerified] = 'attack';
  labels[firstNot] = 'bona_fide';

  stateDir = mkdtempSync(join(tmpdir(), 'calibrate-state-'));
  host = describePipelineAsRunningHost(stateDir, pipeline);
  dir = mkdtempSync(join(tmpdir(), 'calibrate-'));
  labelsFile = join(dir, 'labels.csv');
  const rows = faces.map((r, i) => `"${r.key}",${labelOf(i)}`);
  writeFileSync(
    labelsFile,
    `\uFEFFkey,label\r\n${rows.join('\r\n')}\r\nuploads/${BATCH}/not-a-selfie.jpg,attack\r\n"${HOSTILE.replace(/"/g, '""')}",attack\r\n${rows[0]}\r\nuploads/${BATCH}/face-x.jpg,spoof\r\n`,
  );
}, 120_000);

afterAll(async () => {
  host?.stop();
  await pipeline?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The rates counted by hand from the decisions the pipeline stored. */
function expectedRates() {
  const attacks = faces.filter((_, i) => labelOf(i) === 'attack');
  const bonaFide = faces.filter((_, i) => labelOf(i) === 'bona_fide');
  return {
    apcer: { errors: attacks.filter((r) => r.decision === 'VERIFIED').length, total: attacks.length },
    bpcer: { errors: bonaFide.filter((r) => r.decision !== 'VERIFIED').length, total: bonaFide.length },
  };
}

describe('liveness-batch calibrate through the results table', () => {
  it('measures APCER and BPCER of the stored decisions, warns about unusable labels, and writes a DET page that runs nothing', async () => {
    // Prepare
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y chromium\`.`);
    }
    const page = join(dir, 'calibration.html');
    const io = captureIo();
    const expected = expectedRates();

    // Act
    const code = await runCalibrate(
      [
        '--labels',
        labelsFile,
        '--batch',
        BATCH,
        '--min-live-score',
        '50',
        '--max-bpcer',
        '35%',
        '--json',
        '--out',
        page,
        '--state-dir',
        stateDir,
      ],
      io,
    );
    const report = JSON.parse(io.out());

    // Assess: the sandbox's verdicts vary, so both kinds of error are possible; the counts are the table's.
    expect(code).toBe(0);
    expect(faces).toHaveLength(16);
    expect(new Set(faces.map((f) => f.decision)).size).toBeGreaterThan(1);
    expect(report.counts).toEqual({ bonaFide: expected.bpcer.total, attack: expected.apcer.total });
    expect(expected.apcer.errors).toBeGreaterThan(0);
    expect(expected.bpcer.errors).toBeGreaterThan(0);
    expect(report.confidenceInterval).toBe('Wilson score, 95%');
    expect(report.recorded.apcer).toMatchObject(expected.apcer);
    expect(report.recorded.bpcer).toMatchObject(expected.bpcer);
    // The run used min-live-score 50, so the rule at 50 gives what was recorded.
    expect(report.current).toEqual(report.recorded);
    expect(report.curves.map((c: { id: string }) => c.id)).toEqual([
      'live_score',
      'combined_min_live',
      'combined_max_pop',
    ]);
    for (const rec of report.recommendations) expect(rec.rates.bpcer.rate).toBeLessThanOrEqual(0.35);
    expect(report.warnings).toEqual([
      `line ${faces.length + 4}: duplicate of line 2 (${faces[0]?.key}, ${labelOf(0)}); the first is kept`,
      `line ${faces.length + 5}: unknown label "spoof" for uploads/${BATCH}/face-x.jpg (expected bona_fide or attack); row skipped`,
      `line ${faces.length + 2}: uploads/${BATCH}/not-a-selfie.jpg has no vendor verdict (decision REJECTED); not counted`,
      `line ${faces.length + 3}: key ${HOSTILE} matches no decided result in the selection`,
    ]);

    // Assess: the page, in headless Chromium.
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--no-first-run',
      ],
    });
    try {
      const tab = await browser.newPage();
      const requests: string[] = [];
      tab.on('request', (r) => requests.push(r.url()));
      await tab.goto(pathToFileURL(page).href);
      expect(await tab.textContent('#counts')).toBe(
        `${expected.bpcer.total} bona fide, ${expected.apcer.total} attack presentations`,
      );
      expect(await tab.textContent('#rates-recorded .apcer')).toContain(
        `(${expected.apcer.errors}/${expected.apcer.total}; 95% CI`,
      );
      expect(await tab.locator('#det polyline.curve').count()).toBe(3);
      expect(await tab.locator('#det #current-point').count()).toBe(1);
      expect(await tab.locator('#recommendations code').first().textContent()).toMatch(
        /^--min-live-score [\d.]+$/,
      );
      expect(await tab.locator('#warnings li', { hasText: HOSTILE }).count()).toBe(1);
      expect(await tab.locator('img').count()).toBe(0);
      expect(await tab.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).toBeUndefined();
      expect(await tab.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content')).toBe(
        CALIBRATION_CSP,
      );
      expect(requests.filter((url) => !url.startsWith('file:'))).toEqual([]);
      expect(readFileSync(page, 'utf8')).not.toMatch(/<script/);
    } finally {
      await browser.close();
    }
  });

  it('prints a table with the Wilson intervals and the thresholds as flags and stack props', async () => {
    // Prepare
    const io = captureIo();
    const expected = expectedRates();

    // Act
    const code = await runCalibrate(
      ['--labels', labelsFile, '--batch', BATCH, '--max-bpcer', '0.35', '--state-dir', stateDir],
      io,
    );

    // Assess
    expect(code).toBe(0);
    expect(io.out()).toContain(
      `pad-1, labels from ${labelsFile}: ${expected.bpcer.total} bona fide, ${expected.apcer.total} attack`,
    );
    expect(io.out()).toMatch(
      new RegExp(
        `decisions as recorded +[\\d.]+% ${expected.apcer.errors}/${expected.apcer.total} \\[[\\d.]+%, [\\d.]+%\\]`,
      ),
    );
    expect(io.out()).toContain('95% Wilson score interval');
    expect(io.out()).toMatch(/run\/up: --min-live-score [\d.]+\n +stack: +-c minLiveScore=[\d.]+/);
    expect(io.out()).toContain('warnings (4):');
  });

  it('refuses a labels file without a label column, and a missing selection, as usage errors', async () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'key,verdict\nx,attack\n');
    await expect(runCalibrate(['--labels', bad, '--batch', BATCH], captureIo())).rejects.toThrow(
      /label column/,
    );
    await expect(runCalibrate(['--labels', labelsFile], captureIo())).rejects.toThrow(/--batch ID/);
    await expect(runCalibrate(['--batch', BATCH], captureIo())).rejects.toThrow(/--from-reviews/);
  });

  it("uses reviewers' verdicts as labels with --from-reviews: APPROVED is bona fide, DECLINED an attack", async () => {
    // Prepare: a reviewer settles two selfies the pipeline did not verify.
    const undecided = faces.filter((r) => r.decision === 'REVIEW' || r.decision === 'NOT_VERIFIED');
    const verdicts = new ReviewVerdicts(pipeline.db, pipeline.tableName);
    const at = new Date().toISOString();
    const [approved, declined] = undecided;
    await verdicts.record({
      selfieId: approved?.selfieId as string,
      verdict: 'APPROVED',
      reviewer: 'alice',
      at,
    });
    await verdicts.record({
      selfieId: declined?.selfieId as string,
      verdict: 'DECLINED',
      note: 'mask',
      reviewer: 'alice',
      at,
    });
    const io = captureIo();

    // Act
    const code = await runCalibrate(
      ['--from-reviews', '--batch', BATCH, '--json', '--state-dir', stateDir],
      io,
    );

    // Assess: the approved live person was not accepted by the pipeline (BPCER 1/1); the attack was not either.
    const report = JSON.parse(io.out());
    expect(code).toBe(0);
    expect(undecided.length).toBeGreaterThanOrEqual(2);
    expect(report.labels).toBe("reviewers' verdicts");
    expect(report.counts).toEqual({ bonaFide: 1, attack: 1 });
    expect(report.recorded.bpcer).toMatchObject({ errors: 1, total: 1 });
    expect(report.recorded.apcer).toMatchObject({ errors: 0, total: 1 });
  });
});
