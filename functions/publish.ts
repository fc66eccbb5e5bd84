import { Tracer } from '@aws-lambda-powertools/tracer';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { createEventBridgeClient } from '../shared/aws-clients.ts';
import { onceUntilFailed } from '../shared/cold-start.ts';
import { readHandlerEnv, requireEnv } from '../shared/config.ts';
import { EventBridgePublisher } from '../shared/events/publisher.ts';
import { metricNames } from '../shared/metric-names.ts';
import {
  createLogger,
  createMetrics,
  type Logger,
  type Metrics,
  MetricUnit,
} from '../shared/observability.ts';
import { type PublishDeps, publishOutcomes } from '../shared/publish/publish-outcomes.ts';

export interface PublishRuntime extends PublishDeps {
  logger: Logger;
  metrics: Metrics;
}

/** Publishes one event per decided selfie in the stream batch; unpublished records become item failures. */
export async function processResultStream(
  event: DynamoDBStreamEvent,
  runtime: PublishRuntime,
): Promise<DynamoDBBatchResponse> {
  const { published, unpublished, unreadable, failedSequenceNumbers } = await publishOutcomes(
    event.Records,
    runtime,
  );
  runtime.metrics.addMetric(metricNames.eventsPublished, MetricUnit.Count, published);
  const failures = unpublished.length + unreadable.length;
  if (failures > 0) {
    runtime.metrics.addMetric(metricNames.publishFailures, MetricUnit.Count, failures);
    runtime.logger.error('Some outcome events could not be published', {
      unpublished: unpublished.map(({ errorCode, errorMessage }) => ({ errorCode, errorMessage })),
      unreadable,
    });
  }
  runtime.metrics.publishStoredMetrics();
  return { batchItemFailures: failedSequenceNumbers.map((itemIdentifier) => ({ itemIdentifier })) };
}

const tracer = new Tracer({ serviceName: 'publish' });
/** Built on the first invocation and shared by later ones (a failed build is tried again). */
const publishRuntime = onceUntilFailed(async (): Promise<PublishRuntime> => {
  const env = readHandlerEnv();
  return {
    publisher: new EventBridgePublisher(tracer.captureAWSv3Client(createEventBridgeClient())),
    eventBusName: requireEnv(env, 'EVENT_BUS_NAME'),
    logger: createLogger('publish'),
    metrics: createMetrics('publish'),
  };
});

export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> =>
  processResultStream(event, await publishRuntime());
