import {
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  ListObjectVersionsCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { selfieIdOf } from '../shared/selfie.ts';
import type { OperatorHistory } from './selfie-history.ts';

export interface PurgeCandidate {
  key: string;
  versionId?: string;
  lastModified: string;
  size: number;
}

export interface PurgeSummary {
  dryRun: boolean;
  cutoff: string;
  /** Objects (or versions) under the prefix that were looked at. */
  examined: number;
  /** Deleted (or, in a dry run, that would be). */
  purged: number;
  bytes: number;
}

export interface PurgeOptions {
  s3: S3Client;
  bucket: string;
  /** Only keys under this prefix (the upload prefix) are considered. */
  prefix: string;
  olderThanMs: number;
  history: OperatorHistory;
  dryRun: boolean;
  now?: () => Date;
  onPurged?: (object: PurgeCandidate) => void;
}

/** True when the bucket keeps versions: then every old version is deleted, not just hidden behind a marker. */
async function isVersioned(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    const out = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    return out.Status === 'Enabled' || out.Status === 'Suspended';
  } catch {
    // An emulator without versioning support (the local cloud's) has no versions to delete.
    return false;
  }
}

/** Pages of stored objects (or object versions) under the prefix, 1000 at a time. */
async function* listPages(s3: S3Client, bucket: string, prefix: string): AsyncGenerator<PurgeCandidate[]> {
  if (await isVersioned(s3, bucket)) {
    // The SDK has no paginator for ListObjectVersions (two markers), so this one pages by hand.
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    do {
      const out = await s3.send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          Prefix: prefix,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(versionIdMarker ? { VersionIdMarker: versionIdMarker } : {}),
        }),
      );
      yield (out.Versions ?? []).map((v) => ({
        key: v.Key ?? '',
        ...(v.VersionId && v.VersionId !== 'null' ? { versionId: v.VersionId } : {}),
        lastModified: (v.LastModified ?? new Date(0)).toISOString(),
        size: v.Size ?? 0,
      }));
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
      versionIdMarker = out.IsTruncated ? out.NextVersionIdMarker : undefined;
    } while (keyMarker);
    return;
  }
  for await (const out of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
    yield (out.Contents ?? []).map((o) => ({
      key: o.Key ?? '',
      lastModified: (o.LastModified ?? new Date(0)).toISOString(),
      size: o.Size ?? 0,
    }));
  }
}

/**
 * Retention purge: deletes the selfie objects under the upload prefix last modified before
 * now − olderThan (every version, on a versioned bucket), and records each deletion as a PURGED item
 * in the selfie's audit history. Results are never touched: the table is the audit record and
 * outlives the biometric data. A deletion is recorded once S3 confirmed it.
 */
export async function purgeExpiredSelfies(options: PurgeOptions): Promise<PurgeSummary> {
  const { s3, bucket, history } = options;
  const now = options.now ?? (() => new Date());
  const cutoff = new Date(now().getTime() - options.olderThanMs).toISOString();
  const summary: PurgeSummary = { dryRun: options.dryRun, cutoff, examined: 0, purged: 0, bytes: 0 };
  // History sort keys hold the time: keep them distinct within one run.
  let lastAt = 0;
  const historyTime = () => {
    lastAt = Math.max(now().getTime(), lastAt + 1);
    return new Date(lastAt).toISOString();
  };

  for await (const page of listPages(s3, bucket, options.prefix)) {
    summary.examined += page.length;
    const expired = page.filter((o) => o.lastModified < cutoff && !o.key.endsWith('/'));
    if (expired.length === 0) continue;
    let deleted = expired;
    if (!options.dryRun) {
      const out = await s3.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: {
            Objects: expired.map((o) => ({ Key: o.key, ...(o.versionId ? { VersionId: o.versionId } : {}) })),
            Quiet: true,
          },
        }),
      );
      const failed = new Set((out.Errors ?? []).map((e) => `${e.Key}\u0000${e.VersionId ?? ''}`));
      deleted = expired.filter((o) => !failed.has(`${o.key}\u0000${o.versionId ?? ''}`));
      for (const object of deleted) {
        await history.recordPurge(
          selfieIdOf({
            bucket,
            key: object.key,
            ...(object.versionId ? { versionId: object.versionId } : {}),
          }),
          historyTime(),
          {
            bucket,
            key: object.key,
            ...(object.versionId ? { versionId: object.versionId } : {}),
            lastModified: object.lastModified,
          },
        );
      }
      if (failed.size > 0) {
        const first = out.Errors?.[0];
        throw new Error(
          `S3 refused to delete ${failed.size} object(s) (first: ${first?.Key}: ${first?.Code} ${first?.Message}); ` +
            `${summary.purged + deleted.length} deleted and recorded so far. Run purge again once fixed.`,
        );
      }
    }
    for (const object of deleted) {
      summary.purged += 1;
      summary.bytes += object.size;
      options.onPurged?.(object);
    }
  }
  return summary;
}
