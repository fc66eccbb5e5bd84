import { z } from 'zod';
import { DECISIONS, IN_FLIGHT_STATES } from '../decision.ts';

const dimensions = z.object({ width: z.number(), height: z.number(), bytes: z.number() });

/** One selfie's result item, as stored. Read back through this schema so a bad item fails loudly. */
export const selfieResultSchema = z.looseObject({
  selfieId: z.string(),
  bucket: z.string(),
  key: z.string(),
  versionId: z.string().optional(),
  batchId: z.string(),
  state: z.enum([...IN_FLIGHT_STATES, ...DECISIONS]),
  receivedAt: z.string(),
  /** Set once the work queue accepted the selfie's message. */
  enqueuedAt: z.string().optional(),
  updatedAt: z.string(),
  decision: z.enum(DECISIONS).optional(),
  reason: z.string().optional(),
  decidedAt: z.string().optional(),
  sha256: z.string().optional(),
  preflight: z.object({ format: z.string(), original: dimensions, final: dimensions }).optional(),
  /** The vendor's verificationStatus, verbatim (e.g. `NOT VERIFIED`). */
  vendorStatus: z.string().optional(),
  vendorResponseCode: z.string().optional(),
  /** The vendor's whole response body, kept verbatim for audits. */
  vendorResponse: z.record(z.string(), z.unknown()).optional(),
  liveScore: z.number().nullable().optional(),
  popScore: z.number().nullable().optional(),
  debitStatus: z.string().nullable().optional(),
  transactionReference: z.string().optional(),
  duplicateOf: z.string().optional(),
  /** Vendor calls made for this selfie, over all deliveries. */
  attempts: z.number().default(0),
  /** Vendor calls whose answer said the wallet was debited (any verification status). */
  paidCalls: z.number().default(0),
  /** Vendor calls sent without a readable answer: they may have been charged (see docs/money-rules.md). */
  uncertainCalls: z.number().default(0),
  /** What of attempts/paidCalls/uncertainCalls is already added to the batch summary (so it is added once). */
  summarized: z.object({ calls: z.number(), paid: z.number(), uncertain: z.number() }).optional(),
  /** The delivery holding the processing lease, and until when (epoch ms). */
  leaseId: z.string().optional(),
  leaseUntil: z.number().optional(),
  receiveCount: z.number().default(0),
  lastError: z.string().optional(),
  /** The typed reason code of `reason`/`lastError` (e.g. PREFLIGHT_TOO_SMALL, UNCERTAIN_CHARGE). */
  reasonCode: z.string().optional(),
  lastErrorCode: z.string().optional(),
  /** The caller's IDs, from the upload's S3 user metadata (`subject-id`, `correlation-id`). */
  subjectId: z.string().optional(),
  correlationId: z.string().optional(),
});
export type SelfieResult = z.infer<typeof selfieResultSchema>;

export const ATTEMPT_OUTCOMES = [
  'open',
  'completed',
  'pending',
  'retryable',
  'uncertain',
  'permanent',
] as const;

/**
 * What one call may have cost: `paid` when the answer said the wallet was debited, `uncertain` when the
 * request was sent and no readable answer came back, `none` when the answer said nothing was debited.
 */
export const ATTEMPT_CHARGES = ['paid', 'uncertain', 'none'] as const;
export type AttemptCharge = (typeof ATTEMPT_CHARGES)[number];

/** One vendor call, written before the call (outcome `open`) and completed after it. */
export const attemptItemSchema = z.looseObject({
  selfieId: z.string(),
  attempt: z.number(),
  transactionReference: z.string(),
  /**
   * The SHA-256 of the bytes sent: a later delivery that decides from this attempt's verdict settles
   * the content claim of those bytes with it, so an identical image reuses the answer instead of paying.
   */
  sha256: z.string().optional(),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  httpStatus: z.number().optional(),
  responseCode: z.string().optional(),
  outcome: z.enum(ATTEMPT_OUTCOMES),
  detail: z.string().optional(),
  /** Set when the attempt ended; an open attempt found by a later delivery is ended as `uncertain`. */
  charge: z.enum(ATTEMPT_CHARGES).optional(),
  /** The vendor's wallet-debit status as it answered (`transactionStatus`, normalised). */
  debitStatus: z.string().nullable().optional(),
  /** How `reconcile` settled an uncertain charge against the vendor's statement. */
  settled: z.enum(['paid', 'not-paid']).optional(),
  /**
   * The vendor's verdict of a completed attempt, kept with the attempt so a delivery that crashed
   * before recording the decision can be finished from it instead of paying for a new call.
   */
  verdict: z
    .object({
      verificationStatus: z.enum(['VERIFIED', 'NOT VERIFIED']),
      liveScore: z.number().nullable(),
      popScore: z.number().nullable(),
      debitStatus: z.string().nullable(),
      responseCode: z.string(),
      transactionReference: z.string().nullable(),
      raw: z.record(z.string(), z.unknown()),
    })
    .optional(),
});
export type AttemptItem = z.infer<typeof attemptItemSchema>;

/** Per-batch counts, kept up to date atomically with every state change (never counted by scanning). */
export const batchSummarySchema = z.looseObject({
  batchId: z.string(),
  total: z.number().default(0),
  VERIFIED: z.number().default(0),
  NOT_VERIFIED: z.number().default(0),
  REVIEW: z.number().default(0),
  REJECTED: z.number().default(0),
  FAILED: z.number().default(0),
  HELD: z.number().default(0),
  paidCalls: z.number().default(0),
  uncertainCalls: z.number().default(0),
  retries: z.number().default(0),
  duplicatesReused: z.number().default(0),
  firstReceivedAt: z.string().optional(),
  lastDecidedAt: z.string().optional(),
});
export type BatchSummary = z.infer<typeof batchSummarySchema>;

export const keys = {
  selfie: (selfieId: string) => `SELFIE#${selfieId}`,
  result: 'RESULT',
  attempt: (n: number) => `ATTEMPT#${String(n).padStart(4, '0')}`,
  attemptPrefix: 'ATTEMPT#',
  history: (at: string, what: string) => `HISTORY#${at}#${what}`,
  historyPrefix: 'HISTORY#',
  batch: (batchId: string) => `BATCH#${batchId}`,
  summary: 'SUMMARY',
  content: (sha256: string) => `SHA256#${sha256}`,
  contentSk: 'CONTENT',
  /**
   * The byBatch sort key, `<state>#<id>`, except that a selfie in flight stays under RECEIVED while it
   * is PROCESSING (the lease does not move it: a key change costs a delete and a put in the index on
   * every delivery). Items leased by earlier versions are under PROCESSING; `inFlightBatchPrefixes`.
   */
  batchIndexSk: (state: string, selfieId: string) => `${state}#${selfieId}`,
  /** Where byBatch files selfies in flight (RECEIVED or PROCESSING): their `state` tells them apart. */
  inFlightBatchPrefixes: ['PROCESSING#', 'RECEIVED#'],
  decisionDay: (decision: string, isoTime: string) => `DECISION#${decision}#${isoTime.slice(0, 10)}`,
  decisionSk: (isoTime: string, selfieId: string) => `${isoTime}#${selfieId}`,
  reference: (reference: string) => `REF#${reference}`,
  budget: (scope: string) => `BUDGET#${scope}`,
  budgetSk: 'BUDGET',
  subject: (subjectId: string) => `SUBJECT#${subjectId}`,
};

/** Conditional updates write null for "not known"; the schemas treat a null like an absent attribute. */
export function withoutNulls(item: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).filter(([, value]) => value !== null));
}
