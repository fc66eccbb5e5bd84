import { DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type Decision, isTerminal } from '../shared/decision.ts';
import { outcomeEventDetailSchema } from '../shared/events/outcome-event.ts';
import type { SelfieLifecycle } from '../shared/results/selfie-lifecycle.ts';
import { selfieIdOf } from '../shared/selfie.ts';
import type { EnvelopeHandler } from './event-bus.ts';

/**
 * Default bytes of review images (NOT_VERIFIED and REVIEW uploads) the local bucket keeps: about 750
 * front-camera selfies (85 KiB) or 24 phone photos (2.7 MiB). Small enough that a folder of phone
 * photos reaches it within its first ~120 photos (a fifth are NOT_VERIFIED), so the host's memory
 * stops growing there; with `run`'s window of undecided uploads (cli/uploader.ts, 256 MiB) the bucket
 * never holds much more than 320 MiB whatever the folder's size.
 */
export const LOCAL_REVIEW_IMAGE_BUDGET_BYTES = 64 * 1024 * 1024;

export interface UploadRetentionOptions {
  /**
   * Bytes of NOT_VERIFIED and REVIEW uploads kept for the review page. Beyond it, the oldest kept
   * NOT_VERIFIED image goes first, REVIEW images only once no NOT_VERIFIED one is left (REVIEW is what
   * the page is for). FAILED uploads are outside it and never dropped: a redrive verifies them again
   * from the same object, and dropping one would turn its redrive into a different outcome.
   * Default LOCAL_REVIEW_IMAGE_BUDGET_BYTES; Infinity keeps every one (and keeps no account).
   */
  reviewImageBudgetBytes?: number;
  /** Told of each deletion, so the same bytes uploaded again later count as a new upload. */
  onDeleted?: (key: string) => void;
  /** An upload's size when the caller already knows it (the host: from its delivery); else HeadObject asks. */
  sizeOf?: (key: string) => number | undefined;
  /** Told after each review image dropped for the budget, with the totals so far. */
  onDropped?: (dropped: DroppedReviewImages) => void;
}

export interface DroppedReviewImages {
  images: number;
  bytes: number;
}

type KeptDecision = 'NOT_VERIFIED' | 'REVIEW';

/**
 * How long the local bucket keeps an upload. fauxqs holds every object in this process's memory, so
 * keeping them all would make a run's memory grow with its size (and a folder of real selfies would
 * not fit). The local cloud therefore keeps an upload only while the pipeline may still read it:
 * until its selfie has a final decision. FAILED is not final here: a redrive verifies the selfie again
 * from the same object. Nor are REVIEW and NOT_VERIFIED: `liveness-batch review` shows the image, but
 * only within a byte budget (about a fifth of a phone-photo folder is NOT_VERIFIED, which kept
 * whole would grow with the folder again). On AWS nothing is deleted early; the bucket's lifecycle
 * rule expires uploads after `selfieRetentionDays`, and `purge` deletes them sooner.
 */
export class LocalUploadRetention {
  private readonly budgetBytes: number;
  private readonly onDeleted: (key: string) => void;
  /** Kept review images by key, oldest first (a Map iterates in insertion order). */
  private readonly kept: Record<KeptDecision, Map<string, number>> = {
    NOT_VERIFIED: new Map(),
    REVIEW: new Map(),
  };
  private keptBytes = 0;
  private readonly droppedSoFar: DroppedReviewImages = { images: 0, bytes: 0 };

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly repository: SelfieLifecycle,
    private readonly options: UploadRetentionOptions = {},
  ) {
    this.budgetBytes = options.reviewImageBudgetBytes ?? LOCAL_REVIEW_IMAGE_BUDGET_BYTES;
    this.onDeleted = options.onDeleted ?? (() => undefined);
  }

  /** Review images dropped to stay within the budget since this retention started. */
  get dropped(): DroppedReviewImages {
    return { ...this.droppedSoFar };
  }

  /** For the event bus: an outcome was published, so the upload is no longer needed unless it FAILED. */
  readonly onOutcome: EnvelopeHandler = async (envelope) => {
    const detail = outcomeEventDetailSchema.safeParse(envelope.detail);
    if (!detail.success || detail.data.bucket !== this.bucket) return;
    await this.afterDecision(detail.data.key, detail.data.decision);
  };

  /**
   * For uploads that enqueue found already known (a rerun uploads the folder again): those whose
   * selfie is already decided get no new outcome, so they are deleted or kept here.
   */
  async afterKnownUploads(uploads: ReadonlyArray<{ key: string; size: number }>): Promise<void> {
    for (const { key, size } of uploads) {
      const result = await this.repository.getResult(selfieIdOf({ bucket: this.bucket, key }));
      if (result && isTerminal(result.state)) await this.afterDecision(key, result.state, size);
    }
  }

  /** A decided upload: deleted when nothing reads it again, else kept within the budget. */
  private async afterDecision(key: string, decision: Decision, knownSize?: number): Promise<void> {
    this.forget(key);
    if (isNeededNoLonger(decision)) await this.delete(key);
    else await this.keep(key, decision, knownSize);
  }

  private async keep(key: string, decision: Decision, knownSize?: number): Promise<void> {
    if (decision === 'FAILED' || this.budgetBytes === Number.POSITIVE_INFINITY) return;
    const size = knownSize ?? this.options.sizeOf?.(key) ?? (await this.headSize(key));
    if (size === undefined) return; // deleted meanwhile (purge): nothing held
    this.kept[decision as KeptDecision].set(key, size);
    this.keptBytes += size;
    // Chosen synchronously, so outcomes handled side by side never pick the same image twice.
    const victims: Array<[string, number]> = [];
    for (const from of ['NOT_VERIFIED', 'REVIEW'] as const) {
      for (const [victim, bytes] of this.kept[from]) {
        if (this.keptBytes <= this.budgetBytes) break;
        this.kept[from].delete(victim);
        this.keptBytes -= bytes;
        victims.push([victim, bytes]);
      }
    }
    for (const [victim, bytes] of victims) {
      await this.delete(victim);
      this.droppedSoFar.images += 1;
      this.droppedSoFar.bytes += bytes;
      this.options.onDropped?.(this.dropped);
    }
  }

  /** The key is no longer a kept review image (decided again, or deleted). */
  private forget(key: string): void {
    for (const map of Object.values(this.kept)) {
      const size = map.get(key);
      if (size !== undefined) {
        map.delete(key);
        this.keptBytes -= size;
      }
    }
  }

  private async headSize(key: string): Promise<number | undefined> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      if ((error as { name?: string }).name === 'NotFound') return undefined;
      throw error;
    }
  }

  private async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    this.onDeleted(key);
  }
}

/** FAILED waits for a redrive; REVIEW and NOT_VERIFIED wait for a reviewer, who sees the image. */
const isNeededNoLonger = (decision: string) => decision === 'VERIFIED' || decision === 'REJECTED';
