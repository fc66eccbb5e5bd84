import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type Shard,
  type ShardIteratorType,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { z } from 'zod';

export interface StreamPollerOptions {
  db: Pick<DynamoDBClient, 'send'>;
  streams: Pick<DynamoDBStreamsClient, 'send'>;
  tableName: string;
  /** Records per invocation (the event source's batch size). */
  batchSize: number;
  /** Retries of a batch that keeps reporting item failures, before it is skipped (as Lambda's maximumRetryAttempts). */
  maxRetryAttempts: number;
  /** Remembers the last sequence number handled per shard, so a restarted host neither loses nor repeats outcomes. */
  checkpointFile: string;
  handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;
  onError: (error: unknown, context: string) => void;
  region?: string;
  /** Pause after an empty GetRecords round (ms); doubled after each further empty round up to `maxIdleMs`. */
  idleMs?: number;
  /** Longest pause between empty rounds (ms). `wake()` ends a pause at once. */
  maxIdleMs?: number;
}

const checkpointSchema = z.object({
  streamArn: z.string(),
  /** Last sequence number handled per shard; 'closed' once a shard was read to its end. */
  shards: z.record(z.string(), z.string()),
});
type Checkpoint = z.infer<typeof checkpointSchema>;

const CLOSED = 'closed';
const SHARD_REFRESH_MS = 3000;

/** The Lambda event record for one stream record (AttributeValues already have the wire shape). */
export function toLambdaRecord(record: StreamRecord, streamArn: string, region: string): DynamoDBRecord {
  const data = record.dynamodb ?? {};
  const created = data.ApproximateCreationDateTime;
  return {
    eventID: record.eventID,
    eventName: record.eventName as DynamoDBRecord['eventName'],
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: region,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(created ? { ApproximateCreationDateTime: Math.floor(created.getTime() / 1000) } : {}),
      Keys: data.Keys as NonNullable<DynamoDBRecord['dynamodb']>['Keys'],
      ...(data.NewImage
        ? { NewImage: data.NewImage as NonNullable<DynamoDBRecord['dynamodb']>['NewImage'] }
        : {}),
      SequenceNumber: data.SequenceNumber,
      SizeBytes: data.SizeBytes,
      StreamViewType: data.StreamViewType,
    },
  };
}

function readCheckpoint(file: string): Checkpoint | undefined {
  try {
    return checkpointSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return undefined;
  }
}

function writeCheckpoint(file: string, checkpoint: Checkpoint): void {
  const temp = `${file}.tmp`;
  writeFileSync(temp, JSON.stringify(checkpoint));
  renameSync(temp, file);
}

/** The pause after the `emptyRounds`-th empty round in a row (1, 2, ...): `idleMs`, doubled each time, at most `maxIdleMs`. */
export function idlePause(emptyRounds: number, idleMs: number, maxIdleMs: number): number {
  return Math.min(maxIdleMs, idleMs * 2 ** Math.min(20, Math.max(0, emptyRounds - 1)));
}

/**
 * The DynamoDB Streams event source of the publish function, over DynamoDB Local: follows every
 * shard (children only after their parent is read to its end, as shards split), feeds batches in
 * order, and on item failures retries from the first failed record, as Lambda does with
 * ReportBatchItemFailures.
 */
export function startStreamPoller(options: StreamPollerOptions) {
  const region = options.region ?? 'us-east-1';
  const idleMs = options.idleMs ?? 200;
  const maxIdleMs = Math.max(idleMs, options.maxIdleMs ?? 2000);
  let stopped = false;
  let wake: (() => void) | undefined;
  /** Set by wake(): something was written, so the next round starts without a pause. */
  let nudged = false;
  let emptyRounds = 0;
  let streamArn = '';
  let checkpoint: Checkpoint = { streamArn: '', shards: {} };
  const iterators = new Map<string, string>();
  /** Completed rounds over every open shard in which no record arrived. */
  let quietRounds = 0;
  let roundsStarted = 0;
  let failures = 0;

  const save = (shardId: string, value: string) => {
    checkpoint.shards[shardId] = value;
    writeCheckpoint(options.checkpointFile, checkpoint);
  };

  async function listShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let start: string | undefined;
    do {
      const out = await options.streams.send(
        new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: start }),
      );
      shards.push(...(out.StreamDescription?.Shards ?? []));
      start = out.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return shards;
  }

  async function iteratorFor(shardId: string): Promise<string | undefined> {
    const cached = iterators.get(shardId);
    if (cached) return cached;
    const after = checkpoint.shards[shardId];
    const type: ShardIteratorType = after ? 'AFTER_SEQUENCE_NUMBER' : 'TRIM_HORIZON';
    try {
      const out = await options.streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shardId,
          ShardIteratorType: type,
          ...(after ? { SequenceNumber: after } : {}),
        }),
      );
      return out.ShardIterator;
    } catch (error) {
      // Records past the 24-hour retention are gone: start from the oldest one still there.
      if ((error as Error).name !== 'TrimmedDataAccessException') throw error;
      const out = await options.streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      return out.ShardIterator;
    }
  }

  /** Invokes the handler until the batch is handled, retrying from the first failed record. */
  async function deliver(shardId: string, records: DynamoDBRecord[]): Promise<void> {
    let remaining = records;
    for (let attempt = 0; remaining.length > 0; attempt++) {
      let failedFrom = remaining.length;
      try {
        const response = await options.handler({ Records: remaining });
        const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
        const index = remaining.findIndex((r) => failed.has(r.dynamodb?.SequenceNumber ?? ''));
        if (index >= 0) failedFrom = index;
      } catch (error) {
        options.onError(error, 'publish handler failed');
        failedFrom = 0;
      }
      const done = remaining.slice(0, failedFrom);
      const last = done.at(-1)?.dynamodb?.SequenceNumber;
      if (last) save(shardId, last);
      remaining = remaining.slice(failedFrom);
      if (remaining.length === 0) return;
      failures += 1;
      if (attempt >= options.maxRetryAttempts) {
        options.onError(
          new Error(`skipping ${remaining.length} stream record(s) after ${attempt + 1} failed attempts`),
          'publish retries exhausted',
        );
        const skipped = remaining.at(-1)?.dynamodb?.SequenceNumber;
        if (skipped) save(shardId, skipped);
        return;
      }
      await sleep(Math.min(10_000, 200 * 2 ** attempt));
    }
  }

  /** One GetRecords on one shard; returns the number of records handled. */
  async function pollShard(shard: Shard): Promise<number> {
    const shardId = shard.ShardId ?? '';
    const iterator = await iteratorFor(shardId);
    if (!iterator) {
      save(shardId, CLOSED);
      return 0;
    }
    let out: GetRecordsCommandOutput;
    try {
      out = await options.streams.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: options.batchSize }),
      );
    } catch (error) {
      iterators.delete(shardId);
      if ((error as Error).name === 'ExpiredIteratorException') return 0;
      throw error;
    }
    const records = (out.Records ?? []).map((r) => toLambdaRecord(r, streamArn, region));
    if (records.length > 0) await deliver(shardId, records);
    if (out.NextShardIterator) iterators.set(shardId, out.NextShardIterator);
    else {
      iterators.delete(shardId);
      save(shardId, CLOSED);
    }
    return records.length;
  }

  let shards: Shard[] = [];
  let shardsListedAt = 0;

  async function round(): Promise<number> {
    // DescribeStream every few seconds, or at once when a shard closed (its children appear then).
    const closedSince = shards.some(
      (s) => checkpoint.shards[s.ShardId ?? ''] === CLOSED && !s.SequenceNumberRange?.EndingSequenceNumber,
    );
    if (Date.now() - shardsListedAt > SHARD_REFRESH_MS || closedSince || shards.length === 0) {
      shards = await listShards();
      shardsListedAt = Date.now();
    }
    const known = new Set(shards.map((s) => s.ShardId));
    let handled = 0;
    for (const shard of shards) {
      const shardId = shard.ShardId ?? '';
      if (checkpoint.shards[shardId] === CLOSED) continue;
      // After a split, the child waits until its parent has been read to its end (ordering per key).
      const parent = shard.ParentShardId;
      if (parent && known.has(parent) && checkpoint.shards[parent] !== CLOSED) continue;
      handled += await pollShard(shard);
    }
    return handled;
  }

  function wakeNow(): void {
    nudged = true;
    emptyRounds = 0;
    wake?.();
  }

  const loop = (async () => {
    const table = await options.db.send(new DescribeTableCommand({ TableName: options.tableName }));
    streamArn = table.Table?.LatestStreamArn ?? '';
    if (!streamArn) throw new Error(`Table ${options.tableName} has no stream`);
    const saved = readCheckpoint(options.checkpointFile);
    checkpoint = saved?.streamArn === streamArn ? saved : { streamArn, shards: {} };
    while (!stopped) {
      roundsStarted += 1;
      const started = roundsStarted;
      let handled = 0;
      try {
        handled = await round();
      } catch (error) {
        if (stopped) return;
        options.onError(error, 'stream poll failed');
        handled = -1;
      }
      if (handled === 0) quietRounds = started;
      emptyRounds = handled > 0 ? 0 : emptyRounds + 1;
      if (handled <= 0 && !nudged && !stopped) {
        // Idle polling backs off (a poll costs DynamoDB Local CPU whether or not anything changed);
        // the host calls wake() when its workers may have written, so work is not delayed by it.
        const pause = handled < 0 ? 1000 : idlePause(emptyRounds, idleMs, maxIdleMs);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, pause).unref();
        });
      }
      nudged = false;
    }
  })();
  loop.catch((error) => options.onError(error, 'stream poller stopped'));

  return {
    /** Batches that needed a retry. */
    get failures() {
      return failures;
    },
    /** Something may have been written to the table: poll now instead of after the idle pause. */
    wake: wakeNow,
    /** Resolves once a round that began after this call found no new record: every outcome so far is published. */
    async drained(timeoutMs = 30_000): Promise<boolean> {
      const after = roundsStarted;
      wakeNow();
      const deadline = Date.now() + timeoutMs;
      while (quietRounds <= after) {
        if (Date.now() > deadline || stopped) return false;
        await sleep(50);
      }
      return true;
    },
    async stop(): Promise<void> {
      stopped = true;
      wake?.();
      await loop.catch(() => undefined);
    },
  };
}

export type StreamPoller = ReturnType<typeof startStreamPoller>;
