import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { S3EventRecord } from 'aws-lambda';

/** An object as a notification describes it. */
export interface CreatedObject {
  key: string;
  size: number;
  eTag: string;
  versionId?: string;
}

/** S3 notifications encode keys like a form: percent-escapes, spaces as `+`, slashes kept. */
export function s3EventKey(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');
}

let sequence = 0;

/** The ObjectCreated:Put record Amazon S3 sends for an upload (event structure version 2.1). */
export function objectCreatedRecord(
  bucket: string,
  object: CreatedObject,
  region = 'us-east-1',
): S3EventRecord {
  sequence += 1;
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: region,
    eventTime: new Date().toISOString(),
    eventName: 'ObjectCreated:Put',
    userIdentity: { principalId: 'local' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': 'local', 'x-amz-id-2': 'local' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'selfie-uploads',
      bucket: { name: bucket, ownerIdentity: { principalId: 'local' }, arn: `arn:aws:s3:::${bucket}` },
      object: {
        key: s3EventKey(object.key),
        size: object.size,
        eTag: object.eTag.replace(/"/g, ''),
        ...(object.versionId ? { versionId: object.versionId } : {}),
        sequencer: `${Date.now().toString(16).toUpperCase()}${String(sequence).padStart(8, '0')}`,
      },
    },
  };
}

/**
 * Which object versions (key + ETag) were already delivered as ObjectCreated events. A bucket
 * listing shows every object every time; only the ones not delivered yet become events.
 */
export class DeliveredObjects {
  private readonly byKey = new Map<string, { eTag: string; size: number; at: number }>();

  /** The objects not delivered yet, marked delivered now. */
  takeFresh(objects: readonly CreatedObject[], now = Date.now()): CreatedObject[] {
    const fresh = objects.filter((o) => this.byKey.get(o.key)?.eTag !== o.eTag);
    for (const o of fresh) this.byKey.set(o.key, { eTag: o.eTag, size: o.size, at: now });
    return fresh;
  }

  /** The size of the key's delivered object, as its upload or listing gave it (no request needed). */
  sizeOf(key: string): number | undefined {
    return this.byKey.get(key)?.size;
  }

  /** The next listing (or upload) delivers this key again: its delivery failed, it was deleted, or it was PUT again. */
  forget(key: string, eTag?: string): void {
    if (eTag === undefined || this.byKey.get(key)?.eTag === eTag) this.byKey.delete(key);
  }

  /**
   * Forgets keys that a listing started after their delivery no longer shows: deleted by anyone
   * (purge, another client), so the same bytes uploaded again are a new event, and the map does not
   * keep keys the bucket no longer has.
   */
  forgetMissing(listed: readonly CreatedObject[], listingStartedAt: number): void {
    const keys = new Set(listed.map((o) => o.key));
    for (const [key, { at }] of this.byKey) {
      if (at < listingStartedAt && !keys.has(key)) this.byKey.delete(key);
    }
  }

  get size(): number {
    return this.byKey.size;
  }
}

/** Every object under a prefix, following continuation tokens. */
export async function listObjects(s3: S3Client, bucket: string, prefix: string): Promise<CreatedObject[]> {
  const objects: CreatedObject[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const item of page.Contents ?? []) {
      if (item.Key) objects.push({ key: item.Key, size: item.Size ?? 0, eTag: item.ETag ?? '' });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

/** The pause before the next listing: back to `intervalMs` when this one found new objects, else doubled up to `maxMs`. */
export function nextListingPause(pauseMs: number, fresh: number, intervalMs: number, maxMs: number): number {
  return fresh > 0 ? intervalMs : Math.min(maxMs, pauseMs * 2);
}

/**
 * fauxqs accepts a bucket notification configuration but never delivers it, so uploads made by
 * other S3 clients are found by listing the prefix and handed to `onObjects` (the host's own uploads
 * skip the listing: it delivers them itself). A listing costs in proportion to the objects held, so
 * it runs every `intervalMs` only while listings keep finding new objects; after each listing that
 * finds none the pause doubles, up to `maxIntervalMs`. `onObjects` returns how many were new.
 */
export function watchBucket(options: {
  s3: S3Client;
  bucket: string;
  prefix: string;
  intervalMs: number;
  /** Longest pause between listings that find nothing new (default: `intervalMs`, no backoff). */
  maxIntervalMs?: number;
  /** `listingStartedAt`: anything uploaded after it may be missing from `objects`. */
  onObjects: (objects: CreatedObject[], listingStartedAt: number) => Promise<number>;
  onError: (error: unknown) => void;
}): { stop(): Promise<void> } {
  let stopped = false;
  let wake: (() => void) | undefined;
  const maxIntervalMs = Math.max(options.intervalMs, options.maxIntervalMs ?? options.intervalMs);
  let pauseMs = options.intervalMs;
  const loop = (async () => {
    while (!stopped) {
      try {
        const listingStartedAt = Date.now();
        const objects = await listObjects(options.s3, options.bucket, options.prefix);
        const fresh = await options.onObjects(objects, listingStartedAt);
        pauseMs = nextListingPause(pauseMs, fresh, options.intervalMs, maxIntervalMs);
      } catch (error) {
        if (!stopped) options.onError(error);
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, pauseMs).unref();
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
