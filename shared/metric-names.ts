/** CloudWatch namespace and metric names, shared by the handlers and the stack's alarms and dashboard. */
export const METRIC_NAMESPACE = 'LivenessBatch';

export const metricNames = {
  selfiesEnqueued: 'SelfiesEnqueued',
  /** Emitted with a `decision` dimension. */
  decisions: 'Decisions',
  vendorLatency: 'VendorLatencyMs',
  vendorRetries: 'VendorRetries',
  paidCalls: 'VendorPaidCalls',
  vendorUnauthorized: 'VendorUnauthorized',
  /** Emitted with a `reason` dimension. */
  preflightRejections: 'PreflightRejections',
  duplicatesReused: 'DuplicatesReused',
  eventsPublished: 'EventsPublished',
  publishFailures: 'PublishFailures',
} as const;
