import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { z } from 'zod';
/**
 * The event EventBridge delivers to targets. Built here once so the local bus delivers exactly
 * what AWS delivers, with the same keys in the same order.
 */
export interface EventEnvelope<TDetail = Record<string, unknown>> {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  /** ISO 8601, to the second, like AWS: `2024-05-01T12:00:00Z`. */
  time: string;
  region: string;
  resources: string[];
  detail: TDetail;
}

export interface EnvelopeContext {
  id: string;
  /** A Date, or an ISO string; either is written to the second. */
  time: Date | string;
  account: string;
  region: string;
}

export function buildEnvelope<TDetail>(
  event: { source: string; detailType: string; detail: TDetail; resources?: readonly string[] },
  context: EnvelopeContext,
): EventEnvelope<TDetail> {
  return {
    version: '0',
    id: context.id,
    'detail-type': event.detailType,
    source: event.source,
    account: context.account,
    time: toEventTime(context.time),
    region: context.region,
    resources: [...(event.resources ?? [])],
    detail: event.detail,
  };
}

/** EventBridge writes event times without fractional seconds. */
export function toEventTime(time: Date | string): string {
  const date = typeof time === 'string' ? new Date(time) : time;
  if (Number.isNaN(date.getTime())) throw new Error(`Not a valid event time: ${String(time)}`);
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The EventBridge envelope around one detail schema, as a target (queue, archive, webhook) receives it. */
export function envelopeSchemaOf<Detail extends z.ZodType>(
  source: string,
  detailType: string,
  detail: Detail,
) {
  return z.object({
    version: z.literal('0'),
    id: z.string().min(1),
    'detail-type': z.literal(detailType),
    source: z.literal(source),
    account: z.string(),
    time: z.iso.datetime({ offset: true }),
    region: z.string(),
    resources: z.array(z.string()),
    detail,
  });
}

/**
 * The one PutEvents entry shape for this pipeline's events: the detail is parsed by its schema on the
 * way out, so nothing malformed is ever published, whatever the detail-type.
 */
export function putEventsEntry<Detail extends z.ZodType>(
  event: { source: string; detailType: string; schema: Detail },
  detail: z.input<Detail>,
  eventBusName: string,
): PutEventsRequestEntry {
  return {
    Source: event.source,
    DetailType: event.detailType,
    Detail: JSON.stringify(event.schema.parse(detail)),
    EventBusName: eventBusName,
    Resources: [],
  };
}
