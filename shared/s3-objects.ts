import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import type { SelfieRef } from './selfie.ts';

/** A selfie as read from the bucket: its bytes and its S3 user metadata (the same GetObject). */
export interface LoadedSelfie {
  bytes: Buffer;
  /** User metadata, keys in lower case without `x-amz-meta-` (e.g. `subject-id`). */
  metadata?: Record<string, string>;
}

/**
 * Reads a selfie's bytes, at most `maxBytes + 1` of them: enough for preflight to see that an
 * object is too large without holding a huge upload in a Lambda's memory.
 * Returns undefined when the object (or that version) no longer exists.
 */
export async function readSelfieBytes(
  s3: S3Client,
  ref: SelfieRef,
  maxBytes: number,
): Promise<LoadedSelfie | undefined> {
  let body: AsyncIterable<Uint8Array> & { destroy?: () => void };
  let metadata: Record<string, string> | undefined;
  try {
    const out = await s3.send(
      new GetObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        ...(ref.versionId ? { VersionId: ref.versionId } : {}),
      }),
    );
    body = out.Body as unknown as typeof body;
    metadata = out.Metadata;
  } catch (error) {
    if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
    if ((error as { name?: string }).name === 'NoSuchVersion') return undefined;
    throw error;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(Buffer.from(chunk));
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy?.();
      break;
    }
  }
  return { bytes: Buffer.concat(chunks), ...(metadata ? { metadata } : {}) };
}
