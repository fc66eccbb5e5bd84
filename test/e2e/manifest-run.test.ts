import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../cli/audit.ts';
import { readManifest } from '../../cli/manifest.ts';
import type { SelfieResult } from '../../shared/results/records.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { captureIo } from '../ops/support.ts';
import { parseRunResult, readEvents, startCli, stopDynamoDbServing } from '../support/cli-runs.ts';

/** A child run boots the local cloud (DynamoDB Local's JVM); leave room for a busy machine. */
const E2E_TIMEOUT_MS = 180_000;

describe('run --manifest (child process, real emulators)', () => {
  let root: string;
  let corpus: string;
  let stateDir: string;
  let manifest: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lb-manifest-'));
    corpus = join(root, 'corpus');
    stateDir = join(root, 'state');
    await mkdir(join(corpus, 'day 1'), { recursive: true });
    for (const [i, name] of ['a.jpg', 'b.jpg', 'day 1/c.jpg'].entries()) {
      await writeFile(join(corpus, name), await syntheticFace({ seed: 820 + i, width: 240, height: 320 }));
    }
    manifest = join(corpus, 'manifest.csv');
    await writeFile(
      manifest,
      [
        '\uFEFFfile,subject_id,correlation_id',
        'a.jpg,applicant-1,"check, first"',
        'gone.jpg,applicant-2,check-2',
        'b.jpg,applicant-1,',
        '"day 1/c.jpg",,check-3',
        '',
      ].join('\r\n'),
    );
  }, E2E_TIMEOUT_MS);

  afterAll(async () => {
    stopDynamoDbServing(stateDir);
    await rm(root, { recursive: true, force: true });
  });

  it(
    'uploads the listed files with their IDs, reports the missing one, and the IDs reach results, events and audit --subject',
    async () => {
      // Act
      const { code, stdout, stderr } = await startCli([
        'run',
        '--manifest',
        manifest,
        '--json',
        '--batch',
        'm1',
        '--state-dir',
        stateDir,
      ]).done;
      const audit = captureIo();
      await runAudit(['--subject', 'applicant-1', '--format', 'json', '--state-dir', stateDir], audit);

      // Assess: exit 1 for the skipped row; the three files there are decided.
      expect(code).toBe(1);
      expect(stderr).toContain('Not uploading 1 manifest row(s)');
      expect(stderr).toContain('line 3: gone.jpg is missing');
      const result = parseRunResult(stdout);
      expect(result.total).toBe(3);
      const checks = JSON.parse(audit.out()).results as SelfieResult[];
      // Both of the applicant's checks, newest decision first (which of the two is decided first
      // depends on the workers, so the order is checked against the recorded times).
      expect(checks.map((r) => [r.key, r.correlationId ?? null]).sort()).toEqual([
        ['uploads/m1/a.jpg', 'check, first'],
        ['uploads/m1/b.jpg', null],
      ]);
      const decidedAt = checks.map((r) => r.decidedAt ?? '');
      expect(decidedAt).toEqual([...decidedAt].sort().reverse());
      const events = readEvents(stateDir);
      expect(events).toHaveLength(3);
      const byKey = new Map(events.map((e) => [e.key, e]));
      expect(byKey.get('uploads/m1/a.jpg')).toMatchObject({
        schemaVersion: 2,
        subjectId: 'applicant-1',
        correlationId: 'check, first',
      });
      expect(byKey.get('uploads/m1/day 1/c.jpg')).toMatchObject({
        schemaVersion: 2,
        subjectId: null,
        correlationId: 'check-3',
      });
    },
    E2E_TIMEOUT_MS,
  );
});

describe('readManifest', () => {
  it('requires the header, and reports rows outside the folder, duplicates and malformed IDs', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'lb-manifest-unit-'));
    await writeFile(join(dir, 'a.jpg'), 'x');
    await writeFile(join(dir, 'b.jpg'), 'x');
    const file = join(dir, 'm.csv');
    try {
      // Act
      const read = await readManifest(
        file,
        [
          'file,subject_id,correlation_id',
          'a.jpg,s1,c1',
          'a.jpg,s1,c2',
          '../elsewhere.jpg,,',
          `b.jpg,${'x'.repeat(129)},`,
          '',
        ].join('\n'),
      );

      // Assess
      expect(read.entries).toEqual([
        {
          path: join(dir, 'a.jpg'),
          keyPath: 'a.jpg',
          metadata: { 'subject-id': 's1', 'correlation-id': 'c1' },
        },
      ]);
      expect(read.problems).toEqual([
        'line 3: a.jpg is already on line 2',
        "line 4: ../elsewhere.jpg is outside the manifest's folder",
        'line 5: b.jpg: subject_id is 129 characters long (at most 128)',
      ]);
      await expect(readManifest(file, 'file,subject\na.jpg,s1\n')).rejects.toThrow(
        /must start with the header file,subject_id,correlation_id/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
