import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { forEachWithConcurrency } from '../shared/concurrency.ts';

const UPLOADS_IN_FLIGHT = 8;
const WAIT_FOR_ROOM_MS = 200;

/**
 * Selfies a run may add to the pipeline's undecided backlog: far more than the workers hold at once
 * ((concurrency + 1) invocations of 10 messages), so the queue never runs dry, yet bounded, because
 * the local bucket keeps every undecided upload in memory.
 */
export function undecidedWindow(concurrency: number): number {
  return Math.max(500, 20 * concurrency);
}

/**
 * Bytes of uploads a run may leave undecided (default budget): the local bucket holds each undecided
 * upload in memory, so a count alone lets 2-3 MB phone photos take a gigabyte or more.
 */
export const UNDECIDED_BYTES = 256 * 1024 ** 2;

/**
 * The fewest selfies the byte budget may shrink the window to: about five per vendor slot keeps every
 * slot fed ((concurrency + 1) invocations, each working on 2 records of its batch at a time).
 */
export function minUndecidedWindow(concurrency: number): number {
  return 5 * (concurrency + 1);
}

export interface UploadProgress {
  uploaded: number;
  /** `file: why` for each file that could not be read or uploaded. */
  failed: string[];
  /** True while uploads wait for the pipeline to decide some of the backlog. */
  waitingForRoom: boolean;
  finished: boolean;
}

/**
 * Uploads `files` (UPLOADS_IN_FLIGHT at a time) while keeping at most `window` more selfies
 * undecided than there were when the uploads began. The baseline matters for a rerun after a crash:
 * the selfies it left undecided are decided only once their files are uploaded again, so counting
 * them against the window could stop the run from ever uploading them. With an attached `up` host an
 * upload counts once that host's bucket watcher delivers it (within a second while uploads keep
 * coming; up to 5 s for the first after a quiet spell), so the backlog can overshoot the window by
 * that long of uploads.
 */
export function uploadFiles(input: {
  files: readonly string[];
  upload(file: string, body: Buffer): Promise<void>;
  /** Selfies of the batch recorded but not yet decided. */
  undecided(): Promise<number>;
  window: number;
  /**
   * Also keep about this many bytes undecided at most (judged from the mean size of the files
   * uploaded so far), but never fewer than `minWindow` selfies. Until a first upload finished,
   * the window is `minWindow`.
   */
  maxUndecidedBytes?: number;
  minWindow?: number;
  stopped(): boolean;
}): { progress: UploadProgress; done: Promise<UploadProgress> } {
  const progress: UploadProgress = { uploaded: 0, failed: [], waitingForRoom: false, finished: false };
  let room = 0;
  /** Uploads started and not finished: not counted as undecided yet. */
  let uploading = 0;
  let baseline: number | undefined;
  let measuring: Promise<void> | undefined;
  let uploadedBytes = 0;

  const currentWindow = () => {
    if (input.maxUndecidedBytes === undefined) return input.window;
    const least = Math.min(input.window, input.minWindow ?? 1);
    if (progress.uploaded === 0) return least;
    const byBytes = Math.floor(input.maxUndecidedBytes / (uploadedBytes / progress.uploaded));
    return Math.min(input.window, Math.max(least, byBytes));
  };
  const measureRoom = async () => {
    const inFlight = uploading;
    try {
      const undecided = await input.undecided();
      baseline ??= undecided;
      room = currentWindow() - (undecided - baseline) - inFlight;
    } catch {
      // The count cannot be read just now: wait and ask again (the run's own loop reports a lasting failure).
    }
  };
  /** Resolves when one more upload fits in the window (or the run stops). */
  const waitForRoom = async () => {
    while (room <= 0 && !input.stopped()) {
      measuring ??= measureRoom().finally(() => {
        measuring = undefined;
      });
      await measuring;
      if (room > 0) break;
      progress.waitingForRoom = true;
      await sleep(WAIT_FOR_ROOM_MS);
    }
    progress.waitingForRoom = false;
    room -= 1;
  };

  const done = forEachWithConcurrency(input.files, UPLOADS_IN_FLIGHT, async (file) => {
    await waitForRoom();
    if (input.stopped()) return;
    uploading += 1;
    try {
      const body = await readFile(file);
      await input.upload(file, body);
      uploadedBytes += body.length;
      progress.uploaded += 1;
    } catch (error) {
      // One unreadable file or refused upload must not abandon the rest of the batch.
      progress.failed.push(`${file}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      uploading -= 1;
    }
  }).then(() => {
    progress.finished = true;
    return progress;
  });
  return { progress, done };
}
