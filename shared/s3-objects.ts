import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import type { SelfieRef } from './selfie.ts';

/**
 * Reads a selfie's bytes, at most `maxBytes + 1` of them: enough for preflight to see that an
 * object is too large without holding a huge upload in a Lambda's memory.
 * Returns undefined when the object (or that version) no longer exists.
 */
export async function readSelfieBytes(
  s3: S3Client,
  ref: SelfieRef,
  maxBytes: number,
): Promise<Buffer | undefined> {
  let body: AsyncIterable<Uint8Array> & { destroy?: () => void };
  try {
    const out = await s3.send(
      new GetObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        ...(ref.versionId ? { VersionId: ref.versionId } : {}),
      }),
    );
    body = out.Body as unknown as typeof body;
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
  return Buffer.concat(chunks);
}
