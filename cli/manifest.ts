import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { idProblem, METADATA_FIELDS } from '../shared/selfie-metadata.ts';
import { readCsvRows } from '../toolkit/csv.ts';

/** The manifest's columns, in this order, as its header. */
export const MANIFEST_COLUMNS = ['file', 'subject_id', 'correlation_id'] as const;

export interface ManifestEntry {
  /** The file on disk. */
  path: string;
  /** Its path under the manifest's folder, `/`-separated: the key under the batch folder. */
  keyPath: string;
  /** S3 user metadata to upload it with. */
  metadata: Record<string, string>;
}

export interface Manifest {
  /** The folder the `file` column is relative to: the manifest's own. */
  dir: string;
  entries: ManifestEntry[];
  /** Rows not uploaded, each with its line and why (missing file, bad ID, duplicate). */
  problems: string[];
}

export class ManifestError extends Error {}

/**
 * Reads `run --manifest FILE.csv`: a header `file,subject_id,correlation_id`, then one row per
 * selfie. `file` is relative to the manifest's folder (and must stay inside it, as it becomes the
 * object key); the IDs may be empty. Rows whose file is missing or whose IDs would be rejected are
 * reported and left out; the rest are uploaded.
 */
export async function readManifest(manifestPath: string, text: string): Promise<Manifest> {
  const records = readCsvRows(text, (problem) => new ManifestError(`${manifestPath} is ${problem}`));
  const [header, ...rows] = records;
  const columns = header?.record.map((c) => c.trim().toLowerCase()) ?? [];
  if (columns.join(',') !== MANIFEST_COLUMNS.join(',')) {
    throw new ManifestError(
      `${manifestPath} must start with the header ${MANIFEST_COLUMNS.join(',')} (got: ${columns.join(',') || 'nothing'})`,
    );
  }
  const dir = dirname(resolve(manifestPath));
  const entries: ManifestEntry[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  for (const { record, line } of rows) {
    const [file = '', subjectId = '', correlationId = ''] = record.map((c) => c.trim());
    if (!file) {
      problems.push(`line ${line}: no file`);
      continue;
    }
    const path = resolve(dir, file);
    const keyPath = relative(dir, path);
    if (isAbsolute(keyPath) || keyPath.startsWith('..')) {
      problems.push(`line ${line}: ${file} is outside the manifest's folder`);
      continue;
    }
    const info_ = await stat(path).catch(() => undefined);
    if (!info_?.isFile()) {
      problems.push(`line ${line}: ${file} is missing`);
      continue;
    }
    const earlier = seen.get(path);
    if (earlier !== undefined) {
      problems.push(`line ${line}: ${file} is already on line ${earlier}`);
      continue;
    }
    const metadata: Record<string, string> = {};
    const bad = (
      [
        [METADATA_FIELDS.subjectId, 'subject_id', subjectId],
        [METADATA_FIELDS.correlationId, 'correlation_id', correlationId],
      ] as const
    ).flatMap(([header, column, value]) => {
      if (!value) return [];
      const problem = idProblem(value);
      if (problem) return [`${column} ${problem}`];
      metadata[header] = value;
      return [];
    });
    if (bad.length > 0) {
      problems.push(`line ${line}: ${file}: ${bad.join('; ')}`);
      continue;
    }
    seen.set(path, line);
    entries.push({ path, keyPath: keyPath.split(sep).join('/'), metadata });
  }
  return { dir, entries, problems };
}
