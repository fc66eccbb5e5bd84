import { z } from 'zod';
import { pipelineSettings } from './settings.ts';

/**
 * Every setting an operator may tune that the worker reads, defined once. From this one table come
 * the stack props (their type, defaults and validation: infra/stack/props.ts), the Lambda environment
 * the stack sets and the handlers read (shared/config.ts), CDK context keys (infra/stack/context.ts)
 * and the local cloud's flags (cli/local-flags.ts).
 *
 * Adding a tunable: add an entry here, and read it where it is used (usually
 * shared/verification/worker-runtime.ts). test/infra/tunables.test.ts proves it reaches both hosts.
 */

/** Shared with the stack's own props (infra/stack/props.ts), so both word their errors alike. */
export const number = z.number({ error: 'must be a number' });
export const wholeFrom = (min: number, max?: number) =>
  number.refine((v) => Number.isInteger(v) && v >= min && (max === undefined || v <= max), {
    error:
      max === undefined
        ? `must be a whole number of at least ${min}`
        : `must be a whole number from ${min} to ${max}`,
  });
const score = number.min(0, { error: 'must be a number from 0 to 100' }).max(100, {
  error: 'must be a number from 0 to 100',
});

interface TunableSpec {
  /** The Lambda environment variable that carries it. */
  readonly env: string;
  /** Its value: type, default, limits. Strings from the environment, context and flags are read as `kind`. */
  readonly schema: z.ZodType<number | string | undefined>;
  readonly kind: 'number' | 'string';
  /** A LivenessBatchStack prop (and CDK context key of the same name); false: the local cloud only. */
  readonly onStack: boolean;
  /** A flag of `run` and `up` (the local cloud). */
  readonly flag?: { readonly name: string; readonly arg: string; readonly help: string };
  /** What it does, for the props' readers. */
  readonly doc: string;
}

export const tunables = {
  vendorUrl: {
    env: 'VENDOR_URL',
    schema: z.url({ error: 'must be a full URL' }).default(pipelineSettings.vendor.defaultUrl),
    kind: 'string',
    onStack: true,
    doc: 'Full vendor endpoint URL, as the vendor documents it (docs/vendor-contract.md); https on AWS.',
  },
  vendorTimeoutMs: {
    env: 'VENDOR_TIMEOUT_MS',
    schema: wholeFrom(100).default(pipelineSettings.vendor.timeoutMs),
    kind: 'number',
    onStack: true,
    doc: 'Timeout of one vendor call in milliseconds.',
  },
  vendorMaxAttempts: {
    env: 'VENDOR_MAX_ATTEMPTS',
    schema: wholeFrom(1, 20).default(pipelineSettings.vendor.maxAttemptsPerInvocation),
    kind: 'number',
    onStack: true,
    doc: 'Vendor calls per selfie within one invocation (retries included).',
  },
  minLiveScore: {
    env: 'MIN_LIVE_SCORE',
    schema: score.optional(),
    kind: 'number',
    onStack: true,
    flag: {
      name: 'min-live-score',
      arg: 'X',
      help: 'a VERIFIED selfie with live_score below X goes to REVIEW (0..100)',
    },
    doc: 'A vendor VERIFIED whose live_score (0-100) is below this becomes REVIEW. Default: no threshold.',
  },
  maxPopScore: {
    env: 'MAX_POP_SCORE',
    schema: score.optional(),
    kind: 'number',
    onStack: true,
    flag: {
      name: 'max-pop-score',
      arg: 'X',
      help: 'a VERIFIED selfie with pop_score above X goes to REVIEW (0..100)',
    },
    doc: 'A vendor VERIFIED whose pop_score (0-100) is above this becomes REVIEW. Default: no threshold.',
  },
  duplicateReuseWindowHours: {
    env: 'DUPLICATE_REUSE_WINDOW_HOURS',
    schema: number
      .min(0, { error: 'must not be negative' })
      .default(pipelineSettings.duplicateReuseWindowHours),
    kind: 'number',
    onStack: true,
    doc: 'Hours in which identical image bytes reuse the earlier outcome instead of paying again.',
  },
  maxReceiveCount: {
    env: 'MAX_RECEIVE_COUNT',
    schema: wholeFrom(1, 1000).default(pipelineSettings.workQueue.maxReceiveCount),
    kind: 'number',
    onStack: true,
    doc: "Deliveries of one message before it moves to the DLQ (the work queue's redrive policy too).",
  },
  recordConcurrency: {
    env: 'RECORD_CONCURRENCY',
    schema: wholeFrom(1, 100).default(pipelineSettings.worker.recordConcurrency),
    kind: 'number',
    onStack: true,
    doc: 'Records of one batch processed at once inside an invocation (the local cloud derives it from --concurrency).',
  },
  maxUncertainCalls: {
    env: 'MAX_UNCERTAIN_CALLS',
    schema: wholeFrom(1).default(pipelineSettings.vendor.maxUncertainCallsPerSelfie),
    kind: 'number',
    onStack: true,
    flag: {
      name: 'max-uncertain-calls',
      arg: 'N',
      help: `calls without a readable answer (maybe charged) before a selfie goes to
REVIEW with reason UNCERTAIN_CHARGE instead of being called again (default ${pipelineSettings.vendor.maxUncertainCallsPerSelfie})`,
    },
    doc: 'Uncertain calls (sent, no readable answer: maybe charged) per selfie before it ends REVIEW (UNCERTAIN_CHARGE).',
  },
  maxPaidCallsPerDay: {
    env: 'MAX_PAID_CALLS_PER_DAY',
    schema: wholeFrom(1).optional(),
    kind: 'number',
    onStack: true,
    doc: 'Paid plus uncertain vendor calls allowed per UTC day; beyond it selfies wait as HELD. Default: no cap.',
  },
  maxPaidCallsPerBatch: {
    env: 'MAX_PAID_CALLS_PER_BATCH',
    schema: wholeFrom(1).optional(),
    kind: 'number',
    onStack: false,
    flag: {
      name: 'max-paid-calls',
      arg: 'N',
      help: `spend cap per batch: vendor calls that may cost money (paid + uncertain);
at the cap selfies wait as HELD (not failed). A higher cap on a later
run, or \`liveness-batch budget\`, releases them. Default: no cap`,
    },
    doc: 'Paid plus uncertain vendor calls allowed per batch. Default: no cap.',
  },
  leaseSeconds: {
    env: 'LEASE_SECONDS',
    schema: wholeFrom(1).optional(),
    kind: 'number',
    onStack: true,
    doc: 'Seconds a delivery holds its processing lease on a selfie (the stack defaults it to the worker timeout + 20 s).',
  },
  preflightMaxBytes: {
    env: 'PREFLIGHT_MAX_BYTES',
    schema: wholeFrom(1).optional(),
    kind: 'number',
    onStack: true,
    doc: "Largest accepted object in bytes. Default: the preflight's own.",
  },
  preflightMaxPixels: {
    env: 'PREFLIGHT_MAX_PIXELS',
    schema: wholeFrom(1).optional(),
    kind: 'number',
    onStack: true,
    doc: "Largest accepted width x height. Default: the preflight's own.",
  },
  preflightMinSide: {
    env: 'PREFLIGHT_MIN_SIDE',
    schema: wholeFrom(1).optional(),
    kind: 'number',
    onStack: true,
    doc: "Smallest accepted shorter side in pixels. Default: the preflight's own.",
  },
  preflightMaxLongSide: {
    env: 'PREFLIGHT_MAX_LONG_SIDE',
    schema: wholeFrom(1).optional(),
    kind: 'number',
    onStack: true,
    doc: "Longest side sent to the vendor after resizing. Default: the preflight's own.",
  },
} as const satisfies Record<string, TunableSpec>;

type Table = typeof tunables;
export type TunableName = keyof Table;
/** Tunable values with defaults applied: what the worker reads. */
export type Tunables = { -readonly [K in TunableName]: z.output<Table[K]['schema']> };
/** What a caller may set; unset ones take their defaults. */
export type TunableInput = { -readonly [K in TunableName]?: z.input<Table[K]['schema']> };
/** Their Lambda environment variables. */
export type TunableEnvName = Table[TunableName]['env'];
/** The names of those that are stack props. */
export type StackTunableName = {
  [K in TunableName]: Table[K]['onStack'] extends true ? K : never;
}[TunableName];
/** The names of those that are local flags. */
export type FlagTunableName = {
  [K in TunableName]: Table[K] extends { flag: object } ? K : never;
}[TunableName];

export const tunableNames = Object.keys(tunables) as TunableName[];
export const stackTunableNames = tunableNames.filter((name) => tunables[name].onStack) as StackTunableName[];
export const flagTunableNames = tunableNames.filter((name) => 'flag' in tunables[name]) as FlagTunableName[];

/** The tunables as one zod object (camelCase names), e.g. to merge into the stack props schema. */
export const tunablesSchema = z.object(
  Object.fromEntries(tunableNames.map((name) => [name, tunables[name].schema])) as {
    [K in TunableName]: Table[K]['schema'];
  },
);

/**
 * A value from text (the environment, CDK context, a flag): an empty string is unset, a number
 * tunable's text becomes a number (NaN when it is not one, which its schema rejects).
 */
export function fromText(name: TunableName, value: unknown): unknown {
  if (value === undefined || value === null || value === '') return undefined;
  if (tunables[name].kind === 'number' && typeof value === 'string') {
    return /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : Number.NaN;
  }
  return value;
}

/** The Lambda environment for these values; unset ones are left out (the handler's default applies). */
export function tunablesToEnv(
  values: Partial<Record<TunableName, number | string | undefined>>,
): Partial<Record<TunableEnvName, string>> {
  const env: Partial<Record<TunableEnvName, string>> = {};
  for (const name of tunableNames) {
    const value = values[name];
    if (value !== undefined) env[tunables[name].env] = String(value);
  }
  return env;
}

/** Each tunable's environment variable read back to its camelCase name (still text). */
export function tunableTextFromEnv(env: Record<string, unknown>): Record<TunableName, unknown> {
  return Object.fromEntries(
    tunableNames.map((name) => [name, fromText(name, env[tunables[name].env])]),
  ) as Record<TunableName, unknown>;
}
