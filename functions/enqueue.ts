import { Tracer } from '@aws-lambda-powertools/tracer';
import type { S3Event } from 'aws-lambda';
import { createDocumentClient, createSqsClient } from '../shared/aws-clients.ts';
import { onceUntilFailed } from '../shared/cold-start.ts';
import { readHandlerEnv, requireEnv } from '../shared/config.ts';
import { type EnqueueDeps, enqueueUploads } from '../shared/enqueue/enqueue-uploads.ts';
import { metricNames } from '../shared/metric-names.ts';
import {
  createLogger,
  createMetrics,
  type Logger,
  type Metrics,
  MetricUnit,
} from '../shared/observability.ts';
import { SelfieLifecycle } from '../shared/results/selfie-lifecycle.ts';

export interface EnqueueRuntime extends EnqueueDeps {
  logger: Logger;
  metrics: Metrics;
}

/** Turns one S3 notification into work-queue messages; throws (so S3 retries) rather than drop an upload. */
export async function processUploadEvent(event: S3Event, runtime: EnqueueRuntime) {
  const summary = await enqueueUploads(event.Records, runtime);
  runtime.metrics.addMetric(metricNames.selfiesEnqueued, MetricUnit.Count, summary.enqueued);
  runtime.metrics.publishStoredMetrics();
  runtime.logger.info('Uploads enqueued', { ...summary });
  return summary;
}

const tracer = new Tracer({ serviceName: 'enqueue' });
/** Built on the first invocation and shared by later ones (a failed build is tried again). */
const enqueueRuntime = onceUntilFailed(async (): Promise<EnqueueRuntime> => {
  const env = readHandlerEnv();
  return {
    repository: new SelfieLifecycle(
      tracer.captureAWSv3Client(createDocumentClient()),
      requireEnv(env, 'RESULTS_TABLE_NAME'),
    ),
    sqs: tracer.captureAWSv3Client(createSqsClient()),
    workQueueUrl: requireEnv(env, 'WORK_QUEUE_URL'),
    uploadPrefix: env.UPLOAD_PREFIX,
    logger: createLogger('enqueue'),
    metrics: createMetrics('enqueue'),
  };
});

export const handler = async (event: S3Event): Promise<void> => {
  await processUploadEvent(event, await enqueueRuntime());
};
