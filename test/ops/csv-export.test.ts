import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../cli/audit.ts';
import { resultsTableInput } from '../../local-cloud/results-table.ts';
import { RESULT_CSV_COLUMNS } from '../../operations/reports/audit-output.ts';
import { transactionReferenceFor } from '../../shared/liveness/reference.ts';
import { keys } from '../../shared/results/records.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { uniqueName } from '../support/emulators.ts';
import { createPipelineFixture } from '../support/pipeline.ts';
import { captureIo, describeAsRunningHost, parseCsv } from './support.ts';

const ROWS = 100_000;
const HEAP_BOUND_MB = 64;
const BATCH = 'big';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let stateDir: string;
let host: { stop(): void };

/**
 * 100,000 result items in a fresh table, each a copy of a result the real pipeline wrote (so every
 * attribute and index key has the pipeline's shape), with its own selfie id, key, decision time and
 * index keys. BatchWrite instead of 100,000 vendor round trips, which would not fit in CI.
 * The table has the results table's keys and indexes but no stream: an export reads no stream, and
 * stream records would only slow these writes down.
 */
beforeAll(async () => {
  const pipeline = await createPipelineFixture();
  const key = 'uploads/template/face.jpg';
  await pipeline.enqueue([
    await pipeline.upload(key, await syntheticFace({ seed: 42, width: 240, height: 320 })),
  ]);
  await pipeline.drain();
  const template = await pipeline.repository.getResult(selfieIdOf({ bucket: pipeline.bucket, key }));
  if (!template?.decision || !template.decidedAt)
    throw new Error('the pipeline did not decide the template selfie');
  const decision = template.decision;

  const tableName = uniqueName('export');
  const { StreamSpecification: _noStream, ...input } = resultsTableInput(tableName);
  await (pipeline.db as unknown as DynamoDBClient).send(new CreateTableCommand(input));
  const start = Date.parse(template.decidedAt);
  const itemAt = (i: number) => {
    const selfieId = selfieIdOf({
      bucket: pipeline.bucket,
      key: `uploads/${BATCH}/selfie-${String(i).padStart(6, '0')}.jpg`,
    });
    const at = new Date(start + i * 10).toISOString();
    return {
      ...template,
      pk: keys.selfie(selfieId),
      sk: keys.result,
      selfieId,
      key: selfieId.slice(`s3://${pipeline.bucket}/`.length),
      batchId: BATCH,
      receivedAt: at,
      updatedAt: at,
      decidedAt: at,
      transactionReference: transactionReferenceFor(selfieId, 1),
      gsi1pk: keys.batch(BATCH),
      gsi1sk: keys.batchIndexSk(decision, selfieId),
      gsi2pk: keys.decisionDay(decision, at),
      gsi2sk: keys.decisionSk(at, selfieId),
    };
  };
  let next = 0;
  const writer = async () => {
    while (next < ROWS) {
      const first = next;
      next += 25;
      let requests: Record<string, Array<Record<string, unknown>>> | undefined = {
        [tableName]: Array.from({ length: Math.min(25, ROWS - first) }, (_, j) => ({
          PutRequest: { Item: itemAt(first + j) },
        })),
      };
      while (requests && Object.keys(requests).length > 0) {
        const out = await pipeline.db.send(new BatchWriteCommand({ RequestItems: requests as never }));
        requests = out.UnprocessedItems as typeof requests;
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, writer));
  await pipeline.stop();

  stateDir = mkdtempSync(join(tmpdir(), 'ops-export-'));
  host = describeAsRunningHost(stateDir, {
    bucket: pipeline.bucket,
    tableName,
    workQueueUrl: pipeline.workQueue.queueUrl,
    dlqUrl: pipeline.dlq.queueUrl,
    vendorUrl: pipeline.sandbox.endpointUrl,
  });
}, 180_000);

afterAll(() => {
  host?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('audit --format csv at scale', () => {
  it(`exports ${ROWS.toLocaleString('en')} generated result records (BatchWrite copies of a pipeline result: 100k vendor calls do not fit CI) with heap growth under ${HEAP_BOUND_MB} MB`, async () => {
    // Prepare: the live heap (after a full GC) is sampled once a second while the export runs. A
    // buffering export grows steadily, so a second is fine-grained enough; sampling every 250 ms made
    // the forced full GCs 14% of the test's CPU profile, and on a loaded machine that slowed the
    // export past the test's timeout.
    const SAMPLE_EVERY_MS = 1000;
    const file = join(stateDir, 'big.csv');
    gc();
    const baseline = process.memoryUsage();
    let peakHeap = baseline.heapUsed;
    let peakRss = baseline.rss;
    const sampler = setInterval(() => {
      gc();
      const now = process.memoryUsage();
      peakHeap = Math.max(peakHeap, now.heapUsed);
      peakRss = Math.max(peakRss, now.rss);
    }, SAMPLE_EVERY_MS);
    const started = Date.now();

    // Act
    let code: number;
    try {
      code = await runAudit(
        ['--batch', BATCH, '--format', 'csv', '--out', file, '--state-dir', stateDir],
        captureIo(),
      );
    } finally {
      clearInterval(sampler);
    }
    const seconds = (Date.now() - started) / 1000;

    // Assess
    const heapGrowthMb = (peakHeap - baseline.heapUsed) / 2 ** 20;
    const rssGrowthMb = (peakRss - baseline.rss) / 2 ** 20;
    console.log(
      `CSV export of ${ROWS} rows: ${seconds.toFixed(1)} s, live heap growth ${heapGrowthMb.toFixed(1)} MB, RSS growth ${rssGrowthMb.toFixed(1)} MB`,
    );
    expect(code).toBe(0);
    expect(heapGrowthMb).toBeLessThan(HEAP_BOUND_MB);
    let lines = 0;
    let header: string | undefined;
    let sample: string | undefined;
    const seen = new Set<string>();
    for await (const line of createInterface({
      input: createReadStream(file),
      crlfDelay: Number.POSITIVE_INFINITY,
    })) {
      if (lines === 0) header = line;
      else if (lines === 1) sample = line;
      const comma = line.indexOf(',');
      seen.add(line.slice(0, comma));
      lines += 1;
    }
    expect(lines).toBe(ROWS + 1);
    expect(seen.size).toBe(ROWS + 1);
    expect(header).toBe(RESULT_CSV_COLUMNS.join(','));
    const row = parseCsv(`${sample}\n`)[0] ?? [];
    expect(row).toHaveLength(RESULT_CSV_COLUMNS.length);
    expect(row[RESULT_CSV_COLUMNS.indexOf('batchId')]).toBe(BATCH);
    expect(row[RESULT_CSV_COLUMNS.indexOf('paidCalls')]).toBe('1');
  }, 120_000);
});
