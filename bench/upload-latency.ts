/**
 * Upload-to-event latency of the local cloud for one selfie at a time, and what the host costs
 * while it waits for work. The host runs in this process (startLocalCloud, as `run` starts it)
 * against the bench's sandbox process answering in a fixed VENDOR_MS; selfies are uploaded at a
 * steady rate, each one long after the previous one is decided, and the latency is the time from
 * the start of the upload to its outcome event in the local bus's archive, minus VENDOR_MS.
 * The first uploads after boot are measured apart (`afterBoot`): they pay for V8 compiling the hot
 * path, the clients' first connections and sharp's first image, which a host pays once, not per
 * selfie, so counting them among 160 would make the p99 a measure of boot instead of the pipeline.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { LocalCloud, LocalCloudOptions } from '../local-cloud/host.ts';
import { createS3Client } from '../shared/aws-clients.ts';
import { cpuSecondsOf } from './rss.ts';

export const VENDOR_MS = 100;

export interface LatencyResult {
  /** The first `warmUp` uploads after boot (by the host itself), in upload order: ms, as below. */
  afterBoot: number[];
  /** Upload start to outcome event minus VENDOR_MS, ms, one per selfie after the warm-up. */
  viaRun: number[];
  /** The same for uploads by another S3 client (found by the bucket listing). */
  viaOtherClient: number[];
  /** CPU of this process and of DynamoDB Local per second while the host had nothing to do, ms/s. */
  idle: { nodeMsPerSecond: number; javaMsPerSecond: number; seconds: number };
}

/** Follows the archive (events.jsonl): the time each selfie key's outcome event was appended. */
function followArchive(file: string, seen: Map<string, number>) {
  let offset = 0;
  let partial = '';
  const read = () => {
    let size = 0;
    try {
      size = statSync(file).size;
    } catch {
      return;
    }
    if (size <= offset) return;
    const fd = openSync(file, 'r');
    const chunk = Buffer.alloc(size - offset);
    readSync(fd, chunk, 0, chunk.length, offset);
    closeSync(fd);
    offset = size;
    const now = performance.now();
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const key = (JSON.parse(line) as { detail?: { key?: string } }).detail?.key;
      if (key && !seen.has(key)) seen.set(key, now);
    }
  };
  const timer = setInterval(read, 5);
  return { stop: () => clearInterval(timer) };
}

export async function measureUploadLatency(input: {
  /** The host to measure (another checkout's, for a before/after comparison). */
  startLocalCloud: (options: LocalCloudOptions) => Promise<LocalCloud>;
  /** The vendor, answering in VENDOR_MS. */
  vendor: { url: string; userId: string; apiKey: string };
  stateDir: string;
  files: readonly string[];
  /** Uploads per second. */
  rate: number;
  /** How many of `files`, at the start, are uploaded first and reported apart as `afterBoot`. */
  warmUp: number;
  /** How many of `files`, at the end, go through another S3 client instead of the host's own upload. */
  otherClient: number;
  idleSeconds: number;
  log: (line: string) => void;
}): Promise<LatencyResult> {
  const cloud = await input.startLocalCloud({
    stateDir: input.stateDir,
    mode: 'run',
    concurrency: 4,
    vendor: input.vendor,
  });
  const seen = new Map<string, number>();
  const follower = followArchive(cloud.paths.events, seen);
  try {
    const javaPid = Number(readFileSync(cloud.paths.dynamodbPid, 'utf8').trim());
    // Settle after boot, then measure the idle host.
    await sleep(3000);
    const nodeBefore = process.cpuUsage();
    const javaBefore = cpuSecondsOf(javaPid) ?? 0;
    const idleStarted = performance.now();
    await sleep(input.idleSeconds * 1000);
    const idleMs = performance.now() - idleStarted;
    const nodeIdle = process.cpuUsage(nodeBefore);
    const idle = {
      nodeMsPerSecond: (nodeIdle.user + nodeIdle.system) / idleMs,
      javaMsPerSecond: (((cpuSecondsOf(javaPid) ?? 0) - javaBefore) * 1000 * 1000) / idleMs,
      seconds: idleMs / 1000,
    };

    const other = createS3Client({ ...cloud.endpoints, localCredentials: true });
    const startedAt = new Map<string, number>();
    const interval = 1000 / input.rate;
    const firstAt = performance.now();
    for (const [i, file] of input.files.entries()) {
      const due = firstAt + i * interval;
      await sleep(Math.max(0, due - performance.now()));
      const viaOther = i >= input.files.length - input.otherClient;
      const who = viaOther ? 'other' : i < input.warmUp ? 'boot' : 'run';
      const key = `${cloud.endpoints.uploadPrefix}latency/${who}-${i}.jpg`;
      const body = readFileSync(file);
      startedAt.set(key, performance.now());
      const upload = viaOther
        ? other.send(new PutObjectCommand({ Bucket: cloud.resources.bucket, Key: key, Body: body }))
        : cloud.upload(key, body);
      upload.catch((error: unknown) => input.log(`latency upload failed: ${String(error)}`));
    }
    const deadline = performance.now() + 30_000;
    while (seen.size < input.files.length && performance.now() < deadline) await sleep(50);
    if (seen.size < input.files.length)
      throw new Error(`only ${seen.size} of ${input.files.length} outcome events arrived`);
    const latency = (who: string) =>
      [...startedAt]
        .filter(([key]) => key.includes(`/latency/${who}-`))
        .map(([key, at]) => (seen.get(key) as number) - at - VENDOR_MS);
    return { afterBoot: latency('boot'), viaRun: latency('run'), viaOtherClient: latency('other'), idle };
  } finally {
    follower.stop();
    await cloud.stop();
  }
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
