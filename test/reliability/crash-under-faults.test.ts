import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../cli/run.ts';
import { type RunningSandbox, startSandbox } from '../../sandbox/server.ts';
import type { OutcomeEventDetail } from '../../shared/events/outcome-event.ts';
import { transactionReferenceFor } from '../../shared/liveness/reference.ts';
import {
  decidedTotal,
  doubleCharges,
  parseRunResult,
  readEvents,
  runArgs,
  startCli,
  stopDynamoDbServing,
} from '../support/cli-runs.ts';
import { seededRandom } from '../support/images.ts';
import { type CorpusFile, stateTextFiles, writeHostileCorpus } from './support.ts';

const BATCH = 'reliability';
const SEED = 20261126;
/** Distinctive credentials: neither may ever show up in a log line. */
const USER_ID = 'reliability-user-4417';
const API_KEY = 'rk_RELIABILITY_do_not_log_7Hq2ZpX9wV';
const MAX_KILLS = 4;
/** What raw JPEG/PNG/WebP bytes look like once decoded as UTF-8 text (a replacement-character run, or the magic). */
const rawImageMarkers = ['\uFFFD\uFFFD\uFFFD', 'JFIF', '\uFFFDPNG', 'WEBPVP8'];
/** A kill lands this long after a start (ms, seeded): during boot, uploads, or vendor calls. */
const KILL_WINDOW_MS = [1_500, 14_000] as const;

describe('liveness-batch run over a hostile corpus, under vendor faults, killed with SIGKILL until it completes', () => {
  let root: string;
  let corpusDir: string;
  let stateDir: string;
  let files: CorpusFile[];
  let sandbox: RunningSandbox;
  const outputs: string[] = [];
  const kills: Array<{ afterMs: number; ledgerEntries: number }> = [];
  let final: RunResult;
  let events: OutcomeEventDetail[];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lb-reliability-'));
    corpusDir = join(root, 'corpus');
    stateDir = join(root, 'state');
    files = await writeHostileCorpus(corpusDir, 16);
    // The vendor lives outside the host, as a real one does: it keeps its ledger across host crashes.
    sandbox = await startSandbox({
      port: 0,
      userId: USER_ID,
      apiKey: API_KEY,
      seed: `reliability-${SEED}`,
      pendingRate: 0.25,
      errorRate: 0.1,
      hangRate: 0.05,
      latencyMs: { min: 20, max: 200 },
      ledgerFile: join(root, 'vendor-ledger.jsonl'),
    });

    const args = runArgs(
      corpusDir,
      BATCH,
      stateDir,
      '--concurrency',
      '8',
      '--vendor-url',
      sandbox.endpointUrl,
      '--user-id',
      USER_ID,
      '--api-key',
      API_KEY,
    );
    const random = seededRandom(SEED);
    for (let run = 0; ; run++) {
      const cli = startCli(args);
      const killAt =
        run < MAX_KILLS ? KILL_WINDOW_MS[0] + random() * (KILL_WINDOW_MS[1] - KILL_WINDOW_MS[0]) : undefined;
      const timer =
        killAt === undefined
          ? undefined
          : setTimeout(() => {
              kills.push({ afterMs: Math.round(killAt), ledgerEntries: sandbox.ledger().length });
              cli.child.kill('SIGKILL');
            }, killAt);
      const ended = await cli.done;
      clearTimeout(timer);
      outputs.push(ended.stdout, ended.stderr);
      if (ended.signal === 'SIGKILL') continue;
      if (ended.code !== 0) throw new Error(`run ${run} exited ${ended.code}:\n${ended.stderr.slice(-3000)}`);
      final = parseRunResult(ended.stdout);
      break;
    }
    events = readEvents(stateDir);
    const faults = sandbox.ledger().reduce<Record<string, number>>((acc, e) => {
      const kind = e.fault ?? (e.charged ? 'charged' : e.replayOf ? 'replayed' : 'other');
      acc[kind] = (acc[kind] ?? 0) + 1;
      return acc;
    }, {});
    console.info(
      `${kills.length} kill(s) at ${kills.map((k) => `${k.afterMs} ms (${k.ledgerEntries} vendor calls so far)`).join(', ')}; vendor calls ${JSON.stringify(faults)}; decisions ${JSON.stringify(final.decisions)}`,
    );
  }, 20 * 60_000);

  afterAll(async () => {
    const orphans = stopDynamoDbServing(stateDir);
    if (orphans > 0) console.warn(`${orphans} DynamoDB Local process(es) outlived their killed host`);
    await sandbox?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const selfieIdOf = (file: CorpusFile) => `s3://liveness-batch-selfies/uploads/${BATCH}/${file.path}`;

  it('was killed mid-run at least once and still completed', () => {
    // Assess: the kills happened, and one of them while the vendor was being called
    expect(kills.length).toBeGreaterThan(0);
    expect(kills.some((k) => k.ledgerEntries > 0)).toBe(true);
    expect(final.total).toBe(files.length);
  });

  it('decides every object exactly once: summary, results and one event per selfie', () => {
    // Assess: the summary counts every file once
    expect(decidedTotal(final)).toBe(files.length);
    // Assess: one event per selfie, for exactly the corpus's keys
    const perSelfie = new Map<string, number>();
    for (const e of events) perSelfie.set(e.selfieId, (perSelfie.get(e.selfieId) ?? 0) + 1);
    expect([...perSelfie.values()].filter((n) => n !== 1)).toEqual([]);
    expect([...perSelfie.keys()].sort()).toEqual(files.map(selfieIdOf).sort());
  });

  it('rejects every hostile file with its specific reason, and verifies every good one', () => {
    const byId = new Map(events.map((e) => [e.selfieId, e]));
    const wrong: string[] = [];
    for (const file of files) {
      const event = byId.get(selfieIdOf(file));
      if (file.expect === 'ok') {
        if (!event || !['VERIFIED', 'NOT_VERIFIED', 'REVIEW'].includes(event.decision)) {
          wrong.push(`${file.path}: ${event?.decision} ${event?.reason}`);
        }
      } else if (event?.decision !== 'REJECTED' || !event.reason?.startsWith(`${file.expect}: `)) {
        wrong.push(`${file.path}: expected REJECTED ${file.expect}, got ${event?.decision} ${event?.reason}`);
      } else if (event.reason.length < file.expect.length + 20) {
        wrong.push(`${file.path}: reason too generic: ${event.reason}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('pays once for identical bytes: every copy reuses one outcome', () => {
    const copies = files
      .filter((f) => f.sameBytesAs === 'jpeg')
      .map((f) => events.find((e) => e.selfieId === selfieIdOf(f)));
    expect(new Set(copies.map((e) => e?.decision)).size).toBe(1);
    expect(copies.filter((e) => e?.duplicateOf === null)).toHaveLength(1);
  });

  it('charges nothing twice and never charges for a rejected file', () => {
    const ledger = sandbox.ledger();
    const charged = ledger.filter((e) => e.charged && e.transactionReference !== null);
    // No reference charged twice
    expect(doubleCharges(ledger)).toEqual([]);
    // No selfie charged under two references (a crash resends its open reference instead)
    const prefixOf = (file: CorpusFile) => transactionReferenceFor(selfieIdOf(file), 1).slice(0, -1);
    const chargesPerFile = files.map((f) => ({
      file: f,
      charges: charged.filter((e) => e.transactionReference?.startsWith(prefixOf(f))).length,
      calls: ledger.filter((e) => e.transactionReference?.startsWith(prefixOf(f))).length,
    }));
    expect(chargesPerFile.filter((c) => c.charges > 1).map((c) => c.file.path)).toEqual([]);
    // Rejected files never reached the vendor at all
    expect(
      chargesPerFile.filter((c) => c.file.expect !== 'ok' && c.calls > 0).map((c) => c.file.path),
    ).toEqual([]);
    // Every reference the vendor saw is one of ours
    expect(ledger.filter((e) => !e.transactionReference?.startsWith('lb-'))).toEqual([]);
  });

  it('logs no image bytes, no base64 and no API key anywhere', () => {
    const texts = [
      ...outputs.map((text, i) => ({ path: `run output ${i}`, text })),
      ...stateTextFiles(stateDir),
    ];
    const base64Heads = files
      .filter((f) => f.bytes.length >= 75)
      .map((f) => f.bytes.toString('base64').slice(0, 100));
    const leaks: string[] = [];
    for (const { path, text } of texts) {
      if (text.includes(API_KEY)) leaks.push(`${path}: API key`);
      const run = text.match(/[A-Za-z0-9+/]{100,}={0,2}/);
      if (run) leaks.push(`${path}: base64-like run of ${run[0].length} chars`);
      if (base64Heads.some((head) => text.includes(head))) leaks.push(`${path}: a corpus file in base64`);
      if (rawImageMarkers.some((marker) => text.includes(marker))) leaks.push(`${path}: raw image bytes`);
    }
    expect(texts.length).toBeGreaterThan(2);
    expect(leaks).toEqual([]);
  });
});
