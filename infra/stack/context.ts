import type { Node } from 'constructs';
import type { LivenessBatchStackProps, PreflightLimits, WebhookProps } from './props.ts';

/**
 * Stack props from CDK context (`cdk deploy -c workerMaxConcurrency=8`, or `context` in cdk.json).
 * Keys are the prop names; preflight limits and the webhook are flattened (`preflightMaxBytes`,
 * `webhookUrl`, `webhookApiKeySecretArn`, …). Validation happens once, in `resolveSettings`.
 */
export function propsFromContext(node: Node): LivenessBatchStackProps {
  const text = (key: string): string | undefined => {
    const value = node.tryGetContext(key);
    return value === undefined || value === null || value === '' ? undefined : String(value);
  };
  const number = (key: string): number | undefined => {
    const value = text(key);
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw new Error(`Context ${key} must be a number, got "${value}"`);
    return parsed;
  };

  const preflight: PreflightLimits = {
    maxBytes: number('preflightMaxBytes'),
    maxPixels: number('preflightMaxPixels'),
    minSide: number('preflightMinSide'),
    maxLongSide: number('preflightMaxLongSide'),
  };
  const webhookUrl = text('webhookUrl');
  const webhook: WebhookProps | undefined = webhookUrl
    ? {
        endpointUrl: webhookUrl,
        apiKeySecretArn: text('webhookApiKeySecretArn'),
        apiKeySecretField: text('webhookApiKeySecretField'),
        apiKeyHeaderName: text('webhookApiKeyHeaderName'),
        rateLimitPerSecond: number('webhookRateLimitPerSecond'),
      }
    : undefined;

  const props: LivenessBatchStackProps = {
    vendorUrl: text('vendorUrl'),
    minLiveScore: number('minLiveScore'),
    maxPopScore: number('maxPopScore'),
    selfieRetentionDays: number('selfieRetentionDays'),
    noncurrentVersionRetentionDays: number('noncurrentVersionRetentionDays'),
    accessLogRetentionDays: number('accessLogRetentionDays'),
    eventArchiveRetentionDays: number('eventArchiveRetentionDays'),
    logRetentionDays: number('logRetentionDays'),
    workerTimeoutSeconds: number('workerTimeoutSeconds'),
    leaseSeconds: number('leaseSeconds'),
    workQueueVisibilityTimeoutSeconds: number('workQueueVisibilityTimeoutSeconds'),
    workerMemoryMb: number('workerMemoryMb'),
    workerBatchSize: number('workerBatchSize'),
    workerBatchingWindowSeconds: number('workerBatchingWindowSeconds'),
    workerMaxConcurrency: number('workerMaxConcurrency'),
    recordConcurrency: number('recordConcurrency'),
    maxReceiveCount: number('maxReceiveCount'),
    vendorMaxAttempts: number('vendorMaxAttempts'),
    vendorTimeoutMs: number('vendorTimeoutMs'),
    duplicateReuseWindowHours: number('duplicateReuseWindowHours'),
    maxPaidCallsPerDay: number('maxPaidCallsPerDay'),
    maxUncertainCalls: number('maxUncertainCalls'),
    preflight: withoutUndefined(preflight),
    oldestMessageAgeAlarmSeconds: number('oldestMessageAgeAlarmSeconds'),
    reviewQueueAgeAlarmSeconds: number('reviewQueueAgeAlarmSeconds'),
    alarmEmail: text('alarmEmail'),
    webhook: webhook && withoutUndefined(webhook),
  };
  return withoutUndefined(props);
}

/** Unset context keys must not override a default with `undefined`. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
