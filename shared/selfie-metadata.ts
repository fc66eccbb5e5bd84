/**
 * The caller's identifiers an upload may carry as S3 user metadata (`x-amz-meta-subject-id`,
 * `x-amz-meta-correlation-id`). They arrive with the worker's GetObject of the image, so they cost
 * no extra S3 request, and they travel onto the result, the outcome event, the webhook and audits.
 */
export const METADATA_FIELDS = { subjectId: 'subject-id', correlationId: 'correlation-id' } as const;

/** Long enough for a UUID, a URN or a customer reference; short enough for an index key and a CSV cell. */
export const MAX_ID_LENGTH = 128;

/** Printable ASCII, no leading or trailing space: S3 user metadata is ASCII over HTTP anyway. */
const PRINTABLE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

export interface SelfieIds {
  subjectId?: string;
  correlationId?: string;
}

export type SelfieIdsResult =
  | { ok: true; ids: SelfieIds }
  | { ok: false; reason: { code: 'BAD_METADATA'; detail: string } };

/** Checks one identifier; the problem in words, or undefined when it is fine. */
export function idProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty';
  if (value.length > MAX_ID_LENGTH) return `is ${value.length} characters long (at most ${MAX_ID_LENGTH})`;
  if (!PRINTABLE.test(value)) {
    return 'must be printable ASCII characters (no control characters, no leading or trailing space)';
  }
  return undefined;
}

/**
 * The identifiers from an object's user metadata (keys as the SDK returns them: lower case, without
 * the `x-amz-meta-` prefix). Absent is fine; present and malformed is a reason naming the field.
 */
export function selfieIdsFrom(metadata: Record<string, string> | undefined): SelfieIdsResult {
  const ids: SelfieIds = {};
  for (const [name, header] of Object.entries(METADATA_FIELDS) as Array<[keyof SelfieIds, string]>) {
    const value = metadata?.[header];
    if (value === undefined) continue;
    const problem = idProblem(value);
    if (problem) return { ok: false, reason: { code: 'BAD_METADATA', detail: `${header} ${problem}` } };
    ids[name] = value;
  }
  return { ok: true, ids };
}
