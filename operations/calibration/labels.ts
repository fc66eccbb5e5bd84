import type { SelfieResult } from '../../shared/results/records.ts';
import { readCsvRows } from '../../toolkit/csv.ts';
import { LABELS, type Label } from './rates.ts';

/** The columns a labels file may name a selfie by, in the order they are looked for. */
export const ID_COLUMNS = ['selfie_id', 'key', 'subject_id'] as const;
export type IdColumn = (typeof ID_COLUMNS)[number];

export interface LabelRow {
  id: string;
  label: Label;
  /** The line of the file the row starts on (1-based; a quoted cell may span lines). */
  line: number;
}

export interface LabelsFile {
  idColumn: IdColumn;
  rows: LabelRow[];
  warnings: string[];
}

/** Thrown when the file cannot be used at all (no header, no id or label column). */
export class LabelsFileError extends Error {}

/**
 * Reads a labels CSV: a header naming `label` and one of `selfie_id`, `key` or `subject_id`, then
 * one row per selfie. RFC 4180 through csv-parse (quoted cells, multi-line cells, a UTF-8 BOM).
 * Rows that cannot be used are warnings, never an abort: an unknown label value, an empty id, and
 * an id listed twice (the first is kept when both say the same; both are dropped when they disagree).
 */
export function parseLabelsCsv(text: string): LabelsFile {
  const records = readCsvRows(text, (problem) => new LabelsFileError(`The labels file is ${problem}`));
  const [header, ...body] = records;
  if (!header) throw new LabelsFileError('The labels file is empty: it needs a header line, e.g. key,label');
  const columns = header.record.map((c) => c.trim().toLowerCase());
  const idColumn = ID_COLUMNS.find((c) => columns.includes(c));
  const labelIndex = columns.indexOf('label');
  if (!idColumn || labelIndex < 0) {
    throw new LabelsFileError(
      `The labels file's header must name a label column and one of ${ID_COLUMNS.join(', ')} (got: ${columns.join(',')})`,
    );
  }
  const idIndex = columns.indexOf(idColumn);
  const warnings: string[] = [];
  const byId = new Map<string, LabelRow>();
  const conflicting = new Set<string>();
  for (const { record, line } of body) {
    const id = (record[idIndex] ?? '').trim();
    const raw = (record[labelIndex] ?? '').trim();
    const label = raw.toLowerCase() as Label;
    if (!id) {
      warnings.push(`line ${line}: empty ${idColumn}; row skipped`);
      continue;
    }
    if (!LABELS.includes(label)) {
      warnings.push(
        `line ${line}: unknown label "${raw}" for ${id} (expected bona_fide or attack); row skipped`,
      );
      continue;
    }
    const earlier = byId.get(id);
    if (earlier) {
      if (earlier.label === label) {
        warnings.push(`line ${line}: duplicate of line ${earlier.line} (${id}, ${label}); the first is kept`);
      } else {
        warnings.push(
          `line ${line}: ${id} is labelled ${label} here and ${earlier.label} on line ${earlier.line}; both are left out`,
        );
        conflicting.add(id);
      }
      continue;
    }
    byId.set(id, { id, label, line });
  }
  for (const id of conflicting) byId.delete(id);
  return { idColumn, rows: [...byId.values()], warnings };
}

/** A decided result with a vendor verdict and a label: one presentation to count. */
export interface LabelledResult {
  selfieId: string;
  key: string;
  subjectId?: string;
  label: Label;
  decision: string;
  vendorStatus: 'VERIFIED' | 'NOT VERIFIED';
  liveScore: number | null;
  popScore: number | null;
}

/** The fields of a result calibration reads; kept small so a large batch stays small in memory. */
export interface CandidateResult {
  selfieId: string;
  key: string;
  subjectId?: string;
  decision?: string;
  vendorStatus?: string;
  liveScore: number | null;
  popScore: number | null;
}

export function candidateOf(result: SelfieResult): CandidateResult {
  const subjectId = typeof result.subjectId === 'string' ? result.subjectId : undefined;
  return {
    selfieId: result.selfieId,
    key: result.key,
    ...(subjectId ? { subjectId } : {}),
    ...(result.decision ? { decision: result.decision } : {}),
    ...(result.vendorStatus ? { vendorStatus: result.vendorStatus } : {}),
    liveScore: result.liveScore ?? null,
    popScore: result.popScore ?? null,
  };
}

function idOf(result: CandidateResult, column: IdColumn): string | undefined {
  if (column === 'selfie_id') return result.selfieId;
  if (column === 'key') return result.key;
  return result.subjectId;
}

/**
 * Joins labels to results. A subject id labels every check of that applicant; a key labels every
 * result with that key. Results with no vendor verdict (REJECTED in preflight, FAILED) cannot be
 * counted and are warnings, like labels that match nothing.
 */
export function matchLabels(
  file: LabelsFile,
  results: Iterable<CandidateResult>,
): { samples: LabelledResult[]; warnings: string[] } {
  const labels = new Map(file.rows.map((row) => [row.id, row]));
  const matched = new Set<string>();
  const samples: LabelledResult[] = [];
  const warnings: string[] = [];
  for (const result of results) {
    const id = idOf(result, file.idColumn);
    const row = id === undefined ? undefined : labels.get(id);
    if (!row) continue;
    matched.add(row.id);
    if (result.vendorStatus !== 'VERIFIED' && result.vendorStatus !== 'NOT VERIFIED') {
      warnings.push(
        `line ${row.line}: ${result.key} has no vendor verdict (decision ${result.decision ?? 'none yet'}); not counted`,
      );
      continue;
    }
    samples.push({
      selfieId: result.selfieId,
      key: result.key,
      ...(result.subjectId ? { subjectId: result.subjectId } : {}),
      label: row.label,
      decision: result.decision ?? '',
      vendorStatus: result.vendorStatus,
      liveScore: result.liveScore,
      popScore: result.popScore,
    });
  }
  for (const row of file.rows) {
    if (!matched.has(row.id)) {
      warnings.push(
        `line ${row.line}: ${file.idColumn} ${row.id} matches no decided result in the selection`,
      );
    }
  }
  return { samples, warnings };
}
