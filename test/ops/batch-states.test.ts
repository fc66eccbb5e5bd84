import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { AuditQueries } from '../../operations/audit-queries.ts';
import { keys } from '../../shared/results/records.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { pipelinePerTest } from '../support/pipeline.ts';

/**
 * The byBatch index files a selfie in flight under RECEIVED whether or not a delivery holds its lease
 * (the lease does not move the key), and older versions left leased selfies under PROCESSING: a query
 * by state still returns exactly the selfies in that state.
 */
describe('batch listing by in-flight state', () => {
  const startPipeline = pipelinePerTest();

  it('tells RECEIVED and PROCESSING apart by state, including selfies an older version filed under PROCESSING', async () => {
    // Prepare: three selfies recorded; one leased now, one leased as an older version filed it.
    const pipeline = await startPipeline();
    const fixture = pipeline;
    const names = ['waiting', 'leased', 'legacy'];
    const records = await Promise.all(
      names.map(async (name, i) =>
        fixture.upload(`uploads/states/${name}.jpg`, await syntheticFace({ seed: 30 + i })),
      ),
    );
    await pipeline.enqueue(records);
    const id = (name: string) => selfieIdOf({ bucket: fixture.bucket, key: `uploads/states/${name}.jpg` });
    const lease = { until: Date.now() + 60_000, receiveCount: 1, at: new Date().toISOString() };
    await pipeline.repository.acquireLease(id('leased'), { ...lease, id: 'now' });
    await pipeline.repository.acquireLease(id('legacy'), { ...lease, id: 'before' });
    await pipeline.db.send(
      new UpdateCommand({
        TableName: pipeline.tableName,
        Key: { pk: keys.selfie(id('legacy')), sk: keys.result },
        UpdateExpression: 'SET gsi1sk = :old',
        ExpressionAttributeValues: { ':old': keys.batchIndexSk('PROCESSING', id('legacy')) },
      }),
    );
    const queries = new AuditQueries(pipeline.db, pipeline.tableName);
    const list = async (state?: string) => {
      const found: string[] = [];
      for await (const page of queries.batchPages('states', state)) {
        found.push(...page.map((r) => `${r.state} ${r.key.replace(/^.*\//, '')}`));
      }
      return found.sort();
    };

    // Act
    const [received, processing, all] = [await list('RECEIVED'), await list('PROCESSING'), await list()];

    // Assess
    expect(received).toEqual(['RECEIVED waiting.jpg']);
    expect(processing).toEqual(['PROCESSING leased.jpg', 'PROCESSING legacy.jpg']);
    expect(all).toEqual(['PROCESSING leased.jpg', 'PROCESSING legacy.jpg', 'RECEIVED waiting.jpg']);
  });
});
