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

/** Seconds after the sandbox starts, [fromSeconds, toSeconds): every verify call inside gets the HTML 403. */
export const forbiddenWindowSchema = z
  .object({ fromSeconds: z.number().nonnegative(), toSeconds: z.number().nonnegative() })
  .refine((w) => w.fromSeconds < w.toSeconds, 'forbiddenWindow: FROM must be less than TO');
export type ForbiddenWindow = z.infer<typeof forbiddenWindowSchema>;

/**
 * The settings a test may change while the sandbox runs (`setFaults`, `POST /__sandbox/faults`), e.g. to
 * open and close an outage. Each rate is a share of the requests that reach the fault draw.
 */
export const faultSettingsShape = {
  latencyMs: latencySchema,
  /** Share of valid requests answered 200 with verificationStatus PENDING (not charged). */
  pendingRate: rate,
  /** Share answered HTTP 500. */
  errorRate: rate,
  /** Share answered HTTP 429 with Retry-After. */
  throttleRate: rate,
  /** Share never answered (until stop()). */
  hangRate: rate,
  /** Share charged and then held for `lateAfterMs` before the answer goes out (the client has given up). */
  lateRate: rate,
  /** Share answered PENDING with transactionStatus "Successful", and charged. */
  pendingDebitRate: rate,
  /** Share answered HTTP 307 to `redirectTo`; never charged. */
  redirectRate: rate,
  /** Share answered HTTP 403 with an HTML page, like a web application firewall; never charged. */
  forbiddenRate: rate,
  /** Where a redirect points (required when redirectRate > 0). */
  redirectTo: z.url({ protocol: /^https?$/, error: 'redirectTo must be a full http(s) URL' }).optional(),
} as const;
export type FaultSettings = {
  [K in keyof typeof faultSettingsShape]?: z.input<(typeof faultSettingsShape)[K]>;
};

/** Every rate that takes a share of the one fault draw; together at most 1. */
export const FAULT_RATES = [
  'hangRate',
  'throttleRate',
  'errorRate',
  'pendingRate',
  'lateRate',
  'pendingDebitRate',
  'redirectRate',
  'forbiddenRate',
] as const;

/** Every sandbox setting with its default, validated in one place. */
export const sandboxOptionsSchema = z
  .object({
    /** 0 picks a free port. */
    port: z.number().int().min(0).max(65_535).default(0),
    userId: z.string().min(1).default(SANDBOX_DEFAULT_USER_ID),
    apiKey: z.string().min(1).default(SANDBOX_DEFAULT_API_KEY),
    /** JSON-lines charge ledger; loaded at start so charges survive restarts. */
    ledgerFile: z.string().min(1).optional(),
    latencyMs: faultSettingsShape.latencyMs.default(0),
    pendingRate: rate.default(0),
    errorRate: rate.default(0),
    throttleRate: rate.default(0),
    hangRate: rate.default(0),
    lateRate: rate.default(0),
    pendingDebitRate: rate.default(0),
    redirectRate: rate.default(0),
    forbiddenRate: rate.default(0),
    redirectTo: faultSettingsShape.redirectTo,
    /** How long a late answer is held: longer than the client's timeout (15 s by default). */
    lateAfterMs: z.number().int().nonnegative().default(20_000),
    forbiddenWindow: forbiddenWindowSchema.optional(),
    /**
     * Whether a repeated transactionReference that was charged gets the first answer again, uncharged.
     * Off by default: the vendor documents no such behaviour, so the pipeline must not rely on it.
     */
    dedupeReferences: z.boolean().default(false),
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
  .refine((o) => FAULT_RATES.reduce((sum, name) => sum + o[name], 0) <= 1 + 1e-9, {
    message: `the fault rates (${FAULT_RATES.join(' + ')}) must not exceed 1`,
  })
  .refine((o) => o.redirectRate === 0 || o.redirectTo !== undefined, {
    message: 'redirectRate needs redirectTo (--redirect-to URL): the URL the 307 points at',
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
