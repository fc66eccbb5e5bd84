import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { statePaths } from '../local-cloud/state-dir.ts';
import { parseDuration } from '../operations/time-input.ts';
import type { BatchSummary } from '../shared/results/records.ts';
import { pipelineSettings } from '../shared/settings.ts';
import type { BreakerStatus } from '../shared/verification/vendor-breaker.ts';
import { type Command, UsageError } from '../toolkit/command.ts';
import {
  type LocalCloudFlags,
  localCloudHelp,
  parseCommandLine,
  parseLocalCloudFlags,
} from './local-flags.ts';
import { type Manifest, ManifestError, readManifest } from './manifest.ts';
import { decidedCount, decisionCounts, formatDuration, progressLine, summaryTable } from './progress.ts';
import { HostUnavailableError, openSession, type Session } from './session.ts';
import { parseStackRunFlags, stackRunHelp, stackRunOptions } from './stack-run-flags.ts';
import { openStackSession } from './stack-session.ts';
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

const HELP = `Usage: liveness-batch run [DIR | --manifest FILE.csv] [options]
       liveness-batch run DIR --stack NAME [--outputs FILE] [--region R] [--batch ID] [--json]

Verifies every file under DIR (default samples/, recursively) on the local cloud: uploads each to
the emulated S3 bucket as ${pipelineSettings.uploadPrefix}<batch>/<path under DIR>, lets the same handlers as on AWS
(enqueue, worker, publish) process them, shows progress on stderr, and prints a summary when every
selfie has a decision (VERIFIED, NOT_VERIFIED, REVIEW, REJECTED or FAILED). Hidden files and
Markdown notes (*.md) are not uploaded. Uploads overlap with the processing: at most
max(500, 20 x concurrency) selfies (and about 256 MiB of them, but never fewer than
5 x (concurrency + 1) selfies) wait undecided at a time, and the emulated bucket drops an upload
once its selfie is decided (FAILED ones stay for a redrive, REVIEW and NOT_VERIFIED ones for
\`liveness-batch review\`), so memory stays flat on large folders.

Results are kept in the state folder, so running the same DIR again only processes what has no
decision yet, and nothing is paid twice. If \`liveness-batch up\` is running with the same state
folder, run uploads into it instead of starting its own host (its host flags then do not apply).

Options:
  --batch ID               batch id (default: the folder's name, e.g. "samples" for samples/;
                           characters other than letters, digits, . _ - become -)
  --manifest FILE.csv      upload the files a manifest lists, with the applicant's IDs as S3 user
                           metadata: header file,subject_id,correlation_id (IDs may be empty; at most
                           128 printable ASCII characters). file is relative to the manifest's folder,
                           which is then the folder of the run. Rows whose file is missing (or whose
                           IDs are malformed) are listed and skipped; the rest are uploaded; exit 1.
  --json                   print one JSON object on stdout instead of the table: batchId, total,
                           decisions, held, paidCalls, uncertainCalls, retries, duplicatesReused,
                           uploaded, decidedThisRun, elapsedMs, throughputPerSecond, ...
  --vendor-outage-timeout D
                           how long the vendor may refuse everyone (a firewall 403, a redirect,
                           a storm of 5xx or unanswered calls) before the run gives up with exit
                           code 1 (default 10m; s, m or h). Meanwhile calls pause and selfies wait:
                           none fails, none is charged, and a rerun resumes
  --help, -h               this text

${localCloudHelp}

${stackRunHelp}

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

export function uploadKey(
  batchId: string,
  dir: string,
  file: string,
  prefix: string = pipelineSettings.uploadPrefix,
): string {
  return `${prefix}${batchId}/${relative(dir, file).split(sep).join('/')}`;
}

export interface RunResult {
  batchId: string;
  total: number;
  decisions: ReturnType<typeof decisionCounts>;
  paidCalls: number;
  /** Calls sent without a readable answer: they may have been charged (`reconcile` settles them). */
  uncertainCalls: number;
  /** Selfies waiting because the spend cap is reached (`budget` or a higher --max-paid-calls releases them). */
  held: number;
  retries: number;
  duplicatesReused: number;
  uploaded: number;
  decidedThisRun: number;
  elapsedMs: number;
  bootMs: number;
  throughputPerSecond: number;
  /** The local state folder (absent with --stack). */
  stateDir?: string;
  /** The deployed stack the run used (--stack). */
  stack?: string;
  host: 'embedded' | 'attached' | 'stack';
  vendorCalls?: { concurrency: number; calls: number; meanInFlight: number; peakInFlight: number };
  recovered?: { unfinished: number; leasesReleased: number; lostMessages: number };
  /** Embedded host only: NOT_VERIFIED/REVIEW images its in-memory bucket deleted to stay within its budget. */
  reviewImagesDropped?: { images: number; bytes: number; budgetBytes: number };
}

const runOptions = {
  json: { type: 'boolean' },
  'vendor-outage-timeout': { type: 'string' },
  batch: { type: 'string' },
  ...stackRunOptions,
  manifest: { type: 'string' },
} as const;

export const runCommand: Command = {
  name: 'run',
  summary:
    'Verify a folder of selfies on the local cloud (emulated S3/SQS/DynamoDB + sandbox), or on a stack (--stack), and summarise',
  async run(argv) {
    const { values, positionals } = parseCommandLine(argv, runOptions, true);
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length > 1) {
      throw new UsageError(`run takes one folder, got ${positionals.length}: ${positionals.join(' ')}`);
    }
    const stack = parseStackRunFlags(values);
    const flags = parseLocalCloudFlags(values);
    const batch = values.batch === undefined ? undefined : batchIdSchema.safeParse(values.batch);
    if (batch && !batch.success) throw new UsageError(batch.error.issues[0]?.message ?? '--batch is invalid');
    const paths = statePaths(flags.stateDir);
    const outageText = values['vendor-outage-timeout'] ?? '10m';
    const vendorOutageTimeoutMs = parseDuration(outageText);
    if (vendorOutageTimeoutMs === undefined) {
      throw new UsageError(
        `--vendor-outage-timeout must be a duration like 90s, 10m or 1h, got "${outageText}"`,
      );
    }
    const common = {
      json: values.json === true,
      flags,
      vendorOutageTimeoutMs,
      ...(stack
        ? {
            open: () => openStackSession(stack),
            logs: "the stack's CloudWatch logs (the worker's log group)",
            stack: stack.stack,
          }
        : {
            open: (terminal: Terminal, expectedSelfies: number) =>
              openSession(flags, terminal, expectedSelfies),
            logs: join(paths.logs, 'pipeline.log'),
            stateDir: paths.root,
          }),
    };
    if (typeof values.manifest === 'string') {
      if (positionals.length > 0) throw new UsageError('Give a folder or --manifest FILE.csv, not both');
      const text = await readFile(values.manifest, 'utf8').catch(() => {
        throw new UsageError(`Cannot read the manifest ${values.manifest}`);
      });
      let manifest: Manifest;
      try {
        manifest = await readManifest(values.manifest, text);
      } catch (error) {
        if (error instanceof ManifestError) throw new UsageError(error.message);
        throw error;
      }
      if (manifest.entries.length === 0) {
        throw new UsageError(
          `${values.manifest} lists no file that can be uploaded${manifest.problems.length ? `:\n  ${manifest.problems.join('\n  ')}` : ''}`,
        );
      }
      return runFolder({
        ...common,
        dir: manifest.dir,
        files: manifest.entries.map((e) => e.path),
        metadata: new Map(manifest.entries.map((e) => [e.path, e.metadata])),
        skipped: manifest.problems,
        batchId: batch?.data ?? defaultBatchId(manifest.dir),
      });
    }
    const dir = positionals[0] ?? 'samples/';
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory())
      throw new UsageError(`${dir} is not a folder; pass the folder of selfies to verify`);
    const files = await listUploadFiles(dir);
    if (files.length === 0) throw new UsageError(`${dir} has no files to upload`);
    return runFolder({ ...common, dir, files, batchId: batch?.data ?? defaultBatchId(dir) });
  },
};

async function runFolder(input: {
  dir: string;
  files: string[];
  /** S3 user metadata per file (`run --manifest`). */
  metadata?: ReadonlyMap<string, Record<string, string>>;
  /** Manifest rows not uploaded, with why; reported, and the run exits 1. */
  skipped?: readonly string[];
  batchId: string;
  json: boolean;
  flags: LocalCloudFlags;
  vendorOutageTimeoutMs: number;
  /** Opens where the uploads go; `expectedSelfies` is how many files this run has. */
  open(terminal: Terminal, expectedSelfies: number): Promise<Session>;
  /** Where the handlers' logs are: the local log file, or the stack's. */
  logs: string;
  stateDir?: string;
  stack?: string;
}): Promise<number> {
  const { dir, files, batchId, flags } = input;
  // Locally, EMF metrics have no CloudWatch to go to; every log is filed, the terminal shows WARN and up.
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL ??= 'INFO';
  const logFile = input.stateDir ? input.logs : undefined;
  const terminal = new Terminal({
    minLevel: flags.verbose ? 'INFO' : 'WARN',
    ...(logFile ? { logFile } : {}),
  });
  let session: Session | undefined;
  let interrupted = false;
  let stopUploads = false;
  const onSignal = () => {
    // A second Ctrl-C does not wait for running invocations; the next run resumes either way.
    if (interrupted) process.exit(130);
    interrupted = true;
    terminal.note(
      input.stack
        ? 'Interrupted: no more uploads (what is uploaded is verified on AWS; run again to upload the rest)...'
        : 'Interrupted: stopping the local cloud (Ctrl-C again to quit at once)...',
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const bootStarted = Date.now();
    try {
      session = await input.open(terminal, files.length);
    } catch (error) {
      if (error instanceof HostUnavailableError) {
        terminal.note(error.message);
        return 1;
      }
      throw error;
    }
    const bootMs = Date.now() - bootStarted;
    describeSession(session, flags, terminal, bootMs);

    if (input.skipped?.length) {
      terminal.note(
        `Not uploading ${input.skipped.length} manifest row(s) (exit code 1):\n  ${input.skipped.join('\n  ')}`,
      );
    }
    const before = await session.summary(batchId);
    if (before?.HELD && session.host && flags.maxPaidCalls !== undefined) {
      // This run's cap may be higher than the one that held them: let the held selfies try again now.
      const requeued = await session.host.requeueHeld(batchId);
      terminal.note(
        `${requeued} selfie(s) held at an earlier run's spend cap try again under --max-paid-calls ${flags.maxPaidCalls}.`,
      );
    }
    const started = Date.now();
    const active = session;
    const keyOf = (file: string) => uploadKey(batchId, dir, file, active.uploadPrefix);
    // A stack keeps what was uploaded: a rerun (after Ctrl-C, say) uploads only the rest.
    const uploaded = await session.uploadedKeys?.(batchId);
    const toUpload = uploaded ? files.filter((file) => !uploaded.has(keyOf(file))) : files;
    if (uploaded && toUpload.length < files.length) {
      terminal.note(
        `${files.length - toUpload.length} file(s) of batch "${batchId}" are already uploaded; uploading the other ${toUpload.length}.`,
      );
    }
    // Uploads and decisions overlap: the window keeps the bucket's undecided backlog bounded.
    const uploads = uploadFiles({
      files: toUpload,
      upload: (file, body) => active.upload(keyOf(file), body, input.metadata?.get(file)),
      undecided: async () => {
        const summary = await active.summary(batchId);
        // HELD selfies wait for budget, not for the pipeline: they do not hold up uploads.
        return (summary?.total ?? 0) - decidedCount(summary) - (summary?.HELD ?? 0);
      },
      window: session.uploadWindow ?? undecidedWindow(session.concurrency),
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
      logFile: input.logs,
      vendorOutageTimeoutMs: input.vendorOutageTimeoutMs,
      interrupted: () => interrupted,
    });
    stopUploads = true;
    const { uploaded: uploadedNow, failed: failedUploads } = await uploads.done;
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
      uploaded: uploadedNow,
      elapsedMs,
      bootMs,
      session,
      ...(input.stateDir ? { stateDir: input.stateDir } : {}),
      ...(input.stack ? { stack: input.stack } : {}),
    });
    terminal.out(input.json ? JSON.stringify(result) : renderTable(result));
    return failedUploads.length > 0 || (input.skipped?.length ?? 0) > 0 ? 1 : 0;
  } finally {
    stopUploads = true;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await session?.stop();
    terminal.restore();
  }
}

/** "the vendor has answered HTTP 403 since 10:42:07 (3m ago)", for the progress line and the exit reason. */
function describeOutage(circuit: BreakerStatus): string {
  const since = circuit.since ?? Date.now();
  const time = new Date(since).toISOString().slice(11, 19);
  return `the vendor has answered ${circuit.lastAnswer ?? 'errors'} since ${time} UTC (${formatDuration(Date.now() - since)} ago)`;
}

function describeSession(session: Session, flags: LocalCloudFlags, terminal: Terminal, bootMs: number): void {
  const host = session.host;
  if (!host) {
    terminal.note(`Using ${session.description}.`);
    if (flags.sandboxFlagsGiven || flags.vendor || flags.bundled) {
      terminal.note(
        'Note: vendor, sandbox and --bundled flags do not apply to a running host; restart `up` to change them.',
      );
    }
    return;
  }
  const vendor = host.sandbox
    ? `sandbox ${host.sandbox.endpointUrl} (simulated scores, not a liveness model)`
    : `vendor ${host.endpoints.vendorUrl}`;
  const handlers =
    host.handlersFrom === 'source' ? '' : ` handlers bundled as deployed (${host.handlersFrom});`;
  terminal.note(
    `Local cloud up in ${formatDuration(bootMs)}: ${vendor};${handlers} up to ${host.vendor.limit} vendor calls in flight (${host.maxInvocations} worker invocations of up to ${pipelineSettings.worker.batchSize} messages).`,
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
  vendorOutageTimeoutMs: number;
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
    // A HELD selfie waits for budget: the run is over for it until the cap is raised.
    if (uploads.finished && total >= expected && decided + (summary?.HELD ?? 0) >= total) {
      return { done: true, summary };
    }
    const circuit = host?.vendorCircuit();
    if (circuit?.unauthorized) {
      return {
        done: false,
        summary,
        reason:
          'The vendor answered 401: the userid/apiKey are wrong for every selfie, so the run stops here instead of burning the batch. Fix the credentials and run again (nothing decided is lost).',
      };
    }
    const outage = circuit && circuit.state !== 'closed' ? describeOutage(circuit) : undefined;
    if (outage && circuit?.since !== undefined && Date.now() - circuit.since > input.vendorOutageTimeoutMs) {
      return {
        done: false,
        summary,
        reason: `${outage}, longer than --vendor-outage-timeout: the run stops. Nothing failed or was charged while calls were paused; run again to resume once the vendor answers.`,
      };
    }
    if (outage) lastMoveAt = Date.now();
    terminal.status(
      progressLine({
        summary,
        expected,
        elapsedMs: Date.now() - input.started,
        ...(host ? { inFlight: host.vendor.gauge.inFlight } : {}),
        ...(uploads.finished ? {} : { uploaded: uploads.uploaded }),
      }) + (outage ? `  PAUSED: ${outage}` : ''),
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
    await sleep(250);
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
  stateDir?: string;
  stack?: string;
}): RunResult {
  const { summary, session } = input;
  const decidedThisRun = decidedCount(summary) - decidedCount(input.before);
  const host = session.host;
  const dropped = host?.reviewImagesDropped();
  return {
    batchId: input.batchId,
    total: summary?.total ?? 0,
    decisions: decisionCounts(summary),
    paidCalls: summary?.paidCalls ?? 0,
    uncertainCalls: summary?.uncertainCalls ?? 0,
    held: summary?.HELD ?? 0,
    retries: summary?.retries ?? 0,
    duplicatesReused: summary?.duplicatesReused ?? 0,
    uploaded: input.uploaded,
    decidedThisRun,
    elapsedMs: input.elapsedMs,
    bootMs: input.bootMs,
    throughputPerSecond:
      input.elapsedMs > 0 ? Number((decidedThisRun / (input.elapsedMs / 1000)).toFixed(2)) : 0,
    ...(input.stateDir ? { stateDir: input.stateDir } : {}),
    ...(input.stack ? { stack: input.stack } : {}),
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
          ...(dropped && dropped.images > 0 ? { reviewImagesDropped: dropped } : {}),
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
  if (result.reviewImagesDropped) {
    const { images, budgetBytes } = result.reviewImagesDropped;
    // The page answers 404 for these: say so where the run ends, not only in the warning above.
    extra.push([
      'review images dropped',
      `${images} (NOT_VERIFIED first) to keep the local bucket within ${Number((budgetBytes / 2 ** 20).toFixed(1))} MiB; \`review\` cannot show them`,
    ]);
  }
  if (result.stack) extra.push(['stack', result.stack]);
  if (result.stateDir) extra.push(['state', result.stateDir]);
  return summaryTable({
    batchId: result.batchId,
    summary: {
      batchId: result.batchId,
      total: result.total,
      ...result.decisions,
      HELD: result.held,
      paidCalls: result.paidCalls,
      uncertainCalls: result.uncertainCalls,
      retries: result.retries,
      duplicatesReused: result.duplicatesReused,
    },
    uploaded: result.uploaded,
    decidedThisRun: result.decidedThisRun,
    elapsedMs: result.elapsedMs,
    extra,
  });
}
