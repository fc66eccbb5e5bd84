import { createHash } from 'node:crypto';

/**
 * The `transactionReference` sent for one attempt on one selfie. Deterministic, so a redelivery that finds
 * an open attempt resends the same reference and a vendor that deduplicates by reference charges once.
 * The selfie id holds the S3 key (which may contain names), so only a hash of it leaves the pipeline.
 */
export function transactionReferenceFor(selfieId: string, attempt: number): string {
  if (!Number.isSafeInteger(attempt) || attempt < 1) {
    throw new RangeError(`attempt must be a positive integer, got ${attempt}`);
  }
  const digest = createHash('sha256').update(selfieId, 'utf8').digest('hex').slice(0, 24);
  return `lb-${digest}-${attempt}`;
}
