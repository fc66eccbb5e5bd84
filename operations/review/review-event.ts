import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { z } from 'zod';
import { putEventsEntry } from '../../shared/events/envelope.ts';
import type { SelfieResult } from '../../shared/results/records.ts';
import { pipelineSettings } from '../../shared/settings.ts';
import { MAX_REVIEW_NOTE, REVIEW_VERDICTS, type ReviewRecord } from './review-record.ts';
import { REVIEWABLE_DECISIONS } from './verdicts.ts';

const isoTime = z.iso.datetime({ offset: true });

/**
 * The detail of a "Selfie Review Outcome" event: a reviewer's final answer on a selfie the pipeline
 * sent to a human. Same source and bus as the outcome events; a different detail-type, so consumers
 * of "Selfie Verification Outcome" see nothing new, and the webhook and archive take both.
 */
export const reviewEventDetailSchema = z.object({
  schemaVersion: z.literal(1),
  selfieId: z.string().min(1),
  bucket: z.string().min(1),
  key: z.string().min(1),
  batchId: z.string(),
  /** The pipeline's own decision, which the review leaves as it was. */
  decision: z.enum(REVIEWABLE_DECISIONS),
  verdict: z.enum(REVIEW_VERDICTS),
  note: z.string().max(MAX_REVIEW_NOTE).nullable(),
  reviewer: z.string().min(1),
  reviewedAt: isoTime,
  decidedAt: isoTime,
  subjectId: z.string().nullable(),
  correlationId: z.string().nullable(),
});
export type ReviewEventDetail = z.infer<typeof reviewEventDetailSchema>;

export function toReviewEventDetail(result: SelfieResult, review: ReviewRecord): ReviewEventDetail {
  return reviewEventDetailSchema.parse({
    schemaVersion: 1,
    selfieId: result.selfieId,
    bucket: result.bucket,
    key: result.key,
    batchId: result.batchId,
    decision: result.decision,
    verdict: review.verdict,
    note: review.note ?? null,
    reviewer: review.reviewer,
    reviewedAt: review.at,
    decidedAt: result.decidedAt ?? result.updatedAt,
    subjectId: typeof result.subjectId === 'string' ? result.subjectId : null,
    correlationId: typeof result.correlationId === 'string' ? result.correlationId : null,
  });
}

export function toReviewPutEventsEntry(
  detail: ReviewEventDetail,
  eventBusName: string,
): PutEventsRequestEntry {
  const { source, reviewDetailType: detailType } = pipelineSettings.events;
  return putEventsEntry({ source, detailType, schema: reviewEventDetailSchema }, detail, eventBusName);
}
