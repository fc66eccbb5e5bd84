import { createHash } from 'node:crypto';
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { z } from 'zod';
import { DECISIONS } from '../decision.ts';
import { pipelineSettings } from '../settings.ts';
import {
  buildEnvelope,
  type EnvelopeContext,
  type EventEnvelope,
  envelopeSchemaOf,
  putEventsEntry,
} from './envelope.ts';

const isoTime = z.iso.datetime({ offset: true });

/**
 * The detail of every "Selfie Verification Outcome" event, on AWS and locally. Unknown keys are
 * stripped when parsing, so a caller that passes a whole result record can never leak image data
 * or anything else the schema does not name.
 *
 * Version 1 is every event of a selfie uploaded without IDs, exactly as before. Version 2 is the
 * event of a selfie whose upload carried `subject-id` or `correlation-id` metadata: version 1's
 * fields, unchanged, plus `subjectId` and `correlationId`. So a consumer written for version 1 keeps
 * receiving version 1 for every upload it knew; only callers who start sending IDs get version 2.
 */
export const outcomeEventDetailV1Schema = z.object({
  schemaVersion: z.literal(1),
  /**
   * The outcome's identity, the same on every publish of one decision (the stream's, a retried one,
   * `republish`): consumers deduplicate by it. EventBridge gives each PutEvents a new envelope `id`,
   * so that id cannot serve. See `outcomeEventId`. Added in place: consumers ignore unknown fields.
   */
  eventId: z.string().regex(/^[0-9a-f]{64}$/),
  selfieId: z.string().min(1),
  bucket: z.string().min(1),
  key: z.string().min(1),
  batchId: z.string(),
  decision: z.enum(DECISIONS),
  reason: z.string().nullable(),
  liveScore: z.number().nullable(),
  popScore: z.number().nullable(),
  /** The vendor's verificationStatus, verbatim. */
  vendorStatus: z.string().nullable(),
  transactionReference: z.string().nullable(),
  debitStatus: z.string().nullable(),
  /** The selfie whose outcome was reused because the image bytes were identical. */
  duplicateOf: z.string().nullable(),
  attempts: z.number().int().nonnegative(),
  /** Calls whose answer said the wallet was debited. Added in place: consumers ignore unknown fields. */
  paidCalls: z.number().int().nonnegative(),
  /** Calls sent without a readable answer: they may have cost money until reconcile settles them. */
  uncertainCalls: z.number().int().nonnegative(),
  receivedAt: isoTime,
  decidedAt: isoTime,
});

export const outcomeEventDetailV2Schema = outcomeEventDetailV1Schema.extend({
  schemaVersion: z.literal(2),
  /** The applicant in the caller's system (S3 metadata `subject-id`). */
  subjectId: z.string().nullable(),
  /** The caller's reference for this check (S3 metadata `correlation-id`). */
  correlationId: z.string().nullable(),
});

export const outcomeEventDetailSchema = z.discriminatedUnion('schemaVersion', [
  outcomeEventDetailV1Schema,
  outcomeEventDetailV2Schema,
]);

export type OutcomeEventDetail = z.infer<typeof outcomeEventDetailSchema>;
export type OutcomeEventDetailV1 = z.infer<typeof outcomeEventDetailV1Schema>;

/**
 * `eventId` of an outcome: hex SHA-256 of `<selfieId>\n<decidedAt>`. One decision of one selfie has
 * one decidedAt (a redriven selfie decided again gets a new one, so a new outcome and a new id).
 */
export function outcomeEventId(selfieId: string, decidedAt: string): string {
  return createHash('sha256').update(`${selfieId}\n${decidedAt}`, 'utf8').digest('hex');
}
export type OutcomeEventEnvelope = EventEnvelope<OutcomeEventDetail>;

/** The envelope as a consumer (review queue, ops queue, archive) receives it. */
export const outcomeEventEnvelopeSchema = envelopeSchemaOf(
  pipelineSettings.events.source,
  pipelineSettings.events.detailType,
  outcomeEventDetailSchema,
);

/** The one PutEvents entry for an outcome; the publish handler sends this on both hosts. */
export function toPutEventsEntry(detail: OutcomeEventDetail, eventBusName: string): PutEventsRequestEntry {
  const { source, detailType } = pipelineSettings.events;
  return putEventsEntry({ source, detailType, schema: outcomeEventDetailSchema }, detail, eventBusName);
}

/** The full envelope EventBridge would deliver for this outcome. */
export function toEventEnvelope(detail: OutcomeEventDetail, context: EnvelopeContext): OutcomeEventEnvelope {
  return buildEnvelope(
    {
      source: pipelineSettings.events.source,
      detailType: pipelineSettings.events.detailType,
      detail: outcomeEventDetailSchema.parse(detail),
      resources: [],
    },
    context,
  );
}
