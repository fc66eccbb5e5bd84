import { z } from 'zod';
import { envelopeSchemaOf } from '../shared/events/envelope.ts';
import { outcomeEventDetailV1Schema, outcomeEventDetailV2Schema } from '../shared/events/outcome-event.ts';
import { pipelineSettings } from '../shared/settings.ts';
import { reviewEventDetailSchema } from './review/review-event.ts';

/** An event this pipeline publishes, and the file under docs/events/ its JSON Schema is written to. */
export interface PublishedEvent {
  /** File name under docs/events/; the `.vN` is the detail's schemaVersion. */
  file: string;
  title: string;
  description: string;
  /** The envelope as a consumer receives it (EventBridge target, archive replay), detail included. */
  envelope: z.ZodType;
}

/** Every published event. Adding an event (or a schemaVersion) is one entry here, then `npm run schemas`. */
export const publishedEvents: readonly PublishedEvent[] = [
  {
    file: 'selfie-verification-outcome.v1.schema.json',
    title: `${pipelineSettings.events.detailType} (schemaVersion 1)`,
    description: `One per selfie, when it reaches a decision, for uploads without applicant IDs: source "${pipelineSettings.events.source}", detail-type "${pipelineSettings.events.detailType}". Never carries image data.`,
    envelope: envelopeSchemaOf(
      pipelineSettings.events.source,
      pipelineSettings.events.detailType,
      outcomeEventDetailV1Schema,
    ),
  },
  {
    file: 'selfie-verification-outcome.v2.schema.json',
    title: `${pipelineSettings.events.detailType} (schemaVersion 2)`,
    description:
      'Version 1 plus the applicant IDs (subjectId, correlationId) an upload carried as S3 metadata; sent only for such uploads, so consumers of version 1 see no change.',
    envelope: envelopeSchemaOf(
      pipelineSettings.events.source,
      pipelineSettings.events.detailType,
      outcomeEventDetailV2Schema,
    ),
  },
  {
    file: 'selfie-review-outcome.v1.schema.json',
    title: `${pipelineSettings.events.reviewDetailType} (schemaVersion 1)`,
    description: `A reviewer's verdict on a selfie the pipeline sent to a human: detail-type "${pipelineSettings.events.reviewDetailType}", same source and bus.`,
    envelope: envelopeSchemaOf(
      pipelineSettings.events.source,
      pipelineSettings.events.reviewDetailType,
      reviewEventDetailSchema,
    ),
  },
];

/**
 * The JSON Schema (draft 2020-12) of one published event, as the text checked into docs/events/.
 * Generated from the zod schema the publisher parses with, so the two cannot disagree. Objects
 * are open (no additionalProperties: false): a consumer must ignore fields it does not know, so
 * adding a field is not a breaking change; removing or changing one bumps schemaVersion.
 */
export function renderEventSchema(event: PublishedEvent): string {
  const schema = z.toJSONSchema(event.envelope, { target: 'draft-2020-12', io: 'input' });
  const { $schema, ...rest } = schema;
  const document = {
    $schema,
    title: event.title,
    description: event.description,
    ...rest,
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
