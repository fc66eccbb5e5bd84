import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { statePaths } from '../infra/local/state-dir.ts';
import type { BatchSummary } from '../shared/results/records.ts';
import { pipelineSettings } from '../shared/settings.ts';
import { type Command, UsageError } from './command.ts';
import {
  type LocalCloudFlags,
  localCloudHelp,
  parseCommandLine,
  parseLocalCloudFlags,
} from './local-flags.ts';
import { decidedCount, decisionCounts, formatDuration, progressLine, summaryTable } from './progress.ts';
import { HostUnavailableError, openSession, type Session } from './session.ts';
import { Terminal } from './terminal.ts';
import {
  minUndecidedWindow,
  UNDECIDED_BYTES,
  type UploadProgress,
  undecidedWindow,
  uploadFiles,
} from './uploader.ts';

/** With no decision and no host activity for this long, the run gives up (longer than any redelivery delay). */
const STALL_TIMEOUT_MS = 5 * 60_000;
/** An idle host (nothing queued, in flight or delayed) with selfies still undecided cannot make progress. */
const IDLE_STUCK_MS = 15_000;

const HELP = `Usage: liveness-batch run [DIR] [options]

Verifies every file under DIR (default samples/, recursively) on the local cloud: uploads each to
the emulated S3 bucket as ${pipelineSettings.uploadPrefix}<batch>/<path under DIR>, lets the same handlers as on AWS
(enqueue, worker, publish) process them, shows progress on stderr, and prints a summary when every
selfie has a decision (VERIFIED, NOT_VERIFIED, REVIEW, REJECTED or FAILED). Hidden files and
Markdown notes (*.md) are not uploaded. Uploads overlap with the processing: at most
max(500, 20 x concurrency) selfies (and about 256 MiB of them, but never fewer than
5 x (concurrency + 1) selfies) wait undecided at a time, and the emulated bucket drops an upload
once its selfie is decided (FAILED ones stay for a redrive), so memory stays flat on large folders.

Results are kept in the state folder, so running the same DIR again only processes what has no
decision yet, and nothing is paid twice. If \`liveness-batch up\` is running with the same state
folder, run uploads into it instead of starting its own host (its host flags then do not apply).

Options:
  --batch ID               batch id (default: the folder's name, e.g. "samples" for samples/;
                           characters other than letters, digits, . _ - become -)
  --json                   print one JSON object on stdout instead of the table: batchId, total,
                           decisions, paidCalls, retries, duplicatesReused, uploaded,
                           decidedThisRun, elapsedMs, throughputPerSecond, ...
  --help, -h               this text

${localCloudHelp}

The run stops with exit code 1 if nothing moves for ${STALL_TIMEOUT_MS / 60_000} minutes, or if selfies stay undecided
with nothing left queued for them.`;

const batchIdSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9._-]{1,100}$/, '--batch must be 1-100 letters, digits, . _ or - (no slashes)');

/** The default batch id: the folder's own name, made safe for a key segment. */
export function defaultBatchId(dir: string): string {
  const name = basename(resolve(dir))
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 100);
  return name || 'batch';
}

/** Files to upload under `dir`, sorted; hidden entries and *.md notes are skipped. */
export async function listUploadFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (folder: string) => {
    const entries = await readdir(folder, { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && !entry.name.toLowerCase().endsWith('.md')) files.push(path);
    }
  };
  await walk(dir);
  return files.sort();
}

export function uploadKey(batchId: string, dir: string, file: string): string {
  return `${pipelineSettings.uploadPrefix}${batchId}/${relative(dir, file).split(sep).join('/')}`;
}

export interface RunResult {
  batchId: string;
  total: number;
  decisions: ReturnType<typeof decisionCounts>;
  paidCalls: number;
  retries: number;
  duplicatesReused: number;
  uploaded: number;
  decidedThisRun: number;
  elapsedMs: number;
  bootMs: number;
  throughputPerSecond: number;
  stateDir: string;
  host: 'embedded' | 'attached';
  vendorCalls?: { concurrency: number; calls: number; meanInFlight: number; peakInFlight: number };
  recovered?: { unfinished: number; leasesReleased: number; lostMessages: number };
}

const runOptions = {
  json: { type: 'boolean' },
  batch: { type: 'string' },
} as const;

export const runCommand: Command = {
  name: 'run',
  summary: 'Verify a folder of selfies on the local cloud (emulated S3/SQS/DynamoDB + sandbox) and summarise',
  async run(argv) {
    const { values, positionals } = parseCommandLine(argv, runOptions, true);
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length > 1) {
      throw new UsageError(`run takes one folder, got ${positionals.length}: ${positionals.join(' ')}`);
    }
    const flags = parseLocalCloudFlags(values);
    const batch = values.batch === undefined ? undefined : batchIdSchema.safeParse(values.batch);
    if (batch && !batch.success) throw new UsageError(batch.error.issues[0]?.message ?? '--batch is invalid');
    const dir = positionals[0] ?? 'samples/';
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory())
      throw new UsageError(`${dir} is not a folder; pass the folder of selfies to verify`);
    const files = await listUploadFiles(dir);
    if (files.length === 0) throw new UsageError(`${dir} has no files to upload`);
    return runFolder({
      dir,
      files,
      batchId: batch?.data ?? defaultBatchId(dir),
      json: values.json === true,
      flags,
    });
  },
};

async function runFolder(input: {
  dir: string;
  files: string[];
  batchId: string;
  json: boolean;
  flags: LocalCloudFlags;
}): Promise<number> {
  const { dir, files, batchId, flags } = input;
  // Locally, EMF metrics have no CloudWatch to go to; every log is filed, the terminal shows WARN and up.
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL ??= 'INFO';
  const paths = statePaths(flags.stateDir);
  const logFile = join(paths.logs, 'pipeline.log');
  const terminal = new Terminal({ minLevel: flags.verbose ? 'INFO' : 'WARN', logFile });
  let session: Session | undefined;
  let interrupted = false;
  let stopUploads = false;
  const onSignal = () => {
    // A second Ctrl-C does not wait for running invocations; the next run resumes either way.
    if (interrupted) process.exit(130);
    interrupted = true;
    terminal.note('Interrupted: stopping the local cloud (Ctrl-C again to quit at once)...');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const bootStarted = Date.now();
    try {
      session = await openSession(flags, terminal);
    } catch (error) {
      if (error instanceof HostUnavailableError) {
        terminal.note(error.message);
        return 1;
      }
      throw error;
    }
    const bootMs = Date.now() - bootStarted;
    describeSession(session, flags, terminal, bootMs);

    const before = await session.summary(batchId);
    const started = Date.now();
    const active = session;
    // Uploads and decisions overlap: the window keeps the bucket's undecided backlog bounded.
    const uploads = uploadFiles({
      files,
      upload: (file, body) => active.upload(uploadKey(batchId, dir, file), body),
      undecided: async () => {
        const summary = await active.summary(batchId);
        return (summary?.total ?? 0) - decidedCount(summary);
      },
      window: undecidedWindow(session.concurrency),
      maxUndecidedBytes: UNDECIDED_BYTES,
      minWindow: minUndecidedWindow(session.concurrency),
      stopped: () => interrupted || stopUploads,
    });
    uploads.done.then((progress) => {
      if (interrupted) return;
      terminal.note(`Uploaded ${progress.uploaded} file(s) from ${dir} as batch "${batchId}".`);
      if (progress.failed.length > 0) {
        terminal.note(
          `Could not upload ${progress.failed.length} file(s); they are not in this run (exit code 1):\n  ${progress.failed.join('\n  ')}`,
        );
      }
    });

    const outcome = await waitUntilDecided({
      session,
      batchId,
      files: files.length,
      uploads: uploads.progress,
      started,
      terminal,
      logFile,
      interrupted: () => interrupted,
    });
    stopUploads = true;
    const { uploaded, failed: failedUploads } = await uploads.done;
    if (interrupted) return 130;
    const elapsedMs = Date.now() - started;
    terminal.status(
      progressLine({ summary: outcome.summary, expected: files.length - failedUploads.length, elapsedMs }),
      true,
    );
    terminal.endStatus();
    if (!outcome.done) {
      terminal.note(outcome.reason);
      return 1;
    }
    if (session.host && !(await session.host.drainEvents())) {
      terminal.note('Some outcome events are not published yet; the next start publishes them.');
    }
    const result = buildResult({
      batchId,
      summary: outcome.summary,
      before,
      uploaded,
      elapsedMs,
      bootMs,
      session,
      stateDir: paths.root,
    });
    terminal.out(input.json ? JSON.stringify(result) : renderTable(result));
    return failedUploads.length > 0 ? 1 : 0;
  } finally {
    stopUploads = true;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await session?.stop();
    terminal.restore();
  }
}

function describeSession(session: Session, flags: LocalCloudFlags, terminal: Terminal, bootMs: number): void {
  const host = session.host;
  if (!host) {
    terminal.note(`Using ${session.description}.`);
    if (flags.sandboxFlagsGiven || flags.vendor) {
      terminal.note(
        'Note: vendor and sandbox flags do not apply to a running host; restart `up` to change them.',
      );
    }
    return;
  }
  const vendor = host.sandbox
    ? `sandbox ${host.sandbox.endpointUrl} (simulated scores, not a liveness model)`
    : `vendor ${host.endpoints.vendorUrl}`;
  terminal.note(
    `Local cloud up in ${formatDuration(bootMs)}: ${vendor}; up to ${host.vendor.limit} vendor calls in flight (${host.pollers} worker invocations of up to ${pipelineSettings.worker.batchSize} messages).`,
  );
  const { unfinished, leasesReleased, lostMessages } = host.recovered;
  if (unfinished > 0) {
    terminal.note(
      `Resuming: ${unfinished} selfie(s) were left undecided by an earlier run (${lostMessages} to re-queue, ${leasesReleased} lease(s) released).`,
    );
  }
}

async function waitUntilDecided(input: {
  session: Session;
  batchId: string;
  files: number;
  uploads: UploadProgress;
  started: number;
  terminal: Terminal;
  logFile: string;
  interrupted: () => boolean;
}): Promise<
  | { done: true; summary: BatchSummary | undefined }
  | { done: false; reason: string; summary: BatchSummary | undefined }
> {
  const { session, batchId, terminal, uploads } = input;
  const host = session.host;
  let lastDecided = -1;
  let lastActivity = 0;
  let lastUploaded = 0;
  let lastMoveAt = Date.now();
  let idleSince: number | undefined;
  let summary: BatchSummary | undefined;
  while (!input.interrupted()) {
    summary = await session.summary(batchId);
    const expected = input.files - uploads.failed.length;
    const decided = decidedCount(summary);
    const total = summary?.total ?? 0;
    const activity = host?.activity().lastActivityAt ?? 0;
    if (decided !== lastDecided || activity !== lastActivity || uploads.uploaded !== lastUploaded) {
      lastMoveAt = Date.now();
    }
    lastDecided = decided;
    lastActivity = activity;
    lastUploaded = uploads.uploaded;
    if (uploads.finished && total >= expected && decided >= total) return { done: true, summary };
    if (host?.vendor.unauthorizedAt !== undefined) {
      return {
        done: false,
        summary,
        reason:
          'The vendor answered 401: the userid/apiKey are wrong for every selfie, so the run stops here instead of burning the batch. Fix the credentials and run again (nothing decided is lost).',
      };
    }
    terminal.status(
      progressLine({
        summary,
        expected,
        elapsedMs: Date.now() - input.started,
        ...(host ? { inFlight: host.vendor.gauge.inFlight } : {}),
        ...(uploads.finished ? {} : { uploaded: uploads.uploaded }),
      }),
    );

    const undecided = Math.max(expected, total) - decided;
    if (Date.now() - lastMoveAt > STALL_TIMEOUT_MS) {
      return {
        done: false,
        summary,
        reason: `Nothing moved for ${STALL_TIMEOUT_MS / 60_000} minutes; ${undecided} selfie(s) are still undecided. See ${input.logFile}, then run again to resume.`,
      };
    }
    const uploading = !uploads.finished && !uploads.waitingForRoom;
    if (host && !uploading && (await host.isIdle())) {
      idleSince ??= Date.now();
      if (Date.now() - idleSince > IDLE_STUCK_MS) {
        return {
          done: false,
          summary,
          reason: `${undecided} selfie(s) are undecided but nothing is queued for them any more (were their files removed from the folder?). Run again with the same folder to resume.`,
        };
      }
    } else idleSince = undefined;
    await new Promise((r) => setTimeout(r, 250));
  }
  return { done: false, summary, reason: 'Interrupted.' };
}

function buildResult(input: {
  batchId: string;
  summary: BatchSummary | undefined;
  before: BatchSummary | undefined;
  uploaded: number;
  elapsedMs: number;
  bootMs: number;
  session: Session;
  stateDir: string;
}): RunResult {
  const { summary, session } = input;
  const decidedThisRun = decidedCount(summary) - decidedCount(input.before);
  const host = session.host;
  return {
    batchId: input.batchId,
    total: summary?.total ?? 0,
    decisions: decisionCounts(summary),
    paidCalls: summary?.paidCalls ?? 0,
    retries: summary?.retries ?? 0,
    duplicatesReused: summary?.duplicatesReused ?? 0,
    uploaded: input.uploaded,
    decidedThisRun,
    elapsedMs: input.elapsedMs,
    bootMs: input.bootMs,
    throughputPerSecond:
      input.elapsedMs > 0 ? Number((decidedThisRun / (input.elapsedMs / 1000)).toFixed(2)) : 0,
    stateDir: input.stateDir,
    host: session.kind,
    ...(host
      ? {
          vendorCalls: {
            concurrency: host.vendor.limit,
            calls: host.vendor.gauge.calls,
            meanInFlight: Number(host.vendor.gauge.mean().toFixed(2)),
            peakInFlight: host.vendor.gauge.peak,
          },
          recovered: host.recovered,
        }
      : {}),
  };
}

function renderTable(result: RunResult): string {
  const extra: Array<[string, string]> = [];
  if (result.vendorCalls) {
    extra.push([
      'vendor calls (this run)',
      `${result.vendorCalls.calls}, mean ${result.vendorCalls.meanInFlight} in flight of ${result.vendorCalls.concurrency}`,
    ]);
  }
  extra.push(['state', result.stateDir]);
  return summaryTable({
    batchId: result.batchId,
    summary: {
      batchId: result.batchId,
      total: result.total,
      ...result.decisions,
      paidCalls: result.paidCalls,
      retries: result.retries,
      duplicatesReused: result.duplicatesReused,
    },
    uploaded: result.uploaded,
    decidedThisRun: result.decidedThisRun,
    elapsedMs: result.elapsedMs,
    extra,
  });
}
