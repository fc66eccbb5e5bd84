import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunResult } from '../../cli/run.ts';
import { type RunningSandbox, startSandbox } from '../../sandbox/server.ts';
import type { OutcomeEventDetail } from '../../shared/events/outcome-event.ts';
import { transactionReferenceFor } from '../../shared/liveness/reference.ts';
import { seededRandom } from '../../testkit/images.ts';
import {
  decidedTotal,
  doubleCharges,
  parseRunResult,
  readEvents,
  runArgs,
  startCli,
  stopDynamoDbServing,
} from '../support/cli-runs.ts';
import { type CorpusFile, stateTextFiles, writeHostileCorpus } from './support.ts';

const BATCH = 'reliability';
const SEED = 20261126;
/** Distinctive credentials: neither may ever show up in a log line. */
const USER_ID = 'reliability-user-4417';
const API_KEY = 'rk_RELIABILITY_do_not_log_7Hq2ZpX9wV';
const MAX_KILLS = 4;
/** What raw JPEG/PNG/WebP bytes look like once decoded as UTF-8 text (a replacement-character run, or the magic). */
const rawImageMarkers = ['\uFFFD\uFFFD\uFFFD', 'JFIF', '\uFFFDPNG', 'WEBPVP8'];
/**
 * A kill lands once the vendor has seen this many more calls since the run started (seeded), so it
 * falls among vendor calls however long the host takes to boot on a busy machine.
 */
const KILL_AFTER_CALLS = [1, 8] as const;
/** The firewall outage: it opens once the vendor has seen this many calls, and lasts 30 s. */
const OUTAGE = { afterCalls: 12, ms: 30_000 } as const;

/**
 * The same hostile run twice: with a vendor that deduplicates repeated references and with one that
 * does not (the vendor documents neither), under late answers, debited PENDINGs, redirects and a
 * 30-second firewall outage besides the classic faults.
 */
describe.each([
  { dedupe: true, label: 'a vendor that deduplicates references' },
  { dedupe: false, label: 'a vendor that charges every request' },
])(
  'liveness-batch run over a hostile corpus, under vendor faults, killed with SIGKILL until it completes ($label)',
  ({ dedupe }) => {
    let root: string;
    let corpusDir: string;
    let stateDir: string;
    let files: CorpusFile[];
    let sandbox: RunningSandbox;
    const outputs: string[] = [];
    const kills: Array<{ afterMs: number; ledgerEntries: number }> = [];
    let final: RunResult;
    let events: OutcomeEventDetail[];
    let redirectTarget: Server;
    let requestsToRedirectTarget = 0;
    let settled: { paidCalls: number; uncertainCalls: number; settled: Array<{ settledAs: string }> };

    beforeAll(async () => {
      redirectTarget = createServer((_req, res) => {
        requestsToRedirectTarget += 1;
        res.end('{}');
      });
      await new Promise<void>((resolve) => redirectTarget.listen(0, '127.0.0.1', resolve));
      const redirectPort = (redirectTarget.address() as { port: number }).port;
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
        pendingRate: 0.2,
        errorRate: 0.1,
        hangRate: 0.03,
        lateRate: 0.04,
        pendingDebitRate: 0.05,
        redirectRate: 0.03,
        redirectTo: `http://127.0.0.1:${redirectPort}/collect?token=never-sent`,
        dedupeReferences: dedupe,
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
      const outage = openOutageOnceCalled(sandbox);
      for (let run = 0; ; run++) {
        // INFO logs in <state>/logs/pipeline.log say why each selfie waited or called again.
        const cli = startCli(args, { POWERTOOLS_LOG_LEVEL: 'INFO' });
        const callsAtStart = sandbox.ledger().length;
        const killAfter =
          run < MAX_KILLS
            ? KILL_AFTER_CALLS[0] + Math.floor(random() * (KILL_AFTER_CALLS[1] - KILL_AFTER_CALLS[0] + 1))
            : undefined;
        const started = Date.now();
        const watcher =
          killAfter === undefined
            ? undefined
            : setInterval(() => {
                if (sandbox.ledger().length < callsAtStart + killAfter) return;
                clearInterval(watcher);
                kills.push({ afterMs: Date.now() - started, ledgerEntries: sandbox.ledger().length });
                cli.child.kill('SIGKILL');
              }, 20);
        const ended = await cli.done;
        clearInterval(watcher);
        outputs.push(ended.stdout, ended.stderr);
        if (ended.signal === 'SIGKILL') continue;
        if (ended.code !== 0)
          throw new Error(`run ${run} exited ${ended.code}:\n${ended.stderr.slice(-3000)}`);
        final = parseRunResult(ended.stdout);
        break;
      }
      outage.stop();
      events = readEvents(stateDir);
      settled = await reconcileAgainstLedger(sandbox, root, stateDir);
      const faults = sandbox.ledger().reduce<Record<string, number>>((acc, e) => {
        const kind = e.fault ?? (e.charged ? 'charged' : e.replayOf ? 'replayed' : 'other');
        acc[kind] = (acc[kind] ?? 0) + 1;
        return acc;
      }, {});
      console.info(
        `${kills.length} kill(s) at ${kills.map((k) => `${k.afterMs} ms (${k.ledgerEntries} vendor calls so far)`).join(', ')}; vendor calls ${JSON.stringify(faults)}; decisions ${JSON.stringify(final.decisions)}`,
      );
    }, 20 * 60_000);

    let keepForDiagnosis = false;
    beforeEach(({ onTestFailed }) => {
      onTestFailed(() => {
        keepForDiagnosis = true;
      });
    });

    afterAll(async () => {
      await new Promise((resolve) => redirectTarget?.close(resolve));
      const orphans = stopDynamoDbServing(stateDir);
      if (orphans > 0) console.warn(`${orphans} DynamoDB Local process(es) outlived their killed host`);
      await sandbox?.stop();
      if (keepForDiagnosis) {
        console.error(`kept for diagnosis: ${root} (vendor-ledger.jsonl, state/logs/pipeline.log)`);
        return;
      }
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
          wrong.push(
            `${file.path}: expected REJECTED ${file.expect}, got ${event?.decision} ${event?.reason}`,
          );
        } else if (event.reason.length < file.expect.length + 20) {
          wrong.push(`${file.path}: reason too generic: ${event.reason}`);
        }
      }
      expect(wrong).toEqual([]);
    });

    it('reuses one outcome for identical bytes, and a copy that paid for its own answer says so', () => {
      const copies = files
        .filter((f) => f.sameBytesAs === 'jpeg')
        .map((f) => events.find((e) => e.selfieId === selfieIdOf(f)));
      const code = (e: (typeof copies)[number]) => e?.reason?.split(':')[0];
      // Same bytes, same vendor verdict: every copy decided by a verdict, its own or reused, agrees.
      const verdicts = copies.filter((e) => code(e) === 'VENDOR_VERDICT' || code(e) === 'DUPLICATE_OF');
      expect(new Set(verdicts.map((e) => e?.decision)).size).toBe(1);
      // Identical bytes were reused at least once...
      expect(copies.some((e) => e?.duplicateOf)).toBe(true);
      // ...and a copy that did not reuse one (its twin's claim ran out while a killed host restarted, or
      // the twin ended without a verdict) carries its own paid or uncertain calls: never silently.
      const own = copies.filter((e) => e?.duplicateOf === null);
      expect(own.filter((e) => (e?.paidCalls ?? 0) + (e?.uncertainCalls ?? 0) === 0)).toEqual([]);
    });

    it('pauses through a 30-second firewall outage: the 403s were answered, nothing charged for them, nobody FAILED', () => {
      const forbidden = sandbox.ledger().filter((e) => e.httpStatus === 403);
      expect(forbidden.length).toBeGreaterThan(0);
      expect(forbidden.filter((e) => e.charged)).toEqual([]);
      expect(final.decisions.FAILED).toBe(0);
    });

    it('keeps the money invariant: the charged lines equal paid calls once reconcile settled the uncertain ones', () => {
      const charged = sandbox.ledger().filter((e) => e.charged);
      expect(settled.uncertainCalls).toBe(0);
      expect(settled.paidCalls).toBe(charged.length);
      expect(final.decisions.FAILED).toBe(0);
    });

    it(
      dedupe
        ? 'charges no image twice, except after a debited PENDING (a definitive answer, retried under a new reference)'
        : 'charges an image again only after a call it got no answer to, or after a debited PENDING',
      () => {
        const ledger = sandbox.ledger();
        const prefixOf = (file: CorpusFile) => transactionReferenceFor(selfieIdOf(file), 1).slice(0, -1);
        const unexplained: string[] = [];
        for (const file of files) {
          const lines = ledger.filter((e) => e.transactionReference?.startsWith(prefixOf(file)));
          const charges = lines.filter((e) => e.charged);
          for (const [index, charge] of charges.entries()) {
            if (index === 0) continue;
            const before = lines.filter((e) => e.seq < charge.seq);
            const afterDebitedPending = before.some((e) => e.charged && e.outcome === 'pending');
            const resentAfterNoAnswer = before.some(
              (e) => e.transactionReference === charge.transactionReference,
            );
            // A reference is resent only after a call that got no answer (answered late, or the host was
            // killed before it read the answer). If the vendor refuses the resend outright (a 500), the
            // next call takes a new reference: the unanswered charge is then in the record as an
            // uncertain call, which reconcile settles as paid (the money invariant above).
            const sentTwice = (ref: string | null | undefined) =>
              before.filter((e) => e.transactionReference === ref).length > 1;
            const afterUnansweredCharge = before.some((e) => e.charged && sentTwice(e.transactionReference));
            const explained = dedupe
              ? afterDebitedPending
              : afterDebitedPending || resentAfterNoAnswer || afterUnansweredCharge;
            if (!explained)
              unexplained.push(`${file.path}: charge #${charge.seq} (${charge.transactionReference})`);
          }
        }
        expect(unexplained).toEqual([]);
        if (dedupe) expect(doubleCharges(ledger)).toEqual([]);
      },
    );

    it('never charges for a rejected file, and sends nothing anywhere but the vendor URL', () => {
      const ledger = sandbox.ledger();
      const prefixOf = (file: CorpusFile) => transactionReferenceFor(selfieIdOf(file), 1).slice(0, -1);
      const rejectedCalled = files.filter(
        (f) => f.expect !== 'ok' && ledger.some((e) => e.transactionReference?.startsWith(prefixOf(f))),
      );
      expect(rejectedCalled.map((f) => f.path)).toEqual([]);
      // Every reference the vendor saw is one of ours
      expect(ledger.filter((e) => !e.transactionReference?.startsWith('lb-'))).toEqual([]);
      // Redirects happened, and not one request followed them
      expect(ledger.some((e) => e.outcome === 'redirect')).toBe(true);
      expect(requestsToRedirectTarget).toBe(0);
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
  },
);

/**
 * Settles the uncertain calls with `reconcile` against a statement made from the vendor's charged
 * lines, then reads the batch's money back with `audit`.
 */
async function reconcileAgainstLedger(sandbox: RunningSandbox, root: string, stateDir: string) {
  const statement = join(root, 'statement.csv');
  const lines = sandbox
    .ledger()
    .filter((e) => e.charged)
    .map((e) => `${e.transactionReference},${e.at},0.05`);
  await writeFile(statement, ['reference,date,amount', ...lines].join('\n'));
  const reconcile = await startCli([
    'reconcile',
    '--statement',
    statement,
    '--state-dir',
    stateDir,
    '--batch',
    BATCH,
    '--format',
    'json',
  ]).done;
  if (reconcile.code !== 0)
    throw new Error(`reconcile exited ${reconcile.code}:\n${reconcile.stdout}${reconcile.stderr}`);
  const audit = await startCli(['audit', '--batch', BATCH, '--state-dir', stateDir, '--format', 'json']).done;
  const summary = JSON.parse(audit.stdout).summary as { paidCalls: number; uncertainCalls: number };
  return { ...summary, settled: JSON.parse(reconcile.stdout).settled };
}

/**
 * A firewall in front of the vendor blocks every call for 30 seconds, once calls are flowing: every
 * other fault is off meanwhile (the fault shares add up to at most 1), and back on afterwards.
 */
function openOutageOnceCalled(sandbox: RunningSandbox) {
  const faults = {
    pendingRate: sandbox.options.pendingRate,
    errorRate: sandbox.options.errorRate,
    hangRate: sandbox.options.hangRate,
    lateRate: sandbox.options.lateRate,
    pendingDebitRate: sandbox.options.pendingDebitRate,
    redirectRate: sandbox.options.redirectRate,
  };
  const off = Object.fromEntries(Object.keys(faults).map((rate) => [rate, 0]));
  let closing: NodeJS.Timeout | undefined;
  const watcher = setInterval(() => {
    if (sandbox.ledger().length < OUTAGE.afterCalls) return;
    clearInterval(watcher);
    sandbox.setFaults({ ...off, forbiddenRate: 1 });
    closing = setTimeout(() => sandbox.setFaults({ ...faults, forbiddenRate: 0 }), OUTAGE.ms);
  }, 20);
  return {
    stop() {
      clearInterval(watcher);
      clearTimeout(closing);
    },
  };
}
