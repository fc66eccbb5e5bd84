import { z } from 'zod';

/** Test credentials; documented in `liveness-batch sandbox --help`. Not secrets. */
export const SANDBOX_DEFAULT_USER_ID = 'sandbox-user';
export const SANDBOX_DEFAULT_API_KEY = 'sandbox-key';
export const SANDBOX_DEFAULT_PORT = 4010;
export const SANDBOX_HOST = '127.0.0.1';

const rate = z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');

/** A fixed latency in ms, or a range drawn per request (deterministically, from the seed). */
export const latencySchema = z.union([
  z.number().int().nonnegative(),
  z
    .object({ min: z.number().int().nonnegative(), max: z.number().int().nonnegative() })
    .refine((r) => r.min <= r.max, 'min must not exceed max'),
]);
export type Latency = z.infer<typeof latencySchema>;

/** Every sandbox setting with its default, validated in one place. */
export const sandboxOptionsSchema = z
  .object({
    /** 0 picks a free port. */
    port: z.number().int().min(0).max(65_535).default(0),
    userId: z.string().min(1).default(SANDBOX_DEFAULT_USER_ID),
    apiKey: z.string().min(1).default(SANDBOX_DEFAULT_API_KEY),
    /** JSON-lines charge ledger; loaded at start so charges survive restarts. */
    ledgerFile: z.string().min(1).optional(),
    latencyMs: latencySchema.default(0),
    /** Share of valid requests answered 200 with verificationStatus PENDING. */
    pendingRate: rate.default(0),
    /** Share answered HTTP 500. */
    errorRate: rate.default(0),
    /** Share answered HTTP 429 with Retry-After. */
    throttleRate: rate.default(0),
    /** Share never answered (until stop()). */
    hangRate: rate.default(0),
    /** Share of images (by SHA-256) that come out VERIFIED. */
    liveRatio: rate.default(0.8),
    /** Share of images whose scores contradict their status, like the vendor's own sample. */
    scoreDisagreeRate: rate.default(0),
    seed: z.union([z.string(), z.number()]).transform(String).default('liveness-batch'),
    /** Also charge PENDING and HTTP 500 answers (the vendor's documentation is silent; assume it may). */
    chargeFailures: z.boolean().default(false),
    /** Request bodies above this are answered 400 (413 is not in the contract). */
    maxBodyBytes: z
      .number()
      .int()
      .positive()
      .default(8 * 1024 * 1024),
    retryAfterSeconds: z.number().int().nonnegative().default(1),
  })
  .refine((o) => o.pendingRate + o.errorRate + o.throttleRate + o.hangRate <= 1, {
    message: 'pendingRate + errorRate + throttleRate + hangRate must not exceed 1',
  });

/** What callers pass (everything optional). */
export type SandboxOptions = z.input<typeof sandboxOptionsSchema>;
/** After defaults. */
export type ResolvedSandboxOptions = z.output<typeof sandboxOptionsSchema>;

export function resolveSandboxOptions(options: SandboxOptions): ResolvedSandboxOptions {
  const parsed = sandboxOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`);
    throw new RangeError(`Invalid sandbox options: ${problems.join('; ')}`);
  }
  return parsed.data;
}
