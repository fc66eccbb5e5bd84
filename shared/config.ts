import { z } from 'zod';
import { pipelineSettings } from './settings.ts';

const optionalNumber = z.coerce.number().finite().optional();

/**
 * The environment every handler reads, one schema for both hosts. The CDK stack sets these
 * variables on each function; the local cloud builds the same object in-process.
 */
export const handlerEnvSchema = z.object({
  RESULTS_TABLE_NAME: z.string().min(1).optional(),
  WORK_QUEUE_URL: z.string().min(1).optional(),
  EVENT_BUS_NAME: z.string().min(1).optional(),
  UPLOAD_PREFIX: z.string().default(pipelineSettings.uploadPrefix),
  /** Full vendor endpoint URL, as the vendor documents it. */
  VENDOR_URL: z.string().url().default(pipelineSettings.vendor.defaultUrl),
  /** Secrets Manager secret holding {"userid": "...", "apiKey": "..."} (AWS host). */
  VENDOR_SECRET_ARN: z.string().min(1).optional(),
  /** Plain credentials (local host only; never set these on AWS). */
  VENDOR_USER_ID: z.string().min(1).optional(),
  VENDOR_API_KEY: z.string().min(1).optional(),
  VENDOR_TIMEOUT_MS: z.coerce.number().int().positive().default(pipelineSettings.vendor.timeoutMs),
  VENDOR_MAX_ATTEMPTS: z.coerce
    .number()
    .int()
    .positive()
    .default(pipelineSettings.vendor.maxAttemptsPerInvocation),
  MIN_LIVE_SCORE: optionalNumber,
  MAX_POP_SCORE: optionalNumber,
  DUPLICATE_REUSE_WINDOW_HOURS: z.coerce
    .number()
    .nonnegative()
    .default(pipelineSettings.duplicateReuseWindowHours),
  MAX_RECEIVE_COUNT: z.coerce.number().int().positive().default(pipelineSettings.workQueue.maxReceiveCount),
  /** After this many calls without a readable answer, a selfie goes to REVIEW (UNCERTAIN_CHARGE). */
  MAX_UNCERTAIN_CALLS: z.coerce
    .number()
    .int()
    .positive()
    .default(pipelineSettings.vendor.maxUncertainCallsPerSelfie),
  /** Spend caps: calls that may cost money (paid + uncertain) per batch / per UTC day; no cap when unset. */
  MAX_PAID_CALLS_PER_BATCH: z.coerce.number().int().positive().optional(),
  MAX_PAID_CALLS_PER_DAY: z.coerce.number().int().positive().optional(),
  /** How long a delivery's processing lease lasts at least (the stack sets worker timeout + 20 s). */
  LEASE_SECONDS: z.coerce.number().int().positive().optional(),
  RECORD_CONCURRENCY: z.coerce.number().int().positive().default(pipelineSettings.worker.recordConcurrency),
  PREFLIGHT_MAX_BYTES: optionalNumber,
  PREFLIGHT_MAX_PIXELS: optionalNumber,
  PREFLIGHT_MIN_SIDE: optionalNumber,
  PREFLIGHT_MAX_LONG_SIDE: optionalNumber,
});

export type HandlerEnv = z.infer<typeof handlerEnvSchema>;

export function readHandlerEnv(env: NodeJS.ProcessEnv = process.env): HandlerEnv {
  const parsed = handlerEnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid function configuration: ${problems}`);
  }
  return parsed.data;
}

/** A variable this particular function cannot run without. */
export function requireEnv<K extends keyof HandlerEnv>(env: HandlerEnv, name: K): NonNullable<HandlerEnv[K]> {
  const value = env[name];
  if (value === undefined || value === null || value === '') {
    throw new Error(`Invalid function configuration: ${String(name)} is not set`);
  }
  return value as NonNullable<HandlerEnv[K]>;
}
