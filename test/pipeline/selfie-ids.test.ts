import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../cli/audit.ts';
import { ensureResultsTable, resultsTableInput } from '../../local-cloud/results-table.ts';
import { RESULT_CSV_COLUMNS } from '../../operations/reports/audit-output.ts';
import { outcomeEventDetailV1Schema } from '../../shared/events/outcome-event.ts';
import { outcomeOf } from '../../shared/publish/publish-outcomes.ts';
import type { SelfieResult } from '../../shared/results/records.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { captureIo, describePipelineAsRunningHost, parseCsv } from '../ops/support.ts';
import { uniqueName } from '../support/emulators.ts';
import { createPipelineFixture, objectCreatedRecord, type PipelineFixture } from '../support/pipeline.ts';

let pipeline: PipelineFixture;
let stateDir: string;
let host: { stop(): void };
const results = new Map<string, SelfieResult>();

const KEYS = {
  first: 'uploads/ids/applicant-7-first.jpg',
  second: 'uploads/ids/applicant-7-second.jpg',
  plain: 'uploads/ids/no-ids.jpg',
  tooLong: 'uploads/ids/too-long.jpg',
  unprintable: 'uploads/ids/unprintable.jpg',
};

async function put(key: string, seed: number, metadata?: Record<string, string>) {
  const bytes = await syntheticFace({ seed, width: 240, height: 320 });
  await pipeline.s3.send(
    new PutObjectCommand({
      Bucket: pipeline.bucket,
      Key: key,
      Body: bytes,
      ...(metadata ? { Metadata: metadata } : {}),
    }),
  );
  return objectCreatedRecord(pipeline.bucket, key, bytes.length);
}

beforeAll(async () => {
  pipeline = await createPipelineFixture();
  // Two checks of one applicant, decided one after the other, so "newest first" is observable.
  await pipeline.enqueue([
    await put(KEYS.first, 701, { 'subject-id': 'applicant-7', 'correlation-id': 'chk-1' }),
  ]);
  await pipeline.drain();
  await pipeline.enqueue([
    await put(KEYS.second, 702, { 'subject-id': 'applicant-7', 'correlation-id': 'chk-2' }),
    await put(KEYS.plain, 703),
    await put(KEYS.tooLong, 704, { 'subject-id': 'x'.repeat(129) }),
    await put(KEYS.unprintable, 705, { 'correlation-id': 'caf\u00e9' }),
  ]);
  await pipeline.drain();
  for (const key of Object.values(KEYS)) {
    const result = await pipeline.repository.getResult(selfieIdOf({ bucket: pipeline.bucket, key }));
    if (result) results.set(key, result);
  }
  stateDir = mkdtempSync(join(tmpdir(), 'ids-state-'));
  host = describePipelineAsRunningHost(stateDir, pipeline);
}, 120_000);

afterAll(async () => {
  host?.stop();
  await pipeline?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

const streamRecord = (result: SelfieResult) => ({
  eventName: 'MODIFY' as const,
  dynamodb: {
    NewImage: marshall(result, { removeUndefinedValues: true }) as never,
    StreamViewType: 'NEW_IMAGE' as const,
  },
});

describe('subject and correlation IDs from S3 user metadata', () => {
  it('carries them onto the result from the same GetObject, and into a version 2 outcome event', () => {
    // Assess
    const first = results.get(KEYS.first);
    expect(first).toMatchObject({ subjectId: 'applicant-7', correlationId: 'chk-1' });
    expect(first?.decision).toMatch(/^(VERIFIED|NOT_VERIFIED)$/);
    const detail = outcomeOf(streamRecord(first as SelfieResult));
    expect(detail).toMatchObject({ schemaVersion: 2, subjectId: 'applicant-7', correlationId: 'chk-1' });
  });

  it('leaves a selfie without IDs exactly as before: no attributes, a version 1 event', () => {
    // Assess
    const plain = results.get(KEYS.plain) as SelfieResult;
    expect(plain.subjectId).toBeUndefined();
    const detail = outcomeOf(streamRecord(plain));
    expect(detail?.schemaVersion).toBe(1);
    expect(detail).not.toHaveProperty('subjectId');
    expect(outcomeEventDetailV1Schema.safeParse(detail).success).toBe(true);
  });

  it('rejects malformed IDs as BAD_METADATA naming the field, before any vendor call', () => {
    // Assess
    expect(results.get(KEYS.tooLong)).toMatchObject({
      decision: 'REJECTED',
      reason: 'BAD_METADATA: subject-id is 129 characters long (at most 128)',
      attempts: 0,
      paidCalls: 0,
    });
    // S3 carries non-ASCII metadata RFC 2047-encoded; either way it is not printable ASCII.
    expect(results.get(KEYS.unprintable)).toMatchObject({ decision: 'REJECTED', attempts: 0 });
    expect(results.get(KEYS.unprintable)?.reason).toMatch(
      /^BAD_METADATA: correlation-id must be printable ASCII/,
    );
    const paid = pipeline.paidReferences();
    expect(paid).toHaveLength(3);
  });

  it('audit --subject lists every check of the applicant, newest first, from the bySubject index', async () => {
    // Act
    const json = captureIo();
    await runAudit(['--subject', 'applicant-7', '--format', 'json', '--state-dir', stateDir], json);
    const csv = captureIo();
    await runAudit(['--subject', 'applicant-7', '--format', 'csv', '--state-dir', stateDir], csv);
    const table = captureIo();
    await runAudit(['--subject', 'nobody', '--state-dir', stateDir], table);

    // Assess
    const listed = JSON.parse(json.out()).results as SelfieResult[];
    expect(listed.map((r) => r.correlationId)).toEqual(['chk-2', 'chk-1']);
    const rows = parseCsv(csv.out());
    expect(rows[0]).toEqual([...RESULT_CSV_COLUMNS]);
    const subjectColumn = RESULT_CSV_COLUMNS.indexOf('subjectId');
    const correlationColumn = RESULT_CSV_COLUMNS.indexOf('correlationId');
    expect(rows.slice(1).map((r) => [r[subjectColumn], r[correlationColumn]])).toEqual([
      ['applicant-7', 'chk-2'],
      ['applicant-7', 'chk-1'],
    ]);
    expect(table.out()).not.toContain('applicant-7');
  });
});

describe('ensureResultsTable on a table made before the bySubject index', () => {
  it('adds the missing index', async () => {
    // Prepare
    const tableName = uniqueName('old-results');
    const input = resultsTableInput(tableName);
    await pipeline.db.send(
      new CreateTableCommand({
        ...input,
        GlobalSecondaryIndexes: input.GlobalSecondaryIndexes?.filter((i) => i.IndexName !== 'bySubject'),
        AttributeDefinitions: input.AttributeDefinitions?.filter((a) => !a.AttributeName?.startsWith('gsi4')),
      }),
    );

    // Act
    await ensureResultsTable(pipeline.db, tableName);

    // Assess
    const described = await pipeline.db.send(new DescribeTableCommand({ TableName: tableName }));
    expect(described.Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName).sort()).toEqual([
      'byBatch',
      'byDecisionDate',
      'byReference',
      'bySubject',
    ]);
  });
});
