import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isTerminal } from '../shared/decision.ts';
import { outcomeEventDetailSchema } from '../shared/events/outcome-event.ts';
import type { SelfieLifecycle } from '../shared/results/selfie-lifecycle.ts';
import { selfieIdOf } from '../shared/selfie.ts';
import type { EnvelopeHandler } from './event-bus.ts';

/**
 * How long the local bucket keeps an upload. fauxqs holds every object in this process's memory, so
 * keeping them all would make a run's memory grow with its size (and a folder of real selfies would
 * not fit). The local cloud therefore keeps an upload only while the pipeline may still read it:
 * until its selfie has a final decision. FAILED is not final here: a redrive verifies the selfie again
 * from the same object. Nor are REVIEW and NOT_VERIFIED: `liveness-batch review` shows the image. On AWS nothing is deleted early; the bucket's lifecycle rule expires uploads
 * after `selfieRetentionDays`, and `purge` deletes them sooner.
 */
export class LocalUploadRetention {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly repository: SelfieLifecycle,
    /** Told of each deletion, so the same bytes uploaded again later count as a new upload. */
    private readonly onDeleted: (key: string) => void = () => undefined,
  ) {}

  /** For the event bus: an outcome was published, so the upload is no longer needed unless it FAILED. */
  readonly onOutcome: EnvelopeHandler = async (envelope) => {
    const detail = outcomeEventDetailSchema.safeParse(envelope.detail);
    if (!detail.success || detail.data.bucket !== this.bucket || !isNeededNoLonger(detail.data.decision))
      return;
    await this.delete(detail.data.key);
  };

  /**
   * For uploads that enqueue found already known (a rerun uploads the folder again): those whose
   * selfie is already decided get no new outcome, so they are deleted here.
   */
  async afterKnownUploads(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const result = await this.repository.getResult(selfieIdOf({ bucket: this.bucket, key }));
      if (result && isTerminal(result.state) && isNeededNoLonger(result.state)) await this.delete(key);
    }
  }

  private async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    this.onDeleted(key);
  }
}

/** FAILED waits for a redrive; REVIEW and NOT_VERIFIED wait for a reviewer, who sees the image. */
const isNeededNoLonger = (decision: string) => decision === 'VERIFIED' || decision === 'REJECTED';
