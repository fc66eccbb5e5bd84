import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunResult } from '../../cli/run.ts';
import { type HostEndpoints, readLiveHost, statePaths } from '../../local-cloud/state-dir.ts';
import { AuditQueries } from '../../operations/audit-queries.ts';
import { createDocumentClient, createS3Client } from '../../shared/aws-clients.ts';
import {
  type CliRun,
  decidedTotal,
  doubleCharges,
  parseRunResult,
  readEvents,
  readLedger,
  startCli,
  stopDynamoDbServing,
} from '../support/cli-runs.ts';
import { type Corpus, writeCorpus } from './support.ts';

const E2E_TIMEOUT_MS = 180_000;
const STACK = 'LivenessBatchLocal';
/** Each request to S3 waits this long in the proxy, so a run's uploads take a few seconds. */
const S3_DELAY_MS = 150;

/**
 * A real HTTP hop in front of the emulated S3 that behaves like S3 under load: every request is
 * delayed, and the first PUT of each key is refused with 503 SlowDown (S3 asks clients to retry).
 */
function startSlowS3(
  target: string,
): Promise<{ url: string; refused: Set<string>; stored: string[]; server: Server }> {
  const refused = new Set<string>();
  /** Paths of the PUTs passed on to S3. */
  const stored: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      setTimeout(() => {
        const path = req.url ?? '/';
        if (req.method === 'PUT' && !refused.has(path)) {
          refused.add(path);
          res.writeHead(503, { 'content-type': 'application/xml' });
          res.end('<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
          return;
        }
        if (req.method === 'PUT') stored.push(path);
        const upstream = request(
          new URL(path, target),
          { method: req.method, headers: { ...req.headers, host: new URL(target).host } },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(Buffer.concat(chunks));
      }, S3_DELAY_MS);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, refused, stored, server }),
    ),
  );
}

/**
 * `run --stack` against `liveness-batch up`: no AWS account is reachable here, so the "stack" is the
 * local cloud, its outputs written in the format `cdk deploy --outputs-file` writes, and the SDK
 * pointed at its emulators with the standard AWS_ENDPOINT_URL_* variables: the same S3 and
 * DynamoDB code path as against AWS.
 */
describe('liveness-batch run DIR --stack NAME --outputs FILE (child processes, against `up`)', () => {
  let root: string;
  let fullDir: string;
  let halfDir: string;
  let corpus: Corpus;
  let half: string[];
  let stateDir: string;
  let outputsFile: string;
  let up: CliRun;
  let host: HostEndpoints;
  let awsEnv: NodeJS.ProcessEnv;
  let slowS3: Awaited<ReturnType<typeof startSlowS3>>;

  const stackRun = (dir: string, batch: string): CliRun =>
    startCli(['run', dir, '--stack', STACK, '--outputs', outputsFile, '--batch', batch, '--json'], awsEnv);
  const completeStackRun = async (dir: string, batch: string): Promise<RunResult> => {
    const exit = await stackRun(dir, batch).done;
    expect(exit.code, exit.stderr).toBe(0);
    return parseRunResult(exit.stdout);
  };

  /** What the stack already has of a batch: keys in its bucket or recorded in its table. */
  const keysPresent = async (batch: string): Promise<Set<string>> => {
    const endpoints = { ...host, localCredentials: true };
    const s3 = createS3Client(endpoints);
    const db = createDocumentClient(endpoints);
    try {
      const listed = await s3.send(
        new ListObjectsV2Command({ Bucket: host.bucket, Prefix: `${host.uploadPrefix}${batch}/` }),
      );
      const keys = new Set((listed.Contents ?? []).map((o) => o.Key as string));
      for await (const page of new AuditQueries(db, host.tableName).batchPages(batch)) {
        for (const result of page) keys.add(result.key);
      }
      return keys;
    } finally {
      s3.destroy();
      db.destroy();
    }
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lb-e2e-stack-'));
    fullDir = join(root, 'full');
    halfDir = join(root, 'half');
    stateDir = join(root, 'state');
    corpus = await writeCorpus(fullDir, 24);
    half = corpus.files.filter((_, i) => i % 2 === 0);
    for (const file of half) await cp(join(fullDir, file), join(halfDir, file));

    up = startCli(['up', '--state-dir', stateDir, '--latency-ms', '20-150', '--seed', 'e2e-stack']);
    host = await vi.waitFor(
      () => {
        const live = readLiveHost(statePaths(stateDir));
        if (!live) throw new Error(`\`up\` is not up yet:\n${up.output()}`);
        return live;
      },
      { timeout: 90_000, interval: 250 },
    );
    outputsFile = join(root, 'cdk-outputs.json');
    await writeFile(
      outputsFile,
      JSON.stringify({
        [STACK]: {
          SelfieBucketName: host.bucket,
          UploadPrefix: host.uploadPrefix,
          ResultsTableName: host.tableName,
          WorkQueueUrl: host.queues.work,
          WorkDlqUrl: host.queues.deadLetter,
        },
      }),
    );
    slowS3 = await startSlowS3(host.s3);
    awsEnv = {
      AWS_ENDPOINT_URL_S3: slowS3.url,
      AWS_ENDPOINT_URL_DYNAMODB: host.dynamodb,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: host.region,
    };
  }, E2E_TIMEOUT_MS);

  afterAll(async () => {
    slowS3?.server.close();
    up?.child.kill('SIGINT');
    await up?.done;
    stopDynamoDbServing(stateDir);
    await rm(root, { recursive: true, force: true });
  });

  it(
    "uploads a folder into the stack's bucket (retrying S3's 503s) and follows the batch in its table to the summary",
    async () => {
      // Act
      const result = await completeStackRun(halfDir, 'stack-a');
      // Assess
      expect(result.host).toBe('stack');
      expect(result.stack).toBe(STACK);
      expect(result.uploaded).toBe(half.length);
      expect([...slowS3.refused].filter((path) => path.includes('/stack-a/'))).toHaveLength(half.length);
      expect(result.total).toBe(half.length);
      expect(decidedTotal(result)).toBe(half.length);
      expect(result.decidedThisRun).toBe(half.length);
      expect(result.decisions.REJECTED).toBeGreaterThan(0);
      expect(result.paidCalls).toBeGreaterThan(0);
    },
    E2E_TIMEOUT_MS,
  );

  it(
    'uploads only the files the stack does not have yet, and pays for nothing twice',
    async () => {
      // Act: the same batch again, from a folder holding those files and as many more
      const result = await completeStackRun(fullDir, 'stack-a');
      // Assess
      expect(result.uploaded).toBe(corpus.files.length - half.length);
      expect(result.total).toBe(corpus.files.length);
      expect(decidedTotal(result)).toBe(corpus.files.length);
      expect(doubleCharges(readLedger(stateDir))).toEqual([]);
      expect(readEvents(stateDir).filter((e) => e.batchId === 'stack-a')).toHaveLength(corpus.files.length);
    },
    E2E_TIMEOUT_MS,
  );

  it(
    'stops uploading on Ctrl-C; the rerun uploads exactly what the stack is missing and completes',
    async () => {
      // Prepare
      const batch = 'stack-ctrl-c';
      const interrupted = stackRun(fullDir, batch);
      // Interrupted once the first file of the batch reached the bucket
      await expect
        .poll(() => slowS3.stored.filter((path) => path.includes(`/${batch}/`)).length, {
          timeout: 60_000,
          interval: 10,
        })
        .toBeGreaterThan(0);

      // Act
      interrupted.child.kill('SIGINT');
      const exit = await interrupted.done;
      const present = await keysPresent(batch);
      const rerun = await completeStackRun(fullDir, batch);

      // Assess
      expect(exit.code).toBe(130);
      expect(exit.stderr).toContain('no more uploads');
      expect(present.size).toBeGreaterThan(0);
      expect(present.size).toBeLessThan(corpus.files.length);
      expect(rerun.uploaded).toBe(corpus.files.length - present.size);
      expect(rerun.total).toBe(corpus.files.length);
      expect(decidedTotal(rerun)).toBe(corpus.files.length);
      expect(doubleCharges(readLedger(stateDir))).toEqual([]);
    },
    E2E_TIMEOUT_MS,
  );

  it(
    'run --manifest --stack uploads the listed files with the applicant IDs as S3 metadata, onto the results',
    async () => {
      // Prepare: two files of the corpus, each for an applicant
      const listed = corpus.files.slice(0, 2);
      const manifest = join(root, 'manifest.csv');
      await writeFile(
        manifest,
        [
          'file,subject_id,correlation_id',
          ...listed.map((file, i) => `full/${file},applicant-${i},check-${i}`),
        ].join('\n'),
      );

      // Act
      const exit = await startCli(
        [
          'run',
          '--manifest',
          manifest,
          '--stack',
          STACK,
          '--outputs',
          outputsFile,
          '--batch',
          'stack-manifest',
          '--json',
        ],
        awsEnv,
      ).done;

      // Assess
      expect(exit.code, exit.stderr).toBe(0);
      expect(parseRunResult(exit.stdout)).toMatchObject({ host: 'stack', uploaded: 2, total: 2 });
      const db = createDocumentClient({ ...host, localCredentials: true });
      try {
        const results = [];
        for await (const page of new AuditQueries(db, host.tableName).batchPages('stack-manifest'))
          results.push(...page);
        expect(results.map((r) => [r.subjectId, r.correlationId]).sort()).toEqual([
          ['applicant-0', 'check-0'],
          ['applicant-1', 'check-1'],
        ]);
      } finally {
        db.destroy();
      }
    },
    E2E_TIMEOUT_MS,
  );
});
