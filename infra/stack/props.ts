import type { StackProps } from 'aws-cdk-lib';
import { pipelineSettings } from '../../shared/settings.ts';

/** Optional webhook delivery of every outcome event (EventBridge API destination). */
export interface WebhookProps {
  /** HTTPS endpoint that receives each outcome event as a POST. */
  readonly endpointUrl: string;
  /**
   * Secrets Manager secret (ARN) whose value is the API key sent in `apiKeyHeaderName`.
   * @default - the stack creates a secret with a generated key; the operator shares or replaces it
   */
  readonly apiKeySecretArn?: string;
  /**
   * JSON field of the secret holding the key, when the secret is a JSON object.
   * @default - the whole secret string is the key
   */
  readonly apiKeySecretField?: string;
  /**
   * Header the key is sent in.
   * @default 'x-api-key'
   */
  readonly apiKeyHeaderName?: string;
  /**
   * Invocations per second EventBridge may send to the endpoint.
   * @default 10
   */
  readonly rateLimitPerSecond?: number;
}

/** Image limits the worker enforces before paying for a call; unset values use the handler's defaults. */
export interface PreflightLimits {
  /** Largest accepted object in bytes. @default - the handler's default */
  readonly maxBytes?: number;
  /** Largest accepted width × height. @default - the handler's default */
  readonly maxPixels?: number;
  /** Smallest accepted shorter side in pixels. @default - the handler's default */
  readonly minSide?: number;
  /** Longest side sent to the vendor after resizing. @default - the handler's default */
  readonly maxLongSide?: number;
}

/** Everything an operator may tune. Every field is optional; defaults come from `shared/settings.ts`. */
export interface LivenessBatchStackProps extends StackProps {
  /**
   * Full vendor endpoint URL (LIVENESS-API.md).
   * @default pipelineSettings.vendor.defaultUrl
   */
  readonly vendorUrl?: string;
  /**
   * A vendor VERIFIED whose live_score (0–100) is below this becomes REVIEW.
   * @default - no threshold: the decision follows the vendor
   */
  readonly minLiveScore?: number;
  /**
   * A vendor VERIFIED whose pop_score (0–100) is above this becomes REVIEW.
   * @default - no threshold: the decision follows the vendor
   */
  readonly maxPopScore?: number;
  /**
   * Days a selfie (biometric data) is kept under the upload prefix before S3 expires it.
   * @default pipelineSettings.selfieRetentionDays (30)
   */
  readonly selfieRetentionDays?: number;
  /**
   * Days a noncurrent (overwritten or expired) object version is kept.
   * @default 1
   */
  readonly noncurrentVersionRetentionDays?: number;
  /**
   * Days S3 server access logs are kept in the log bucket.
   * @default 365
   */
  readonly accessLogRetentionDays?: number;
  /**
   * Days the event archive keeps outcome events for replay; 0 keeps them indefinitely.
   * @default 90
   */
  readonly eventArchiveRetentionDays?: number;
  /**
   * Days Lambda logs are kept: a CloudWatch Logs retention value of at least 365 (365, 400, 545,
   * 731, …). The worker's logs are part of the audit trail (Control Tower CT.CLOUDWATCH.PR.2).
   * @default 365
   */
  readonly logRetentionDays?: number;
  /**
   * Worker Lambda timeout in seconds; the work queue's visibility timeout follows it (× 6). It must
   * leave one vendor call plus the 10 s recording margin, and fit in the lease.
   * @default pipelineSettings.worker.timeoutSeconds (120)
   */
  readonly workerTimeoutSeconds?: number;
  /**
   * Seconds a delivery holds its processing lease on a selfie; no other delivery calls the vendor
   * for it meanwhile. At least the worker timeout, so a lease cannot run out under a live call.
   * @default workerTimeoutSeconds + 20 (the invocation, then 30 s past its recording deadline)
   */
  readonly leaseSeconds?: number;
  /**
   * Work-queue visibility timeout in seconds; at least 6 × the worker timeout (AWS's advice for SQS
   * event sources, so a throttled batch is not redelivered while it still runs).
   * @default 6 × workerTimeoutSeconds
   */
  readonly workQueueVisibilityTimeoutSeconds?: number;
  /**
   * Worker Lambda memory in MB (sharp decodes images in memory).
   * @default pipelineSettings.worker.memoryMb (1024)
   */
  readonly workerMemoryMb?: number;
  /**
   * SQS messages per worker invocation (1–10, or up to 10000 with a batching window).
   * @default pipelineSettings.worker.batchSize (10)
   */
  readonly workerBatchSize?: number;
  /**
   * Seconds the event source waits to fill a batch (0–300).
   * @default pipelineSettings.worker.maxBatchingWindowSeconds (1)
   */
  readonly workerBatchingWindowSeconds?: number;
  /**
   * Concurrent worker invocations (2–1000): set it from the vendor's rate limit.
   * @default pipelineSettings.worker.maxConcurrency (5)
   */
  readonly workerMaxConcurrency?: number;
  /**
   * Records of one batch processed at once inside an invocation.
   * @default pipelineSettings.worker.recordConcurrency (10)
   */
  readonly recordConcurrency?: number;
  /**
   * Deliveries of one message before it moves to the DLQ.
   * @default pipelineSettings.workQueue.maxReceiveCount (5)
   */
  readonly maxReceiveCount?: number;
  /**
   * Vendor calls per selfie within one invocation (retries included).
   * @default pipelineSettings.vendor.maxAttemptsPerInvocation (4)
   */
  readonly vendorMaxAttempts?: number;
  /**
   * Timeout of one vendor call in milliseconds.
   * @default pipelineSettings.vendor.timeoutMs (15000)
   */
  readonly vendorTimeoutMs?: number;
  /**
   * Hours in which identical image bytes reuse the earlier outcome instead of paying again.
   * @default pipelineSettings.duplicateReuseWindowHours (720)
   */
  readonly duplicateReuseWindowHours?: number;
  /**
   * Paid plus uncertain vendor calls allowed per day; beyond it selfies wait as HELD (not FAILED)
   * until the cap is raised or the day turns.
   * @default - no cap
   */
  readonly maxPaidCallsPerDay?: number;
  /**
   * Uncertain calls (sent, no readable answer: maybe charged) per selfie before it is no longer
   * called automatically and ends REVIEW with reason UNCERTAIN_CHARGE.
   * @default 2
   */
  readonly maxUncertainCalls?: number;
  /** Image preflight limits. @default - the handler's defaults */
  readonly preflight?: PreflightLimits;
  /**
   * Alarm when the oldest message on the work queue is older than this many seconds.
   * @default 3600 (a large backlog at a low worker concurrency legitimately takes a while)
   */
  readonly oldestMessageAgeAlarmSeconds?: number;
  /**
   * Alarm when an outcome has waited on the review queue longer than this many seconds.
   * @default 86400 (a day without anyone reviewing)
   */
  readonly reviewQueueAgeAlarmSeconds?: number;
  /**
   * Email address subscribed to the alarm topic (confirm the subscription mail).
   * @default - no subscription; subscribe to the topic yourself
   */
  readonly alarmEmail?: string;
  /** Deliver every outcome event to an HTTPS webhook. @default - no webhook */
  readonly webhook?: WebhookProps;
}

/** Props with every default applied: what the constructs read. */
export interface ResolvedSettings {
  readonly uploadPrefix: string;
  readonly vendorUrl: string;
  readonly minLiveScore: number | undefined;
  readonly maxPopScore: number | undefined;
  readonly selfieRetentionDays: number;
  readonly noncurrentVersionRetentionDays: number;
  readonly accessLogRetentionDays: number;
  readonly eventArchiveRetentionDays: number;
  readonly logRetentionDays: number;
  readonly workerTimeoutSeconds: number;
  readonly leaseSeconds: number;
  readonly workerMemoryMb: number;
  readonly workQueueVisibilityTimeoutSeconds: number;
  readonly workerBatchSize: number;
  readonly workerBatchingWindowSeconds: number;
  readonly workerMaxConcurrency: number;
  readonly recordConcurrency: number;
  readonly maxReceiveCount: number;
  readonly vendorMaxAttempts: number;
  readonly vendorTimeoutMs: number;
  readonly duplicateReuseWindowHours: number;
  readonly maxPaidCallsPerDay: number | undefined;
  readonly maxUncertainCalls: number;
  readonly preflight: PreflightLimits;
  readonly oldestMessageAgeAlarmSeconds: number;
  readonly reviewQueueAgeAlarmSeconds: number;
  readonly alarmEmail: string | undefined;
  readonly webhook:
    | (Required<Pick<WebhookProps, 'endpointUrl' | 'apiKeyHeaderName' | 'rateLimitPerSecond'>> &
        Pick<WebhookProps, 'apiKeySecretArn' | 'apiKeySecretField'>)
    | undefined;
}

/** CloudWatch Logs accepts only these retention values; the audit trail needs a year or more. */
const LOG_RETENTION_DAYS = [365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/**
 * Time the worker keeps back from its Lambda timeout to record the outcome after the last vendor
 * call (RECORDING_MARGIN_MS in functions/worker.ts; keep the two equal).
 */
export const RECORDING_MARGIN_MS = 10_000;

/** The current lease: 30 s past the delivery's recording deadline (shared/verification/verify-selfie.ts). */
const DEFAULT_LEASE_BEYOND_TIMEOUT_SECONDS = 30 - RECORDING_MARGIN_MS / 1000;

/** Applies defaults and rejects values AWS would reject at deploy time, so mistakes fail at synth. */
export function resolveSettings(props: LivenessBatchStackProps = {}): ResolvedSettings {
  const s = pipelineSettings;
  const workerTimeoutSeconds = props.workerTimeoutSeconds ?? s.worker.timeoutSeconds;
  const resolved: ResolvedSettings = {
    uploadPrefix: s.uploadPrefix,
    vendorUrl: props.vendorUrl ?? s.vendor.defaultUrl,
    minLiveScore: props.minLiveScore,
    maxPopScore: props.maxPopScore,
    selfieRetentionDays: props.selfieRetentionDays ?? s.selfieRetentionDays,
    noncurrentVersionRetentionDays: props.noncurrentVersionRetentionDays ?? 1,
    accessLogRetentionDays: props.accessLogRetentionDays ?? 365,
    eventArchiveRetentionDays: props.eventArchiveRetentionDays ?? 90,
    logRetentionDays: props.logRetentionDays ?? 365,
    workerTimeoutSeconds,
    leaseSeconds: props.leaseSeconds ?? workerTimeoutSeconds + DEFAULT_LEASE_BEYOND_TIMEOUT_SECONDS,
    workerMemoryMb: props.workerMemoryMb ?? s.worker.memoryMb,
    // AWS recommends six times the function timeout so a throttled batch is not redelivered early.
    workQueueVisibilityTimeoutSeconds:
      props.workQueueVisibilityTimeoutSeconds ??
      (props.workerTimeoutSeconds === undefined
        ? s.workQueue.visibilityTimeoutSeconds
        : 6 * workerTimeoutSeconds),
    workerBatchSize: props.workerBatchSize ?? s.worker.batchSize,
    workerBatchingWindowSeconds: props.workerBatchingWindowSeconds ?? s.worker.maxBatchingWindowSeconds,
    workerMaxConcurrency: props.workerMaxConcurrency ?? s.worker.maxConcurrency,
    recordConcurrency: props.recordConcurrency ?? s.worker.recordConcurrency,
    maxReceiveCount: props.maxReceiveCount ?? s.workQueue.maxReceiveCount,
    vendorMaxAttempts: props.vendorMaxAttempts ?? s.vendor.maxAttemptsPerInvocation,
    vendorTimeoutMs: props.vendorTimeoutMs ?? s.vendor.timeoutMs,
    duplicateReuseWindowHours: props.duplicateReuseWindowHours ?? s.duplicateReuseWindowHours,
    maxPaidCallsPerDay: props.maxPaidCallsPerDay,
    maxUncertainCalls: props.maxUncertainCalls ?? 2,
    preflight: props.preflight ?? {},
    oldestMessageAgeAlarmSeconds: props.oldestMessageAgeAlarmSeconds ?? 3600,
    reviewQueueAgeAlarmSeconds: props.reviewQueueAgeAlarmSeconds ?? 86400,
    alarmEmail: props.alarmEmail,
    webhook: props.webhook && {
      endpointUrl: props.webhook.endpointUrl,
      apiKeyHeaderName: props.webhook.apiKeyHeaderName ?? 'x-api-key',
      rateLimitPerSecond: props.webhook.rateLimitPerSecond ?? 10,
      apiKeySecretArn: props.webhook.apiKeySecretArn,
      apiKeySecretField: props.webhook.apiKeySecretField,
    },
  };
  validate(resolved);
  return resolved;
}

/**
 * The timeouts must nest, or the pipeline accepts settings under which no call ever fits:
 * one vendor call + recording margin <= worker timeout <= lease, and visibility >= 6 x worker timeout.
 */
function timeouts(r: ResolvedSettings, problems: string[]): void {
  const workerMs = r.workerTimeoutSeconds * 1000;
  if (r.vendorTimeoutMs + RECORDING_MARGIN_MS > workerMs) {
    problems.push(
      `vendorTimeoutMs (${r.vendorTimeoutMs}) plus the worker's ${RECORDING_MARGIN_MS} ms recording margin ` +
        `must fit in workerTimeoutSeconds (${r.workerTimeoutSeconds} s): raise workerTimeoutSeconds to at least ` +
        `${Math.ceil((r.vendorTimeoutMs + RECORDING_MARGIN_MS) / 1000)} or lower vendorTimeoutMs`,
    );
  }
  if (r.workerTimeoutSeconds > r.leaseSeconds) {
    problems.push(
      `workerTimeoutSeconds (${r.workerTimeoutSeconds}) must not exceed leaseSeconds (${r.leaseSeconds}): ` +
        'a lease that runs out under a live invocation lets a second delivery pay for the same selfie',
    );
  }
  if (r.workQueueVisibilityTimeoutSeconds < 6 * r.workerTimeoutSeconds) {
    problems.push(
      `workQueueVisibilityTimeoutSeconds (${r.workQueueVisibilityTimeoutSeconds}) must be at least 6 x ` +
        `workerTimeoutSeconds (${r.workerTimeoutSeconds}), i.e. ${6 * r.workerTimeoutSeconds}`,
    );
  }
}

function validate(r: ResolvedSettings): void {
  const s = pipelineSettings;
  const problems: string[] = [];
  const int = (name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got ${value}`);
    }
  };
  const score = (name: string, value: number | undefined) => {
    // The vendor's live_score and pop_score are 0–100 (LIVENESS-API.md).
    if (value !== undefined && !(Number.isFinite(value) && value >= 0 && value <= 100)) {
      problems.push(`${name} must be a number from 0 to 100, got ${value}`);
    }
  };
  const httpsUrl = (name: string, value: string) => {
    if (!URL.canParse(value) || new URL(value).protocol !== 'https:') {
      problems.push(`${name} must be an https:// URL, got ${value}`);
    }
  };

  httpsUrl('vendorUrl', r.vendorUrl);
  score('minLiveScore', r.minLiveScore);
  score('maxPopScore', r.maxPopScore);
  int('selfieRetentionDays', r.selfieRetentionDays, 1);
  int('noncurrentVersionRetentionDays', r.noncurrentVersionRetentionDays, 1);
  int('accessLogRetentionDays', r.accessLogRetentionDays, 1);
  int('eventArchiveRetentionDays', r.eventArchiveRetentionDays, 0);
  if (!LOG_RETENTION_DAYS.includes(r.logRetentionDays)) {
    problems.push(
      `logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(', ')}, got ${r.logRetentionDays}`,
    );
  }
  int('workerTimeoutSeconds', r.workerTimeoutSeconds, 10, 900);
  int('leaseSeconds', r.leaseSeconds, 1);
  int('workerMemoryMb', r.workerMemoryMb, 512, 10240);
  // SQS caps visibility at 12 hours.
  int('workQueueVisibilityTimeoutSeconds', r.workQueueVisibilityTimeoutSeconds, 1, 43200);
  timeouts(r, problems);
  int('workerBatchingWindowSeconds', r.workerBatchingWindowSeconds, 0, 300);
  int('workerBatchSize', r.workerBatchSize, 1, r.workerBatchingWindowSeconds > 0 ? 10000 : 10);
  int('workerMaxConcurrency', r.workerMaxConcurrency, 2, 1000);
  int('recordConcurrency', r.recordConcurrency, 1, 100);
  int('maxReceiveCount', r.maxReceiveCount, 1, 1000);
  int('vendorMaxAttempts', r.vendorMaxAttempts, 1, 20);
  int('vendorTimeoutMs', r.vendorTimeoutMs, 100);
  if (r.maxPaidCallsPerDay !== undefined) int('maxPaidCallsPerDay', r.maxPaidCallsPerDay, 1);
  int('maxUncertainCalls', r.maxUncertainCalls, 1);
  if (r.duplicateReuseWindowHours < 0) problems.push('duplicateReuseWindowHours must not be negative');
  for (const [name, value] of Object.entries(r.preflight)) {
    if (value !== undefined) int(`preflight.${name}`, value as number, 1);
  }
  int('oldestMessageAgeAlarmSeconds', r.oldestMessageAgeAlarmSeconds, 60);
  // Below the queue's retention: an alarm that fires only after messages expire is no alarm.
  int(
    'reviewQueueAgeAlarmSeconds',
    r.reviewQueueAgeAlarmSeconds,
    60,
    s.deadLetterQueue.retentionDays * 86400 - 1,
  );
  if (r.alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+$/.test(r.alarmEmail)) {
    problems.push(`alarmEmail is not an email address: ${r.alarmEmail}`);
  }
  if (r.webhook) {
    httpsUrl('webhook.endpointUrl', r.webhook.endpointUrl);
    int('webhook.rateLimitPerSecond', r.webhook.rateLimitPerSecond, 1, 300);
    if (!/^[A-Za-z0-9-]+$/.test(r.webhook.apiKeyHeaderName)) {
      problems.push(`webhook.apiKeyHeaderName is not a header name: ${r.webhook.apiKeyHeaderName}`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`Invalid LivenessBatchStack props:\n  ${problems.join('\n  ')}`);
  }
}
