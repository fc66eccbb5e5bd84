import { z } from 'zod';

/** Where a selfie lives. Identity is bucket + key (+ versionId when the bucket is versioned). */
export const selfieRefSchema = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  versionId: z.string().min(1).optional(),
});
export type SelfieRef = z.infer<typeof selfieRefSchema>;

/** Selfies directly under the upload prefix, with no batch folder, belong to this batch. */
export const UNBATCHED = 'unbatched';

export function selfieIdOf(ref: SelfieRef): string {
  const base = `s3://${ref.bucket}/${ref.key}`;
  return ref.versionId ? `${base}?versionId=${ref.versionId}` : base;
}

/**
 * S3 event notifications URL-encode object keys and turn spaces into `+`.
 * Decode exactly once: `+` first (a literal plus arrives as %2B), then percent-escapes.
 */
export function decodeS3EventKey(encodedKey: string): string {
  return decodeURIComponent(encodedKey.replace(/\+/g, ' '));
}

/** The batch is the first folder under the upload prefix; undefined when the key is outside the prefix. */
export function batchIdOf(key: string, uploadPrefix: string): string | undefined {
  if (!key.startsWith(uploadPrefix)) return undefined;
  const rest = key.slice(uploadPrefix.length);
  const slash = rest.indexOf('/');
  return slash > 0 ? rest.slice(0, slash) : UNBATCHED;
}

/** A zero-byte key ending in `/` is a folder marker made by consoles and sync tools, not a selfie. */
export function isFolderMarker(key: string, size: number | undefined): boolean {
  return key.endsWith('/') && (size ?? 0) === 0;
}
