/**
 * The pipeline's shape, defined once. The CDK stack and the local cloud both read these values,
 * so a queue or table behaves the same on AWS and on one machine.
 */
export const pipelineSettings = {
  /** Selfies are uploaded under this prefix; the first folder below it is the batch id. */
  uploadPrefix: 'uploads/',
  worker: {
    timeoutSeconds: 120,
    memoryMb: 1024,
    /** SQS messages per worker invocation. */
    batchSize: 10,
    maxBatchingWindowSeconds: 1,
    /** Concurrent worker invocations (SQS event source maximumConcurrency, 2..1000). */
    maxConcurrency: 5,
    /** Records of one batch processed at once inside an invocation. */
    recordConcurrency: 10,
  },
  enqueue: { timeoutSeconds: 60, memoryMb: 256 },
  publish: { timeoutSeconds: 60, memoryMb: 256, batchSize: 100, maxRetryAttempts: 5 },
  workQueue: {
    /** About six times the worker timeout, as AWS recommends for SQS event sources. */
    visibilityTimeoutSeconds: 6 * 120,
    maxReceiveCount: 5,
    retentionDays: 14,
  },
  deadLetterQueue: { retentionDays: 14 },
  vendor: {
    /** The vendor's current documented endpoint (docs/vendor-contract.md); always overridable. */
    defaultUrl: 'https://api.verified.africa/sfx-v4-verify/v4/id-service',
    timeoutMs: 15_000,
    maxAttemptsPerInvocation: 4,
    backoffBaseMs: 500,
    backoffMaxMs: 8_000,
    /** Calls without a readable answer (maybe charged) before a selfie goes to REVIEW instead. */
    maxUncertainCallsPerSelfie: 2,
  },
  /** Identical image bytes within this window reuse the earlier outcome instead of paying again. */
  duplicateReuseWindowHours: 24 * 30,
  selfieRetentionDays: 30,
  events: {
    source: 'liveness-batch',
    detailType: 'Selfie Verification Outcome',
    /** A reviewer's verdict on a selfie the pipeline sent to a human (`liveness-batch review`). */
    reviewDetailType: 'Selfie Review Outcome',
  },
} as const;

export type PipelineSettings = typeof pipelineSettings;
