import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { uploadFiles } from '../../cli/uploader.ts';

/**
 * The window logic on its own, with an in-memory stand-in for the pipeline (named as such): a
 * counter of undecided selfies that a test "decides" step by step. The real pipeline behind the
 * same functions is exercised by the e2e runs and the benchmark.
 */
class FakePipeline {
  undecided: number;
  peakAboveStart = 0;
  readonly uploaded: string[] = [];
  constructor(private readonly startUndecided: number) {
    this.undecided = startUndecided;
  }
  async upload(file: string): Promise<void> {
    this.uploaded.push(file);
    this.undecided += 1;
    this.peakAboveStart = Math.max(this.peakAboveStart, this.undecided - this.startUndecided);
  }
  decide(count: number): void {
    this.undecided = Math.max(0, this.undecided - count);
  }
}

/**
 * Waits until the uploader waits for room with `count` uploads landed. The window counts uploads still
 * in flight, so it can be full (and waiting) before the last of them lands: wait for both, rather
 * than read the count at the moment the waiting begins.
 */
async function untilWaitingWith(
  progress: { waitingForRoom: boolean },
  pipeline: FakePipeline,
  count: number,
) {
  await vi.waitFor(() => {
    expect(progress.waitingForRoom).toBe(true);
    expect(pipeline.uploaded).toHaveLength(count);
  });
}

describe('uploadFiles keeps the undecided backlog inside its window', () => {
  let dir: string;
  let files: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lb-uploader-'));
    files = [];
    for (let i = 0; i < 40; i++) {
      const file = join(dir, `f-${i}.jpg`);
      await writeFile(file, `file ${i}`);
      files.push(file);
    }
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('uploads everything, never more than the window ahead of the decisions', async () => {
    // Prepare: 100 selfies left undecided by an earlier run must not count against the window.
    const pipeline = new FakePipeline(100);
    const decider = setInterval(() => pipeline.decide(3), 5);

    // Act
    const { done } = uploadFiles({
      files,
      upload: (file) => pipeline.upload(file),
      undecided: async () => pipeline.undecided,
      window: 10,
      stopped: () => false,
    });
    const progress = await done;
    clearInterval(decider);

    // Assess
    expect(progress).toMatchObject({ uploaded: 40, failed: [], finished: true });
    expect(pipeline.uploaded.sort()).toEqual([...files].sort());
    expect(pipeline.peakAboveStart).toBeLessThanOrEqual(10);
  });

  it('waits while the window is full and stops waiting when the run stops', async () => {
    // Prepare: nothing is ever decided.
    const pipeline = new FakePipeline(0);
    let stopped = false;

    // Act
    const { progress, done } = uploadFiles({
      files,
      upload: (file) => pipeline.upload(file),
      undecided: async () => pipeline.undecided,
      window: 10,
      stopped: () => stopped,
    });
    await untilWaitingWith(progress, pipeline, 10);
    stopped = true;
    await done;

    // Assess: nothing more went up while the window was full
    expect(pipeline.uploaded).toHaveLength(10);
    expect(progress.finished).toBe(true);
  });

  it('keeps the undecided bytes within a budget for large files, but never fewer selfies than the minimum', async () => {
    // Prepare: the first files are 6 bytes ('file 0'), a budget of 30 bytes (5 of them), nothing ever decided.
    const pipeline = new FakePipeline(0);
    let stopped = false;

    // Act
    const { progress, done } = uploadFiles({
      files,
      upload: (file) => pipeline.upload(file),
      undecided: async () => pipeline.undecided,
      window: 10,
      maxUndecidedBytes: 30,
      minWindow: 2,
      stopped: () => stopped,
    });
    await untilWaitingWith(progress, pipeline, 5);
    stopped = true;
    await done;

    // Assess: 30 bytes / 6 bytes per file = 5 files, below the count window of 10 and above the minimum.
    expect(pipeline.uploaded).toHaveLength(5);
  });

  it('asks again when the undecided count cannot be read, instead of failing the uploads', async () => {
    // Prepare: the first two reads fail (a busy table), then the count is there.
    const pipeline = new FakePipeline(0);
    let reads = 0;

    // Act
    const progress = await uploadFiles({
      files: files.slice(0, 5),
      upload: (file) => pipeline.upload(file),
      undecided: async () => {
        reads += 1;
        if (reads <= 2) throw new Error('ProvisionedThroughputExceededException');
        return pipeline.undecided;
      },
      window: 10,
      stopped: () => false,
    }).done;

    // Assess
    expect(progress).toMatchObject({ uploaded: 5, failed: [], finished: true });
    expect(reads).toBe(3);
  });

  it('reports a file it cannot read and goes on with the rest', async () => {
    // Prepare
    const pipeline = new FakePipeline(0);

    // Act
    const progress = await uploadFiles({
      files: [files[0] as string, join(dir, 'missing.jpg'), files[1] as string],
      upload: (file) => pipeline.upload(file),
      undecided: async () => pipeline.undecided,
      window: 10,
      stopped: () => false,
    }).done;

    // Assess
    expect(progress.uploaded).toBe(2);
    expect(progress.failed).toEqual([expect.stringMatching(/missing\.jpg: .*ENOENT/)]);
  });
});
