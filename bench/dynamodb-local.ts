/**
 * DynamoDB Local's own CPU per request, by kind of request, and the batch summary item under 64
 * concurrent decisions. Both against a file-backed DynamoDB Local (as the local cloud runs it) with the
 * results table as the stack defines it, through SelfieLifecycle as it is (read-only use).
 *
 * Per kind: warm up, then N requests with 4 in flight; java's CPU time (from /proc) over the requests
 * divided by N, and this process's CPU per request (the SDK client's side).
 *
 * Hot item: 64 selfies of one batch decided at once (recordDecision: a transaction over the selfie's
 * item and the batch summary item), several rounds; every TransactWriteItems attempt is counted by SDK
 * middleware, with the SDK's own retries and the cancellation reasons of what failed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { startFileBackedDynamoDb } from '../local-cloud/dynamodb-process.ts';
import { ensureResultsTable } from '../local-cloud/results-table.ts';
import { createDocumentClient } from '../shared/aws-clients.ts';
import { forEachWithConcurrency } from '../shared/concurrency.ts';
import { keys } from '../shared/results/records.ts';
import { type DecisionRecord, NO_CALLS, SelfieLifecycle } from '../shared/results/selfie-lifecycle.ts';
import { cpuSecondsOf } from './rss.ts';
import { type BenchOptions, type BenchRow, fixed } from './table.ts';

const TABLE = 'bench-results';
const IN_FLIGHT = 4;
export const HOT_DECISIONS = 64;

interface KindCost {
  kind: string;
  requests: number;
  javaMs: number;
  nodeMs: number;
}

interface MiddlewareClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<{ output: { $metadata?: { attempts?: number } } }>,
        context: { commandName?: string },
      ) => (args: unknown) => Promise<{ output: { $metadata?: { attempts?: number } } }>,
      options: { step: 'initialize'; name: string },
    ): void;
  };
}

/** Counts TransactWriteItems requests, the SDK's retries of them, and why the failed ones failed. */
function transactionCounter(client: unknown) {
  const counts = { requests: 0, sdkRetries: 0, failed: 0, reasons: new Map<string, number>() };
  (client as MiddlewareClient).middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'TransactWriteItemsCommand') return next(args);
      counts.requests += 1;
      try {
        const out = await next(args);
        counts.sdkRetries += (out.output.$metadata?.attempts ?? 1) - 1;
        return out;
      } catch (error) {
        counts.failed += 1;
        counts.sdkRetries += ((error as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1) - 1;
        const reasons =
          error instanceof TransactionCanceledException
            ? (error.CancellationReasons ?? []).map((r) => r.Code ?? 'None').filter((c) => c !== 'None')
            : [(error as Error).name];
        for (const reason of reasons) counts.reasons.set(reason, (counts.reasons.get(reason) ?? 0) + 1);
        throw error;
      }
    },
    { step: 'initialize', name: 'benchTransactionCounter' },
  );
  return counts;
}

const decision = (i: number): DecisionRecord => ({
  decision: i % 5 === 0 ? 'NOT_VERIFIED' : 'VERIFIED',
  reason: { code: 'VENDOR_VERDICT', detail: 'bench' },
  decidedAt: new Date().toISOString(),
  totals: { calls: 1, paid: 1, uncertain: 0 },
  summarized: NO_CALLS,
  vendorStatus: 'VERIFIED',
  vendorResponseCode: '00',
  liveScore: 90,
  popScore: 2,
  debitStatus: 'DEBITED',
  transactionReference: `bench-${i}`,
});

export async function benchDynamoDbLocal(options: BenchOptions): Promise<BenchRow[]> {
  const n = options.quick ? 300 : 1000;
  const scratch = mkdtempSync(join(tmpdir(), 'lb-bench-ddb-'));
  const dynamodb = await startFileBackedDynamoDb(join(scratch, 'db'), join(scratch, 'dynamodb.pid'));
  try {
    const endpoints = { region: 'us-east-1', dynamodb: dynamodb.endpoint, localCredentials: true };
    const db = createDocumentClient(endpoints);
    await ensureResultsTable(db, TABLE);
    const repository = new SelfieLifecycle(db, TABLE);
    const costs: KindCost[] = [];
    const measure = async (kind: string, count: number, work: (i: number) => Promise<unknown>) => {
      const javaBefore = cpuSecondsOf(dynamodb.pid) ?? 0;
      const nodeBefore = process.cpuUsage();
      await forEachWithConcurrency(
        Array.from({ length: count }, (_, i) => i),
        IN_FLIGHT,
        async (i) => {
          await work(i);
        },
      );
      const node = process.cpuUsage(nodeBefore);
      const cost = {
        kind,
        requests: count,
        javaMs: (((cpuSecondsOf(dynamodb.pid) ?? 0) - javaBefore) * 1000) / count,
        nodeMs: (node.user + node.system) / 1000 / count,
      };
      options.log(
        `dynamodb-local: ${kind}: java ${fixed(cost.javaMs, 2)} ms, node ${fixed(cost.nodeMs, 2)} ms`,
      );
      return cost;
    };
    const selfie = (round: string, i: number) => ({
      selfieId: `${round}-${i}`,
      batchId: `${round}-batch-${i % 50}`,
      bucket: 'bench',
      key: `uploads/${round}/${i}.jpg`,
      receivedAt: new Date().toISOString(),
    });

    // Warm-up: the JIT compiles DynamoDB Local's paths for every kind (otherwise the first kind pays it).
    for (const round of ['warm1', 'warm2']) {
      await measure('warm-up', n, (i) => repository.recordReceived(selfie(round, i)));
      await measure('warm-up', n, (i) => repository.getResult(`${round}-${i}`));
      await measure('warm-up', n, (i) => repository.markEnqueued(`${round}-${i}`, new Date().toISOString()));
      await measure('warm-up', n, (i) =>
        repository.recordDecision(
          { selfieId: `${round}-${i}`, batchId: selfie(round, i).batchId, leaseId: 'bench' },
          decision(i),
        ),
      );
    }

    costs.push(
      await measure('TransactWriteItems: Put + Update (recordReceived)', n, (i) =>
        repository.recordReceived(selfie('m', i)),
      ),
    );
    costs.push(await measure('GetItem (getResult)', n, (i) => repository.getResult(`m-${i}`)));
    costs.push(
      await measure('UpdateItem, unconditional (markEnqueued)', n, (i) =>
        repository.markEnqueued(`m-${i}`, new Date().toISOString()),
      ),
    );
    costs.push(
      await measure('UpdateItem, conditional, ALL_OLD (like acquireProcessing)', n, (i) =>
        db.send(
          new UpdateCommand({
            TableName: TABLE,
            Key: { pk: keys.selfie(`m-${i}`), sk: keys.result },
            UpdateExpression: 'SET receiveCount = :one, leaseId = :lease',
            ConditionExpression: '#state IN (:received, :processing)',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: {
              ':one': 1,
              ':lease': 'l',
              ':received': 'RECEIVED',
              ':processing': 'PROCESSING',
            },
            ReturnValues: 'ALL_OLD',
          }),
        ),
      ),
    );
    costs.push(
      await measure('PutItem, conditional (like claimContent, beginAttempt)', n, (i) =>
        db.send(
          new PutCommand({
            TableName: TABLE,
            Item: {
              pk: keys.selfie(`m-${i}`),
              sk: `ATTEMPT#${i}`,
              outcome: 'open',
              startedAt: new Date().toISOString(),
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      ),
    );
    costs.push(
      await measure('TransactWriteItems: 2 Updates (recordDecision, no content claim)', n, (i) =>
        repository.recordDecision(
          { selfieId: `m-${i}`, batchId: selfie('m', i).batchId, leaseId: 'bench' },
          decision(i),
        ),
      ),
    );
    costs.push(
      await measure('Query: byBatch index, 10 items', n, (i) =>
        db.send(
          new QueryCommand({
            TableName: TABLE,
            IndexName: 'byBatch',
            KeyConditionExpression: 'gsi1pk = :pk',
            ExpressionAttributeValues: { ':pk': keys.batch(selfie('m', i).batchId) },
            Limit: 10,
          }),
        ),
      ),
    );

    // The hot item: every decision of one batch adds to its summary item.
    const counter = transactionCounter(db);
    const rounds = options.quick ? 3 : 5;
    let decided = 0;
    let redeliveries = 0;
    let hotMs = 0;
    for (let round = 0; round < rounds; round++) {
      const batchId = `hot-${round}`;
      const ids = Array.from({ length: HOT_DECISIONS }, (_, i) => `hot-${round}-${i}`);
      await forEachWithConcurrency(ids, 8, async (id, i) => {
        await repository.recordReceived({ ...selfie(`hot-${round}`, i), selfieId: id, batchId });
      });
      let pending = ids;
      const started = performance.now();
      // A failed decision is redelivered (as SQS would) until every one is recorded.
      while (pending.length > 0) {
        const results = await Promise.allSettled(
          pending.map((id, i) =>
            repository.recordDecision({ selfieId: id, batchId, leaseId: 'bench' }, decision(i)),
          ),
        );
        pending = pending.filter((_, i) => results[i]?.status === 'rejected');
        redeliveries += pending.length;
      }
      hotMs += performance.now() - started;
      decided += ids.length;
    }
    // Today's path by kind (bench/aws-cost.ts counts them, test/pipeline/table-requests.test.ts pins
    // them): 2 transactions, 3 updates, 2 puts; the lease returns the item instead of a read first.
    const cost = (prefix: string) => costs.find((c) => c.kind.startsWith(prefix)) as KindCost;
    const [tx2, update, put, txDecision] = [
      cost('TransactWriteItems: Put'),
      cost('UpdateItem, conditional'),
      cost('PutItem'),
      cost('TransactWriteItems: 2'),
    ];
    const today = tx2.javaMs + txDecision.javaMs + 3 * update.javaMs + 2 * put.javaMs;
    const floor = tx2.javaMs + update.javaMs + put.javaMs + txDecision.javaMs;
    const reasons = [...counter.reasons].map(([r, k]) => `${r} ${k}`).join(', ') || 'none';
    return [
      ...costs.map((c) => ({
        section: 'DynamoDB Local',
        metric: `CPU per request: ${c.kind} (${c.requests} requests, ${IN_FLIGHT} in flight, warmed up)`,
        value: `java ${fixed(c.javaMs, 2)} ms; Node client ${fixed(c.nodeMs, 2)} ms`,
      })),
      {
        section: 'DynamoDB Local',
        metric:
          "DynamoDB Local CPU per selfie from the costs above: today's 7 requests (2 transactions, 3 updates, 2 puts) and a 4-request path (received transaction, lease update with the read merged in, write-ahead attempt put, decision transaction ending the attempt)",
        value: `today ${fixed(today, 1)} ms; 4 requests ${fixed(floor, 1)} ms (stream reads and progress reads not included)`,
      },
      {
        section: 'DynamoDB Local',
        metric: `hot item: ${HOT_DECISIONS} concurrent recordDecision of one batch × ${rounds} rounds (one summary item per batch)`,
        value: `${decided} decided; ${counter.requests} TransactWriteItems requests (incl. recordReceived), ${counter.failed} failed, ${counter.sdkRetries} SDK retries, ${redeliveries} redeliveries; failure reasons: ${reasons}; ${fixed(hotMs / decided, 1)} ms per decision`,
      },
    ];
  } finally {
    await dynamodb.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}
