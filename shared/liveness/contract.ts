import { z } from 'zod';

/** The only `verificationType` the pipeline sends (the vendor's spelling, "LIVELINESS" included). */
export const PASSIVE_LIVENESS_VERIFICATION_TYPE = 'PASSIVE-LIVELINESS-VERIFICATION';

/** `responseCode` meaning success; every other code is kept verbatim and treated as not-success. */
export const SUCCESS_RESPONSE_CODE = '00';

export const VERIFICATION_STATUSES = ['VERIFIED', 'NOT VERIFIED', 'PENDING'] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

/** The request body (docs/vendor-contract.md, "Request"). */
export const livenessRequestSchema = z.looseObject({
  verificationType: z.literal(PASSIVE_LIVENESS_VERIFICATION_TYPE),
  /** The image, base64 without a data-URL prefix. */
  selfie: z.string().min(1),
  /** The caller's own reference; the vendor echoes it, or generates one when absent. */
  transactionReference: z.string().min(1).optional(),
  callbackUrl: z.string().optional(),
});
export type LivenessRequest = z.infer<typeof livenessRequestSchema>;

export const livenessScoresSchema = z.looseObject({
  /** 0–100, "presentation of photo": high means spoof. */
  pop_score: z.number(),
  /** 0–100: high means live. */
  live_score: z.number(),
});

/**
 * The response body exactly as documented: every field of the vendor's sample, nullable where the
 * sample shows null. This is what the sandbox sends; the client reads through the lenient schema below.
 */
export const livenessResponseSchema = z.looseObject({
  responseCode: z.string(),
  description: z.string(),
  verificationType: z.string(),
  verificationStatus: z.enum(VERIFICATION_STATUSES),
  /** Status of the wallet debit for this call (compare case-insensitively). */
  transactionStatus: z.string(),
  transactionReference: z.string(),
  /** Epoch milliseconds as a string. */
  transactionDate: z.string(),
  searchParameter: z.unknown().nullable(),
  callBackUrl: z.string().nullable(),
  /** Meaning undocumented: stored, never decided on. */
  livenessScore: z.number().nullable(),
  paymentRef: z.string().nullable(),
  /** The sample shows an object; a PENDING answer has no scores to give (the sandbox sends null). */
  response: livenessScoresSchema.nullable(),
  faceMatch: z.unknown().nullable(),
});
export type LivenessResponse = z.infer<typeof livenessResponseSchema>;

/** A JSON number, or a string holding one ("98.8"), as a tolerant client accepts it. */
const lenientScore = z.union([
  z.number().finite(),
  z
    .string()
    .trim()
    .regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/, 'not a numeric string')
    .transform(Number),
]);

const lenientText = z.union([z.string(), z.number().transform(String)]);

/** Status words in any case, with `_`/`-`/several spaces read as one space ("not_verified"). */
export function normaliseStatusWord(value: string): string {
  return value
    .trim()
    .toUpperCase()
    .replace(/[\s_-]+/g, ' ');
}

/**
 * What the client accepts from the vendor: the documented fields, each optional and tolerant of case and
 * numeric strings, unknown fields kept. Only `responseCode` must be present to interpret an answer at all;
 * a status or score that is there but unreadable refuses the answer, because decisions rest on them.
 */
export const lenientLivenessResponseSchema = z.looseObject({
  responseCode: lenientText,
  verificationStatus: z.string().transform(normaliseStatusWord).nullish(),
  response: z
    .looseObject({
      pop_score: lenientScore.nullish(),
      live_score: lenientScore.nullish(),
    })
    .nullish(),
  // Fields nothing is decided on: an odd value reads as null instead of refusing the whole answer.
  description: lenientText.nullish().catch(null),
  verificationType: z.string().nullish().catch(null),
  transactionStatus: z.string().nullish().catch(null),
  transactionReference: lenientText.nullish().catch(null),
  transactionDate: lenientText.nullish().catch(null),
  livenessScore: lenientScore.nullish().catch(null),
  searchParameter: z.unknown().optional(),
  callBackUrl: z.unknown().optional(),
  paymentRef: z.unknown().optional(),
  faceMatch: z.unknown().optional(),
});
export type ParsedLivenessResponse = z.infer<typeof lenientLivenessResponseSchema>;

/** The wallet debit status, normalised: the two documented words in upper case, anything else verbatim. */
export type DebitStatus = 'SUCCESSFUL' | 'FAILED' | (string & {}) | null;

export function normaliseDebitStatus(value: string | null | undefined): DebitStatus {
  if (value === null || value === undefined) return null;
  const word = value.trim().toUpperCase();
  if (word === 'SUCCESSFUL' || word === 'FAILED') return word;
  return value;
}

/**
 * Whether an answer says the wallet was debited: `transactionStatus` "successful" in any case, trimmed.
 * Only this word counts; "FAILED", an unknown word or no status at all reads as not debited.
 */
export function isDebited(debitStatus: DebitStatus): boolean {
  return debitStatus === 'SUCCESSFUL';
}

/** Longest text kept of any one vendor field; a hostile or broken body cannot grow a stored result. */
export const MAX_KEPT_FIELD_CHARS = 256;

/** Bodies above this are not read to the end (and the answer is refused as malformed). */
export const MAX_VENDOR_BODY_BYTES = 256 * 1024;

const keptText = z.string().max(MAX_KEPT_FIELD_CHARS);
const keptValue = z.union([keptText, z.number(), z.boolean(), z.null()]);

/**
 * What is kept of a vendor answer (results and attempts store it as `raw` / `vendorResponse`): the
 * documented fields that decide and audit, each a string of at most MAX_KEPT_FIELD_CHARS, a number, a
 * boolean or null (anything else is dropped), plus the SHA-256 and byte size of the whole body as it
 * arrived, so the stored record proves which answer it came from without storing all of it.
 */
export const vendorAnswerRecordSchema = z.object({
  responseCode: keptValue.optional(),
  description: keptValue.optional(),
  verificationType: keptValue.optional(),
  verificationStatus: keptValue.optional(),
  transactionStatus: keptValue.optional(),
  transactionReference: keptValue.optional(),
  transactionDate: keptValue.optional(),
  livenessScore: keptValue.optional(),
  paymentRef: keptValue.optional(),
  response: z
    .object({ live_score: keptValue.optional(), pop_score: keptValue.optional() })
    .nullable()
    .optional(),
  /** Hex SHA-256 of the whole body, as received (after any content-encoding was undone). */
  bodySha256: z.string().regex(/^[0-9a-f]{64}$/),
  bodyBytes: z.number().int().nonnegative(),
});
export type VendorAnswerRecord = z.infer<typeof vendorAnswerRecordSchema>;

/** The fields of a vendor answer worth keeping; `response` is handled on its own. */
const KEPT_FIELDS = [
  'responseCode',
  'description',
  'verificationType',
  'verificationStatus',
  'transactionStatus',
  'transactionReference',
  'transactionDate',
  'livenessScore',
  'paymentRef',
] as const;

/** A text cut to MAX_KEPT_FIELD_CHARS, marked with "…" when cut. */
export function boundText(text: string): string {
  return text.length > MAX_KEPT_FIELD_CHARS ? `${text.slice(0, MAX_KEPT_FIELD_CHARS - 1)}…` : text;
}

function keep(value: unknown): z.infer<typeof keptValue> | undefined {
  if (typeof value === 'string') return boundText(value);
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'boolean' || value === null) return value;
  return undefined;
}

/**
 * The bounded record of one answer. `body` is the parsed JSON (anything, or undefined when the body was
 * not JSON), already scrubbed of request data a vendor may echo back (see redact.ts).
 */
export function boundVendorAnswer(
  body: unknown,
  digest: { bodySha256: string; bodyBytes: number },
): VendorAnswerRecord {
  const record: VendorAnswerRecord = { ...digest };
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return record;
  const fields = body as Record<string, unknown>;
  for (const field of KEPT_FIELDS) {
    const value = keep(fields[field]);
    if (value !== undefined) record[field] = value;
  }
  const scores = fields.response;
  if (scores === null) record.response = null;
  else if (typeof scores === 'object' && !Array.isArray(scores)) {
    const { live_score, pop_score } = scores as Record<string, unknown>;
    const live = keep(live_score);
    const pop = keep(pop_score);
    record.response = {
      ...(live === undefined ? {} : { live_score: live }),
      ...(pop === undefined ? {} : { pop_score: pop }),
    };
  }
  return record;
}
