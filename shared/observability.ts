import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC_NAMESPACE } from './metric-names.ts';

export type { Logger, Metrics };
export { MetricUnit };

/** One logger per function. Keys are ids only: never image data, base64 or credentials. */
export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName });
}

export function createMetrics(serviceName: string): Metrics {
  return new Metrics({ namespace: METRIC_NAMESPACE, serviceName });
}

/** A count with one extra dimension (decision, reason), emitted as its own EMF record. */
export function countBy(metrics: Metrics, name: string, dimension: string, value: string, count = 1): void {
  const single = metrics.singleMetric();
  single.addDimension(dimension, value);
  single.addMetric(name, MetricUnit.Count, count);
}
