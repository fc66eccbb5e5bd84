import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { ChangeMessageVisibilityCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../cli/audit.ts';
import { runPurge } from '../../cli/purge.ts';
import { runReconcile } from '../../cli/reconcile.ts';
import { runRedrive } from '../../cli/redrive.ts';
import { runReport } from '../../cli/report.ts';
import { RESULT_CSV_COLUMNS, SELFIE_CSV_COLUMNS } from '../../operations/reports/audit-output.ts';
import { transactionReferenceFor } from '../../shared/liveness/reference.ts';
import type { SelfieResult } from '../../shared/results/records.ts';
import { BATCH, captureIo, type OpsScenario, parseCsv, produceOpsScenario, SCRIPT_KEY } from './support.ts';

let scenario: OpsScenario;
let results: SelfieResult[];

beforeAll(async () => {
  scenario = await produceOpsScenario();
  const ids = [
    ...scenario.keys.faces,
    scenario.keys.duplicate,
    ...scenario.keys.rejected,
    ...scenario.keys.failed,
  ].map(scenario.selfieId);
  results = (await Promise.all(ids.map((id) => scenario.pipeline.repository.getResult(id)))).filter(
    (r): r is SelfieResult => r !== undefined,
  );
}, 120_000);

afterAll(async () => {
  await scenario?.stop();
});

const auditIn = async (from: OpsScenario, ...argv: string[]) => {
  const io = captureIo();
  const code = await runAudit([...argv, '--state-dir', from.stateDir], io);
  return { code, out: io.out(), err: io.err() };
};
const audit = (...argv: string[]) => auditIn(scenario, ...argv);

/**
 * A scenario of its own for the tests of a describe that change it (redrive, purge), so the tests
 * that read the shared scenario never depend on running before or after them.
 */
function ownScenario(): () => OpsScenario {
  let own: OpsScenario | undefined;
  beforeAll(async () => {
    own = await produceOpsScenario();
  }, 120_000);
  afterAll(async () => {
    await own?.stop();
  });
  return () => {
    if (!own) throw new Error('the scenario was not produced');
    return own;
  };
}

/** Last-modified times (ms) of objects in a scenario's bucket. */
async function lastModifiedOf(from: OpsScenario, keys: string[]): Promise<number[]> {
  const out = await from.pipeline.s3.send(new ListObjectsV2Command({ Bucket: from.pipeline.bucket }));
  const byKey = new Map((out.Contents ?? []).map((o) => [o.Key, o.LastModified?.getTime() ?? 0]));
  return keys.map((key) => byKey.get(key) ?? Number.NaN);
}

describe('the scenario the real pipeline produced', () => {
  it('has every kind of outcome: decided by the vendor, a duplicate, rejected and failed', () => {
    // Assess
    const decisions = new Set(results.map((r) => r.decision));
    expect(results).toHaveLength(11);
    expect(decisions).toEqual(new Set(['VERIFIED', 'NOT_VERIFIED', 'REVIEW', 'REJECTED', 'FAILED']));
    expect(results.filter((r) => r.duplicateOf)).toHaveLength(1);
  });
});

describe('liveness-batch audit against the local host', () => {
  it('by selfie (--selfie and --bucket/--key) prints the result, every attempt and the history in a table', async () => {
    // Prepare
    const key = scenario.keys.failed[0] as string;
    const selfieId = scenario.selfieId(key);

    // Act
    const bySelfie = await audit('--selfie', selfieId);
    const byKey = await audit('--bucket', scenario.pipeline.bucket, '--key', key);

    // Assess
    expect(bySelfie.code).toBe(0);
    expect(byKey.out).toBe(bySelfie.out);
    expect(bySelfie.out).toContain(`Selfie ${selfieId}`);
    expect(bySelfie.out).toMatch(/decision\s+FAILED/);
    expect(bySelfie.out).toContain('Attempts (4)');
    for (const n of [1, 2, 3, 4]) expect(bySelfie.out).toContain(transactionReferenceFor(selfieId, n));
  });

  it('by selfie in JSON and CSV: the same attempts, CSV in the documented column order', async () => {
    // Prepare
    const selfieId = scenario.selfieId(scenario.keys.faces[0] as string);

    // Act
    const json = await audit('--selfie', selfieId, '--format', 'json');
    const csv = await audit('--selfie', selfieId, '--format', 'csv');

    // Assess
    const document = JSON.parse(json.out);
    expect(document.result).toMatchObject({ selfieId, batchId: BATCH, attempts: 1, paidCalls: 1 });
    expect(document.attempts).toMatchObject([{ attempt: 1, outcome: 'completed' }]);
    expect(document.result.pk).toBeUndefined();
    const rows = parseCsv(csv.out);
    expect(rows[0]).toEqual([...SELFIE_CSV_COLUMNS]);
    expect(rows.map((r) => r[0])).toEqual(['record', 'RESULT', 'ATTEMPT']);
    expect(rows[2]?.[SELFIE_CSV_COLUMNS.indexOf('transactionReference')]).toBe(
      transactionReferenceFor(selfieId, 1),
    );
  });

  it('by batch lists every result with the batch counts, in all three formats', async () => {
    // Act
    const table = await audit('--batch', BATCH);
    const json = await audit('--batch', BATCH, '--format', 'json');
    const csv = await audit('--batch', BATCH, '--format', 'csv');

    // Assess
    expect(table.out).toMatch(
      /Batch counts: total 11: VERIFIED \d+, NOT_VERIFIED \d+, REVIEW \d+, REJECTED 2, FAILED 2/,
    );
    expect(table.out).toContain('11 results');
    const document = JSON.parse(json.out);
    expect(document).toMatchObject({ query: { batchId: BATCH }, count: 11, summary: { total: 11 } });
    const rows = parseCsv(csv.out);
    expect(rows[0]).toEqual([...RESULT_CSV_COLUMNS]);
    expect(
      rows
        .slice(1)
        .map((r) => r[0])
        .sort(),
    ).toEqual(results.map((r) => r.selfieId).sort());
    const keyColumn = RESULT_CSV_COLUMNS.indexOf('key');
    expect(rows.map((r) => r[keyColumn])).toContain(SCRIPT_KEY);
  });

  it('by batch and decision lists only that decision', async () => {
    // Act
    const csv = await audit('--batch', BATCH, '--decision', 'REJECTED', '--format', 'csv');
    const json = await audit('--batch', BATCH, '--decision', 'FAILED', '--format', 'json');

    // Assess
    const rows = parseCsv(csv.out).slice(1);
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r[RESULT_CSV_COLUMNS.indexOf('decision')] === 'REJECTED')).toBe(true);
    expect(
      JSON.parse(json.out)
        .results.map((r: SelfieResult) => r.key)
        .sort(),
    ).toEqual([...scenario.keys.failed].sort());
  });

  it('by decision over a date range (index byDecisionDate), in all three formats; a range before it is empty', async () => {
    // Prepare: the days the scenario decided on, from its results (not the clock: it may have crossed UTC midnight)
    const verifiedResults = results.filter((r) => r.decision === 'VERIFIED');
    const days = verifiedResults.map((r) => (r.decidedAt ?? '').slice(0, 10)).sort();
    const [from, to] = [days[0] ?? '', days.at(-1) ?? ''];
    const verified = verifiedResults.length;

    // Act
    const table = await audit('--decision', 'VERIFIED', '--from', from, '--to', to);
    const json = await audit('--decision', 'VERIFIED', '--from', from, '--to', to, '--format', 'json');
    const csv = await audit('--decision', 'VERIFIED', '--from', from, '--to', to, '--format', 'csv');
    const before = await audit(
      '--decision',
      'VERIFIED',
      '--from',
      '2020-01-01',
      '--to',
      '2020-01-31',
      '--format',
      'json',
    );

    // Assess
    expect(verified).toBeGreaterThan(0);
    expect(table.out).toContain(`${verified} result`);
    expect(JSON.parse(json.out).count).toBe(verified);
    expect(parseCsv(csv.out)).toHaveLength(verified + 1);
    expect(JSON.parse(before.out)).toMatchObject({ results: [], count: 0 });
  });

  it('by vendor reference finds the selfie it was sent for, in all three formats', async () => {
    // Prepare
    const selfieId = scenario.selfieId(scenario.keys.failed[1] as string);
    const reference = transactionReferenceFor(selfieId, 3);

    // Act
    const table = await audit('--reference', reference);
    const json = await audit('--reference', reference, '--format', 'json');
    const csv = await audit('--reference', reference, '--format', 'csv');
    const unknown = await audit('--reference', 'lb-nobody-1');

    // Assess
    expect(table.out).toContain(`Reference ${reference} was sent for this selfie.`);
    expect(JSON.parse(json.out)).toMatchObject({ reference, selfieId, result: { decision: 'FAILED' } });
    expect(parseCsv(csv.out).filter((r) => r[0] === 'ATTEMPT')).toHaveLength(4);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('No vendor call with reference lb-nobody-1');
  });

  it('refuses unclear questions with a usage error that says what to do', async () => {
    // Act / Assess
    await expect(audit('--batch', BATCH, '--reference', 'x')).rejects.toThrow(/one question at a time/);
    await expect(audit('--decision', 'VERIFIED')).rejects.toThrow(/--from DATE --to DATE/);
    await expect(audit('--batch', BATCH, '--format', 'xml')).rejects.toThrow(/table, json or csv/);
    await expect(audit('--decision', 'FAILED', '--from', '2026-02-01', '--to', '2026-01-01')).rejects.toThrow(
      /before --to/,
    );
  });
});

const CHROMIUM = '/usr/bin/chromium';

describe('liveness-batch report, opened in headless Chromium', () => {
  it('renders counts, charts, paid calls and cost, and every item to review with its reason; a <script> key is shown as text and never runs', async () => {
    // Prepare
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is missing at ${CHROMIUM}: this test opens the HTML report in it. Install it with \`apt-get install -y chromium\` (CI's .ci/run installs it).`,
      );
    }
    const dir = mkdtempSync(join(tmpdir(), 'ops-report-'));
    const file = join(dir, 'report.html');
    const io = captureIo();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    try {
      // Act
      const code = await runReport(
        [
          '--batch',
          BATCH,
          '--out',
          file,
          '--price-per-call',
          '0.05',
          '--currency',
          'USD',
          '--state-dir',
          scenario.stateDir,
        ],
        io,
      );
      const page = await browser.newPage();
      const requests: string[] = [];
      const dialogs: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('dialog', async (d) => {
        dialogs.push(d.message());
        await d.dismiss();
      });
      await page.goto(pathToFileURL(file).href);

      // Assess: counts per decision as the pipeline recorded them.
      expect(code).toBe(0);
      for (const decision of ['VERIFIED', 'NOT_VERIFIED', 'REVIEW', 'REJECTED', 'FAILED']) {
        const expected = results.filter((r) => r.decision === decision).length;
        expect(await page.textContent(`[data-count="${decision}"]`)).toBe(String(expected));
      }
      const paid = results.reduce((n, r) => n + r.paidCalls, 0);
      expect(await page.textContent('#card-paid b')).toBe(String(paid));
      expect(await page.textContent('#card-cost b')).toBe(`$${(paid * 0.05).toFixed(2)}`);
      expect(await page.textContent('#card-retries b')).toBe(String(2 * 3));
      expect(await page.locator('#chart-live svg rect').count()).toBe(10);
      expect(await page.locator('#chart-pop svg rect').count()).toBe(10);
      expect(await page.textContent('#latency-summary')).toMatch(/^\d+ timed calls; latency p50 \d+ ms/);
      // The review table: every REVIEW, NOT_VERIFIED, FAILED and REJECTED selfie with its reason.
      const attention = results.filter((r) =>
        ['REVIEW', 'NOT_VERIFIED', 'FAILED', 'REJECTED'].includes(r.state),
      );
      const rows = page.locator('#attention tbody tr');
      expect(await rows.count()).toBe(attention.length);
      for (const result of attention) {
        const row = rows.filter({ has: page.locator('td.key', { hasText: result.key }) });
        expect(await row.count()).toBeGreaterThanOrEqual(1);
        expect(await row.first().locator('td.reason').textContent()).toBe(result.reason);
      }
      // The hostile key is text on the page; nothing ran and nothing was fetched.
      expect(
        await page.locator('#attention td.key', { hasText: '<script>window.__pwned=1</script>' }).count(),
      ).toBe(1);
      expect(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).toBeUndefined();
      expect(await page.locator('script').count()).toBe(0);
      expect(dialogs).toEqual([]);
      expect(requests.filter((url) => !url.startsWith('file:'))).toEqual([]);
      expect(readFileSync(file, 'utf8')).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    } finally {
      await browser.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('liveness-batch reconcile against the local host', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  /** The vendor's statement as the sandbox ledger bills it: one line per charged call. */
  const statementFrom = (entries: Array<{ transactionReference: string | null; at: string }>) =>
    entries.map((e) => [e.transactionReference ?? '', e.at, '0.05', 'SUCCESSFUL']);
  const write = (rows: string[][], header = 'Transaction Reference,Transaction Date,Amount,Debit Status') => {
    const dir = mkdtempSync(join(tmpdir(), 'ops-statement-'));
    dirs.push(dir);
    const file = join(dir, 'statement.csv');
    writeFileSync(file, `${header}\r\n${rows.map((r) => r.join(',')).join('\r\n')}\r\n`);
    return file;
  };
  // Both vendors' charges: the broken one charges its 500 answers, and says so (debited), so we count them.
  const charged = () =>
    [...scenario.pipeline.sandbox.ledger(), ...scenario.brokenVendor.ledger()].filter((e) => e.charged);

  it('exits 0 and says everything matches when the statement lists exactly our paid calls', async () => {
    // Prepare
    const file = write(statementFrom(charged()));
    const io = captureIo();

    // Act
    const code = await runReconcile(['--statement', file, '--state-dir', scenario.stateDir], io);

    // Assess
    // 6 verdicts, and 2 selfies x 4 charged 500 answers of the broken vendor.
    expect(charged()).toHaveLength(14);
    expect(io.out()).toMatch(
      /matched +14\n +missing on ours +0\n +missing on theirs +0\n +status mismatches +0/,
    );
    expect(io.out()).toContain('Everything matches.');
    expect(code).toBe(0);
  });

  it('reports each of the four categories and exits 1', async () => {
    // Prepare: a reference we never sent; one of our paid calls left out; one debit status that differs;
    // and one of our paid calls charged twice.
    const lines = statementFrom(charged());
    const dropped = lines.pop() as string[];
    const disputed = lines[0] as string[];
    disputed[3] = 'FAILED';
    const twice = lines[1] as string[];
    lines.push(['lb-000000000000000000000000-1', new Date().toISOString(), '0.05', 'SUCCESSFUL']);
    lines.push([...twice]);
    const file = write(lines, 'reference,date,amount,debit_status');
    const io = captureIo();

    // Act
    const code = await runReconcile(
      ['--statement', file, '--state-dir', scenario.stateDir, '--format', 'json'],
      io,
    );

    // Assess
    const report = JSON.parse(io.out());
    expect(code).toBe(1);
    expect(report.matched).toBe(charged().length - 3);
    expect(report.missingOnOurs).toMatchObject([
      { reference: 'lb-000000000000000000000000-1', amount: 0.05 },
    ]);
    expect(report.missingOnTheirs).toMatchObject([{ reference: dropped[0], debitStatus: 'SUCCESSFUL' }]);
    // References are looked up side by side, so the mismatches come in no particular order.
    expect(report.mismatches).toHaveLength(2);
    expect(report.mismatches).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reference: disputed[0], why: 'the debit status differs' }),
        expect.objectContaining({
          reference: twice[0],
          why: 'the vendor charged 2 time(s); we recorded 1 paid and 0 uncertain call(s)',
        }),
      ]),
    );
  });

  it('reads a spreadsheet export: a byte-order mark, quoted cells holding commas, quotes and line breaks', async () => {
    // Prepare: the same charges as an exact statement, with a multi-line quoted memo column
    const dir = mkdtempSync(join(tmpdir(), 'ops-statement-'));
    dirs.push(dir);
    const file = join(dir, 'statement.csv');
    const memo = (i: number) => `"memo ${i}, line one\r\nline two with ""quotes"""`;
    const rows = statementFrom(charged()).map((row, i) => `${row.join(',')},${memo(i)}`);
    const header = 'Transaction Reference,Transaction Date,Amount,Debit Status,Memo';
    writeFileSync(file, `\uFEFF${header}\r\n${rows.join('\r\n')}\r\n`);
    const io = captureIo();

    // Act
    const code = await runReconcile(
      ['--statement', file, '--state-dir', scenario.stateDir, '--format', 'json'],
      io,
    );

    // Assess
    const report = JSON.parse(io.out());
    expect(report).toMatchObject({ lines: charged().length, matched: charged().length, unreadable: [] });
    expect(code).toBe(0);
  });

  it('refuses a statement that is not CSV (an unclosed quote), saying what to do', async () => {
    // Prepare
    const file = write([['"lb-1', '2026-01-01', '0.05', 'SUCCESSFUL']]);

    // Act / Assess
    await expect(
      runReconcile(['--statement', file, '--state-dir', scenario.stateDir], captureIo()),
    ).rejects.toThrow(/is not a readable CSV file .*fix the file or export it again/);
  });

  it('refuses a statement whose header it cannot read, saying which columns it expects', async () => {
    // Prepare
    const file = write([['x', 'y']], 'foo,bar');

    // Act / Assess
    await expect(
      runReconcile(['--statement', file, '--state-dir', scenario.stateDir], captureIo()),
    ).rejects.toThrow(/must name a reference, a date and an amount or debit status column/);
  });
});

/** Receives every message of a queue, then makes them visible again: what is in it, untouched. */
async function peekBodies(from: OpsScenario, queueUrl: string): Promise<string[]> {
  const sqs = from.pipeline.sqs;
  const held: Array<{ body: string; handle: string }> = [];
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }),
    );
    if (!out.Messages?.length) break;
    held.push(...out.Messages.map((m) => ({ body: m.Body ?? '', handle: m.ReceiptHandle ?? '' })));
  }
  for (const m of held) {
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: m.handle,
        VisibilityTimeout: 0,
      }),
    );
  }
  return held.map((m) => m.body).sort();
}

describe('liveness-batch redrive against the local host', () => {
  // Redrive changes the scenario (the DLQ, the failed results): it gets its own.
  const mine = ownScenario();

  // One test, since a redrive changes what a dry run would see: the dry run comes first, in the test itself.
  it('--dry-run lists the DLQ messages and changes nothing; redrive then moves them back unchanged and reopens their results; the worker decides them without paying twice', async () => {
    // Prepare: the cause (a vendor answering 500) is fixed; the scenario's worker uses the working vendor.
    const dlqBodies = await peekBodies(mine(), mine().pipeline.dlq.queueUrl);
    const failedIds = mine().keys.failed.map(mine().selfieId);
    const dry = captureIo();
    const io = captureIo();

    // Act: a dry run, then the redrive
    const dryCode = await runRedrive(['--dry-run', '--state-dir', mine().stateDir], dry);
    const afterDryRun = {
      dlq: await peekBodies(mine(), mine().pipeline.dlq.queueUrl),
      states: await Promise.all(
        failedIds.map(async (id) => (await mine().pipeline.repository.getResult(id))?.state),
      ),
    };
    const code = await runRedrive(['--state-dir', mine().stateDir], io);
    const moved = await peekBodies(mine(), mine().pipeline.workQueue.queueUrl);
    const reopened = await Promise.all(failedIds.map((id) => mine().pipeline.repository.getResult(id)));
    const summaryAfterRedrive = await mine().pipeline.repository.getBatchSummary(BATCH);
    await mine().pipeline.drain();

    // Assess: the dry run listed both and changed nothing.
    expect(dryCode).toBe(0);
    expect(dlqBodies).toHaveLength(2);
    expect(dry.out()).toContain('2 message(s) in the DLQ; nothing moved (dry run)');
    for (const selfieId of failedIds)
      expect(dry.out()).toContain(`${selfieId}: FAILED result would be reopened`);
    expect(afterDryRun).toEqual({ dlq: dlqBodies, states: ['FAILED', 'FAILED'] });
    // Then: moved unchanged, reopened with history, counts consistent.
    expect(code).toBe(0);
    expect(io.out()).toContain('Moved 2 message(s) to the work queue');
    expect(moved).toEqual(dlqBodies);
    expect(await peekBodies(mine(), mine().pipeline.dlq.queueUrl)).toEqual([]);
    for (const result of reopened) {
      expect(result).toMatchObject({ state: 'RECEIVED', attempts: 4, leaseUntil: 0 });
      expect(result?.decision).toBeUndefined();
      expect(result?.gsi2pk).toBeUndefined();
    }
    expect(summaryAfterRedrive).toMatchObject({ total: 11, FAILED: 0, redriven: 2 });
    // Then the worker decided them with one new call each, attempt 5, continuing the numbering.
    for (const selfieId of failedIds) {
      const result = await mine().pipeline.repository.getResult(selfieId);
      expect(['VERIFIED', 'NOT_VERIFIED', 'REVIEW']).toContain(result?.decision);
      // The broken vendor debited each of its four 500 answers: those count as paid too.
      expect(result).toMatchObject({
        attempts: 5,
        paidCalls: 5,
        transactionReference: transactionReferenceFor(selfieId, 5),
      });
      const history = await auditIn(mine(), '--selfie', selfieId, '--format', 'json');
      expect(JSON.parse(history.out).history).toMatchObject([
        {
          what: 'REDRIVE',
          previousDecision: 'FAILED',
          previousReason: expect.stringMatching(/RETRIES_EXHAUSTED/),
        },
      ]);
    }
    const summary = await mine().pipeline.repository.getBatchSummary(BATCH);
    const decided = ['VERIFIED', 'NOT_VERIFIED', 'REVIEW', 'REJECTED', 'FAILED'] as const;
    expect(decided.reduce((n, d) => n + (summary?.[d] ?? 0), 0)).toBe(11);
    // No reference was charged twice, by either vendor, and none of the failed ones was sent again.
    const charged = [
      ...mine().pipeline.paidReferences(),
      ...mine()
        .brokenVendor.ledger()
        .filter((e) => e.charged)
        .map((e) => e.transactionReference),
    ];
    expect(new Set(charged).size).toBe(charged.length);
    const resent = mine()
      .pipeline.sandbox.ledger()
      .map((e) => e.transactionReference);
    for (const selfieId of failedIds) {
      for (const n of [1, 2, 3, 4]) expect(resent).not.toContain(transactionReferenceFor(selfieId, n));
    }
  });

  it('says how to start a local host when none runs: the local queues live in its memory', async () => {
    // Act / Assess
    await expect(runRedrive(['--state-dir', `${mine().stateDir}-none`], captureIo())).rejects.toThrow(
      /liveness-batch up --state-dir/,
    );
  });
});

describe('liveness-batch purge against the local host', () => {
  // Purge deletes the scenario's uploads: it gets its own.
  const mine = ownScenario();
  const listKeys = async () => {
    const out = await mine().pipeline.s3.send(new ListObjectsV2Command({ Bucket: mine().pipeline.bucket }));
    return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
  };
  const allKeys = () => [
    ...mine().keys.faces,
    mine().keys.duplicate,
    ...mine().keys.rejected,
    ...mine().keys.failed,
  ];

  it('deletes only uploads older than the cut-off, records each deletion in the selfie history, and never deletes results', async () => {
    // Prepare: one fresh upload and one outside the upload prefix; the clock is set so the cut-off
    // (now - 1h) falls just after the batch's newest upload, instead of waiting for uploads to age.
    const batchUploads = await lastModifiedOf(mine(), allKeys());
    const put = (Key: string) =>
      mine().pipeline.s3.send(new PutObjectCommand({ Bucket: mine().pipeline.bucket, Key, Body: 'x' }));
    await put('exports/old-report.csv');
    await put('uploads/fresh/new.jpg');
    const [fresh] = await lastModifiedOf(mine(), ['uploads/fresh/new.jpg']);
    const cutoff = Math.max(...batchUploads) + 1;
    const now = () => new Date(cutoff + 3_600_000);
    const resultsBefore = JSON.parse(
      (await auditIn(mine(), '--batch', BATCH, '--format', 'json')).out,
    ).results;
    const dry = { ...captureIo(), now };
    const real = { ...captureIo(), now };

    // Act
    const dryCode = await runPurge(['--older-than', '1h', '--dry-run', '--state-dir', mine().stateDir], dry);
    const keysAfterDryRun = await listKeys();
    const code = await runPurge(['--older-than', '1h', '--state-dir', mine().stateDir], real);

    // Assess: the fresh upload is newer than the cut-off (S3 times have a 1 s grain); the dry run changed nothing.
    expect(fresh).toBeGreaterThanOrEqual(cutoff);
    expect(dryCode).toBe(0);
    expect(dry.out()).toContain('Would delete 11 of 12 object(s)');
    expect(keysAfterDryRun).toEqual([...allKeys(), 'exports/old-report.csv', 'uploads/fresh/new.jpg'].sort());
    // Only the old uploads went; the fresh one and the object outside uploads/ stayed.
    expect(code).toBe(0);
    expect(real.out()).toContain('Deleted 11 of 12 object(s)');
    expect(await listKeys()).toEqual(['exports/old-report.csv', 'uploads/fresh/new.jpg']);
    // Each deletion is in its selfie's history; every result is still there, unchanged.
    for (const key of allKeys()) {
      const { history } = JSON.parse(
        (await auditIn(mine(), '--bucket', mine().pipeline.bucket, '--key', key, '--format', 'json')).out,
      );
      expect(history.filter((h: { what: string }) => h.what === 'PURGED')).toEqual([
        expect.objectContaining({ bucket: mine().pipeline.bucket, key, lastModified: expect.any(String) }),
      ]);
    }
    const resultsAfter = JSON.parse(
      (await auditIn(mine(), '--batch', BATCH, '--format', 'json')).out,
    ).results;
    expect(resultsAfter).toEqual(resultsBefore);
  });

  it('refuses a duration it cannot read', async () => {
    // Act / Assess
    await expect(
      runPurge(['--older-than', 'a month', '--state-dir', mine().stateDir], captureIo()),
    ).rejects.toThrow(/positive duration like 30d/);
    await expect(runPurge(['--state-dir', mine().stateDir], captureIo())).rejects.toThrow(
      /--older-than DURATION is required/,
    );
  });
});
