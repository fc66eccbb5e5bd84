import type { StackProps } from 'aws-cdk-lib';
import { z } from 'zod';
import { pipelineSettings } from '../../shared/settings.ts';
import {
  number,
  type StackTunableName,
  stackTunableNames,
  tunablesSchema,
  wholeFrom,
} from '../../shared/tunables.ts';

/** CloudWatch Logs accepts only these retention values; the audit trail needs a year or more. */
const LOG_RETENTION_DAYS = [365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const httpsUrl = z.string().refine((v) => URL.canParse(v) && new URL(v).protocol === 'https:', {
  error: 'must be an https:// URL',
});

const s = pipelineSettings;

/**
 * Everything an operator may tune on the stack, with its default and limits: the worker's tunables
 * (shared/tunables.ts, which also reach its Lambda environment) plus what only shapes the
 * infrastructure. CDK context keys are these names (`cdk deploy -c workerMaxConcurrency=8`), the
 * webhook's flattened (`webhookUrl`, `webhookApiKeySecretArn`, ...).
 */
const stackSettingsShape = {
  ...tunablesSchema.pick(
    Object.fromEntries(stackTunableNames.map((name) => [name, true])) as {
      [K in StackTunableName]: true;
    },
  ).shape,
  /** Days a selfie (biometric data) is kept under the upload prefix before S3 expires it. */
  selfieRetentionDays: wholeFrom(1).default(s.selfieRetentionDays),
  /** Days a noncurrent (overwritten or expired) object version is kept. */
  noncurrentVersionRetentionDays: wholeFrom(1).default(1),
  /** Days S3 server access logs are kept in the log bucket. */
  accessLogRetentionDays: wholeFrom(1).default(365),
  /** Days the event archive keeps outcome events for replay; 0 keeps them indefinitely. */
  eventArchiveRetentionDays: wholeFrom(0).default(90),
  /**
   * Days Lambda logs are kept: a CloudWatch Logs retention value of at least 365. The worker's logs
   * are part of the audit trail (Control Tower CT.CLOUDWATCH.PR.2).
   */
  logRetentionDays: number
    .refine((v) => LOG_RETENTION_DAYS.includes(v), {
      error: `must be one of ${LOG_RETENTION_DAYS.join(', ')}`,
    })
    .default(365),
  /**
   * Worker Lambda timeout in seconds. It must leave one vendor call plus the 10 s recording margin,
   * and fit in the lease.
   */
  workerTimeoutSeconds: wholeFrom(10, 900).default(s.worker.timeoutSeconds),
  /**
   * Work-queue visibility timeout in seconds (SQS caps it at 12 hours); at least 6 x the worker
   * timeout (AWS's advice for SQS event sources). Default: 6 x workerTimeoutSeconds.
   */
  workQueueVisibilityTimeoutSeconds: wholeFrom(1, 43200).optional(),
  /** Worker Lambda memory in MB (sharp decodes images in memory). */
  workerMemoryMb: wholeFrom(512, 10240).default(s.worker.memoryMb),
  /** SQS messages per worker invocation (1-10, or up to 10000 with a batching window). */
  workerBatchSize: wholeFrom(1, 10000).default(s.worker.batchSize),
  /** Seconds the event source waits to fill a batch (0-300). */
  workerBatchingWindowSeconds: wholeFrom(0, 300).default(s.worker.maxBatchingWindowSeconds),
  /** Concurrent worker invocations (2-1000): set it from the vendor's rate limit. */
  workerMaxConcurrency: wholeFrom(2, 1000).default(s.worker.maxConcurrency),
  /** Alarm when the oldest message on the work queue is older than this (a large backlog takes a while). */
  oldestMessageAgeAlarmSeconds: wholeFrom(60).default(3600),
  /**
   * Alarm when an outcome has waited on the review queue longer than this; below the queue's
   * retention, since an alarm that fires only after messages expire is no alarm.
   */
  reviewQueueAgeAlarmSeconds: wholeFrom(60, s.deadLetterQueue.retentionDays * 86400 - 1).default(86400),
  /** Email address subscribed to the alarm topic (confirm the subscription mail). Default: none. */
  alarmEmail: z
    .string()
    .regex(/^[^@\s]+@[^@\s]+$/, { error: 'is not an email address' })
    .optional(),
  /** Deliver every outcome event to an HTTPS webhook (EventBridge API destination). Default: none. */
  webhook: z
    .object({
      /** HTTPS endpoint that receives each outcome event as a POST. */
      endpointUrl: httpsUrl,
      /** Secret (ARN) whose value is the API key; default: the stack creates one with a generated key. */
      apiKeySecretArn: z.string().optional(),
      /** JSON field of the secret holding the key; default: the whole secret string is the key. */
      apiKeySecretField: z.string().optional(),
      /** Header the key is sent in. */
      apiKeyHeaderName: z
        .string()
        .regex(/^[A-Za-z0-9-]+$/, { error: 'is not a header name' })
        .default('x-api-key'),
      /** Invocations per second EventBridge may send to the endpoint. */
      rateLimitPerSecond: wholeFrom(1, 300).default(10),
    })
    .optional(),
};

/** The stack's settings: every prop, its default and its limits, then the rules that tie props together. */
export const stackSettingsSchema = z
  .object(stackSettingsShape)
  .transform((p) => ({
    ...p,
    uploadPrefix: s.uploadPrefix as string,
    // The current lease: 30 s past the delivery's recording deadline (shared/verification/verify-selfie.ts).
    leaseSeconds: p.leaseSeconds ?? p.workerTimeoutSeconds + DEFAULT_LEASE_BEYOND_TIMEOUT_SECONDS,
    // AWS recommends six times the function timeout so a throttled batch is not redelivered early.
    workQueueVisibilityTimeoutSeconds: p.workQueueVisibilityTimeoutSeconds ?? 6 * p.workerTimeoutSeconds,
  }))
  .check((ctx) => {
    for (const message of crossFieldProblems(ctx.value)) {
      ctx.issues.push({ code: 'custom', message, input: ctx.value, path: [] });
    }
  });

/** Everything an operator may tune. Every field is optional; defaults and limits are in `stackSettingsSchema`. */
export interface LivenessBatchStackProps extends StackProps, z.input<typeof stackSettingsSchema> {}

/** Props with every default applied: what the constructs read. */
export type ResolvedSettings = z.output<typeof stackSettingsSchema>;

/** The webhook with its defaults applied. */
export type WebhookProps = NonNullable<z.input<typeof stackSettingsSchema>['webhook']>;

/**
 * Time the worker keeps back from its Lambda timeout to record the outcome after the last vendor
 * call (RECORDING_MARGIN_MS in functions/worker.ts; keep the two equal).
 */
export const RECORDING_MARGIN_MS = 10_000;

const DEFAULT_LEASE_BEYOND_TIMEOUT_SECONDS = 30 - RECORDING_MARGIN_MS / 1000;

/** Applies defaults and rejects values AWS would reject at deploy time, so mistakes fail at synth. */
export function resolveSettings(props: LivenessBatchStackProps = {}): ResolvedSettings {
  const settingsOnly = Object.fromEntries(
    Object.keys(stackSettingsShape).map((key) => [key, props[key as keyof typeof stackSettingsShape]]),
  );
  const parsed = stackSettingsSchema.safeParse(settingsOnly, { reportInput: true });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.path.length === 0 ? i.message : `${i.path.join('.')} ${i.message}, got ${JSON.stringify(i.input)}`,
    );
    throw new Error(`Invalid LivenessBatchStack props:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}

/** The worker's tunables as its Lambda environment (shared/tunables.ts names); unset ones stay unset. */
export function workerTunables(
  settings: ResolvedSettings,
): Partial<Record<StackTunableName, number | string>> {
  return Object.fromEntries(stackTunableNames.map((name) => [name, settings[name]])) as Partial<
    Record<StackTunableName, number | string>
  >;
}

/**
 * What single props cannot say: the timeouts must nest, or the pipeline accepts settings under which
 * no call ever fits (one vendor call + recording margin <= worker timeout <= lease, visibility >= 6 x
 * worker timeout); a batch over 10 needs a batching window; the vendor is called over https.
 */
function crossFieldProblems(r: ResolvedSettings): string[] {
  const problems: string[] = [];
  if (!URL.canParse(r.vendorUrl) || new URL(r.vendorUrl).protocol !== 'https:') {
    problems.push(`vendorUrl must be an https:// URL, got ${r.vendorUrl}`);
  }
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
  if (r.workerBatchingWindowSeconds === 0 && r.workerBatchSize > 10) {
    problems.push(
      `workerBatchSize must be from 1 to 10 without a batching window, got ${r.workerBatchSize}: ` +
        'set workerBatchingWindowSeconds to allow up to 10000',
    );
  }
  return problems;
}
