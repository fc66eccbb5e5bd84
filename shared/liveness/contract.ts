import { z } from 'zod';

/** The only `verificationType` the pipeline sends (the vendor's spelling, "LIVELINESS" included). */
export const PASSIVE_LIVENESS_VERIFICATION_TYPE = 'PASSIVE-LIVELINESS-VERIFICATION';

/** `responseCode` meaning success; every other code is kept verbatim and treated as not-success. */
export const SUCCESS_RESPONSE_CODE = '00';

export const VERIFICATION_STATUSES = ['VERIFIED', 'NOT VERIFIED', 'PENDING'] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

/** The request body (LIVENESS-API.md, "Request body"). */
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
