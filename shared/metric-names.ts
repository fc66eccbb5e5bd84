/** CloudWatch namespace and metric names, shared by the handlers and the stack's alarms and dashboard. */
export const METRIC_NAMESPACE = 'LivenessBatch';

export const metricNames = {
  selfiesEnqueued: 'SelfiesEnqueued',
  /** Emitted with a `decision` dimension. */
  decisions: 'Decisions',
  vendorLatency: 'VendorLatencyMs',
  vendorRetries: 'VendorRetries',
  paidCalls: 'VendorPaidCalls',
  /** Calls sent without a readable answer: they may have been charged (settled later by reconcile). */
  uncertainCalls: 'VendorUncertainCalls',
  /** A selfie parked as HELD because the spend cap is reached. */
  selfiesHeld: 'SelfiesHeld',
  /** The worker's vendor circuit breaker opened: calls pause, selfies wait. */
  vendorCircuitOpen: 'VendorCircuitOpen',
  vendorUnauthorized: 'VendorUnauthorized',
  /** Emitted with a `reason` dimension. */
  preflightRejections: 'PreflightRejections',
  duplicatesReused: 'DuplicatesReused',
  eventsPublished: 'EventsPublished',
  publishFailures: 'PublishFailures',
} as const;
