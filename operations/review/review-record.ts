import { z } from 'zod';

/** What a reviewer can say about a selfie the pipeline did not verify on its own. */
export const REVIEW_VERDICTS = ['APPROVED', 'DECLINED'] as const;
export type ReviewVerdict = (typeof REVIEW_VERDICTS)[number];

/** The longest note a reviewer may write; notes go into the table, the event and the webhook. */
export const MAX_REVIEW_NOTE = 1000;

/**
 * The `review` attribute of a result item, written once by `liveness-batch review` beside the
 * pipeline's own decision (which it never changes). Also the labels of `calibrate --from-reviews`:
 * APPROVED means a live person (bona fide), DECLINED an attack.
 */
export const reviewRecordSchema = z.object({
  verdict: z.enum(REVIEW_VERDICTS),
  note: z.string().max(MAX_REVIEW_NOTE).optional(),
  /** Who decided: `--reviewer`, the OS user, or on a stack the caller's IAM ARN. */
  reviewer: z.string().min(1),
  at: z.string(),
});
export type ReviewRecord = z.infer<typeof reviewRecordSchema>;

/** The review of a result item, if it has a well-formed one. */
export function reviewOf(item: Record<string, unknown>): ReviewRecord | undefined {
  const parsed = reviewRecordSchema.safeParse(item.review);
  return parsed.success ? parsed.data : undefined;
}
