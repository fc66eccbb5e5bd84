import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import type { OpsIo } from '../../cli/ops/io.ts';
import { statePaths, writeHostEndpoints } from '../../local-cloud/state-dir.ts';
import { type RunningSandbox, startSandbox } from '../../sandbox/server.ts';
import { LivenessClient } from '../../shared/liveness/client.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { pipelineSettings } from '../../shared/settings.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { emulatorEndpoints } from '../support/emulators.ts';
import { createPipelineFixture, type PipelineFixture } from '../support/pipeline.ts';

export const BATCH = 'b1';
/** A key an attacker could upload: the report must show it as text, never run it. */
export const SCRIPT_KEY = `uploads/${BATCH}/<script>window.__pwned=1</script>.jpg`;

const face = (seed: number) => syntheticFace({ seed, width: 240, height: 320, grain: 0.2 });

export interface OpsScenario {
  pipeline: PipelineFixture;
  /** The vendor that answers (the fixture's sandbox) and one that answers 500 to everything, and charges it. */
  brokenVendor: RunningSandbox;
  stateDir: string;
  keys: { faces: string[]; duplicate: string; rejected: string[]; failed: string[] };
  selfieId(key: string): string;
  /** Points the worker at the broken vendor (true) or back at the working one. */
  useBrokenVendor(broken: boolean): void;
  stop(): Promise<void>;
}

/**
 * One batch through the real pipeline (emulators, handlers, sandbox over HTTP): faces the vendor
 * decides (VERIFIED, NOT_VERIFIED, and REVIEW through a live-score threshold), a byte copy reused as
 * duplicateOf, bad inputs REJECTED in preflight (one whose key is an HTML script), and two selfies
 * whose vendor answers 500 on every call until they end FAILED in the DLQ (maxReceiveCount 2).
 * A state folder describes the fixture as a running local host, so the CLI commands find it the way
 * they find a running `liveness-batch up`.
 */
export async function produceOpsScenario(): Promise<OpsScenario> {
  const brokenVendor = await startSandbox({ port: 0, errorRate: 1, chargeFailures: true, seed: 'broken' });
  const client = (endpointUrl: string) =>
    new LivenessClient({ endpointUrl, timeoutMs: 2000, userId: 'sandbox-user', apiKey: 'sandbox-key' });
  const broken = client(brokenVendor.endpointUrl);
  // The worker calls through this switch (its injection point), so the runtime is never changed under it.
  let useBroken = false;
  const pipeline = await createPipelineFixture({
    maxReceiveCount: 2,
    maxAttempts: 2,
    sandbox: { liveRatio: 0.6 },
    env: { MIN_LIVE_SCORE: '90' },
    vendor: (sandbox) => {
      const working = client(sandbox.endpointUrl);
      return {
        timeoutMs: working.timeoutMs,
        call: (image, reference) => (useBroken ? broken : working).call(image, reference),
      };
    },
  });
  const useBrokenVendor = (on: boolean) => {
    useBroken = on;
  };
  const keys = {
    faces: [1, 2, 3, 4, 5, 6].map((seed) => `uploads/${BATCH}/face-${seed}.jpg`),
    duplicate: `uploads/${BATCH}/copy of face-1.jpg`,
    rejected: [`uploads/${BATCH}/notes.jpg`, SCRIPT_KEY],
    failed: [`uploads/${BATCH}/down-7.jpg`, `uploads/${BATCH}/down-8.jpg`],
  };
  const run = async (uploads: Array<[string, Buffer]>) => {
    const records = [];
    for (const [key, bytes] of uploads) records.push(await pipeline.upload(key, bytes));
    await pipeline.enqueue(records);
    await pipeline.drain();
  };
  const faces = await Promise.all([1, 2, 3, 4, 5, 6].map(face));
  await run([
    ...keys.faces.map((key, i) => [key, faces[i] as Buffer] as [string, Buffer]),
    [keys.rejected[0] as string, Buffer.from('meeting notes, not a selfie')],
    [SCRIPT_KEY, Buffer.from('<html>not an image</html>')],
  ]);
  // After the original is decided, so the copy reuses its outcome instead of waiting for it.
  await run([[keys.duplicate, faces[0] as Buffer]]);
  useBrokenVendor(true);
  await run([
    [keys.failed[0] as string, await face(7)],
    [keys.failed[1] as string, await face(8)],
  ]);
  useBrokenVendor(false);

  const stateDir = mkdtempSync(join(tmpdir(), 'ops-state-'));
  const host = describeAsRunningHost(stateDir, {
    bucket: pipeline.bucket,
    tableName: pipeline.tableName,
    workQueueUrl: pipeline.workQueue.queueUrl,
    dlqUrl: pipeline.dlq.queueUrl,
    vendorUrl: pipeline.sandbox.endpointUrl,
  });

  return {
    pipeline,
    brokenVendor,
    stateDir,
    keys,
    selfieId: (key) => selfieIdOf({ bucket: pipeline.bucket, key }),
    useBrokenVendor,
    async stop() {
      host.stop();
      await Promise.all([pipeline.stop(), brokenVendor.stop()]);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * Writes the endpoints file a running `liveness-batch up` writes, pointing at the test emulators, so
 * the CLI's local-host path finds these resources. Its pid is a `sleep` this process starts: a live
 * pid that is not ours, as a host's would be (readLiveHost ignores its own process).
 */
/** The same, for a pipeline fixture's bucket, table, queues and sandbox. */
export function describePipelineAsRunningHost(stateDir: string, pipeline: PipelineFixture): { stop(): void } {
  return describeAsRunningHost(stateDir, {
    bucket: pipeline.bucket,
    tableName: pipeline.tableName,
    workQueueUrl: pipeline.workQueue.queueUrl,
    dlqUrl: pipeline.dlq.queueUrl,
    vendorUrl: pipeline.sandbox.endpointUrl,
  });
}

export function describeAsRunningHost(
  stateDir: string,
  resources: { bucket: string; tableName: string; workQueueUrl: string; dlqUrl: string; vendorUrl: string },
): { stop(): void } {
  const standIn: ChildProcess = spawn('sleep', ['3600'], { stdio: 'ignore' });
  const endpoints = emulatorEndpoints();
  writeHostEndpoints(statePaths(stateDir), {
    pid: standIn.pid as number,
    mode: 'up',
    startedAt: new Date().toISOString(),
    region: 'us-east-1',
    s3: endpoints.s3 as string,
    sqs: endpoints.sqs as string,
    dynamodb: endpoints.dynamodb as string,
    bucket: resources.bucket,
    uploadPrefix: pipelineSettings.uploadPrefix,
    tableName: resources.tableName,
    queues: {
      work: resources.workQueueUrl,
      deadLetter: resources.dlqUrl,
      review: resources.workQueueUrl,
      ops: resources.workQueueUrl,
    },
    vendorUrl: resources.vendorUrl,
    concurrency: 4,
  });
  return {
    stop() {
      if (standIn.pid !== undefined && standIn.exitCode === null) process.kill(standIn.pid, 'SIGTERM');
    },
  };
}

/** An OpsIo that keeps what a command prints. */
export function captureIo(deps?: OpsIo['deps']): OpsIo & { out(): string; err(): string } {
  let out = '';
  let err = '';
  const sink = (append: (text: string) => void) =>
    new Writable({
      write(chunk, _encoding, done) {
        append(String(chunk));
        done();
      },
    });
  return {
    stdout: sink((t) => {
      out += t;
    }),
    stderr: sink((t) => {
      err += t;
    }),
    ...(deps ? { deps } : {}),
    out: () => out,
    err: () => err,
  };
}

/** The rows of a CSV text (RFC 4180: quoted cells, doubled quotes, CRLF), read with csv-parse. */
export function parseCsv(text: string): string[][] {
  return parse(text, { relax_column_count: true });
}
