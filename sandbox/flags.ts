import { z } from 'zod';
import { UsageError } from '../toolkit/command.ts';
import { type SandboxOptions, sandboxOptionsSchema } from './options.ts';

/** The fault switches, as node:util parseArgs option definitions; the local cloud's run/up reuse them. */
export const sandboxFaultOptions = {
  'latency-ms': { type: 'string' },
  'pending-rate': { type: 'string' },
  'error-rate': { type: 'string' },
  'throttle-rate': { type: 'string' },
  'hang-rate': { type: 'string' },
  'late-rate': { type: 'string' },
  'late-after-ms': { type: 'string' },
  'pending-debit-rate': { type: 'string' },
  'redirect-rate': { type: 'string' },
  'redirect-to': { type: 'string' },
  'forbidden-rate': { type: 'string' },
  'forbidden-window': { type: 'string' },
  'dedupe-references': { type: 'string' },
  'live-ratio': { type: 'string' },
  'score-disagree-rate': { type: 'string' },
  seed: { type: 'string' },
  'charge-failures': { type: 'boolean' },
} as const;

/** The fault flags' help, one line set for \`sandbox --help\` and \`run\`/\`up --help\`. */
export const SANDBOX_FAULT_HELP = `  --latency-ms N|MIN-MAX   answer delay, fixed or a range (default 0)              SANDBOX_LATENCY_MS
  --pending-rate R         share answered 200 PENDING, code "01" (0..1)            SANDBOX_PENDING_RATE
  --pending-debit-rate R   share answered PENDING with transactionStatus
                           "Successful": charged (0..1)                            SANDBOX_PENDING_DEBIT_RATE
  --error-rate R           share answered HTTP 500 (0..1)                          SANDBOX_ERROR_RATE
  --throttle-rate R        share answered HTTP 429, Retry-After: 1 (0..1)          SANDBOX_THROTTLE_RATE
  --hang-rate R            share never answered; not charged (0..1)                SANDBOX_HANG_RATE
  --late-rate R            share charged, then answered only after --late-after-ms,
                           when the client has given up (ledger: late) (0..1)      SANDBOX_LATE_RATE
  --late-after-ms N        how long a late answer is held (default 20000)          SANDBOX_LATE_AFTER_MS
  --redirect-rate R        share answered HTTP 307 to --redirect-to; not charged   SANDBOX_REDIRECT_RATE
  --redirect-to URL        where the 307 points (required with --redirect-rate)    SANDBOX_REDIRECT_TO
  --forbidden-rate R       share answered HTTP 403 with an HTML page, like a
                           web application firewall; not charged (0..1)            SANDBOX_FORBIDDEN_RATE
  --forbidden-window A-B   every valid call from A to B seconds after start gets
                           that HTML 403 (an outage, then recovery), e.g. 30-60    SANDBOX_FORBIDDEN_WINDOW
  --dedupe-references on|off
                           on: a repeated transactionReference that was charged
                           gets the first answer again, not charged (ledger:
                           replayOf). off (default): the vendor documents no such
                           behaviour, so every request is drawn and charged anew  SANDBOX_DEDUPE_REFERENCES
  --live-ratio R           share of images that come out VERIFIED (default 0.8)    SANDBOX_LIVE_RATIO
  --score-disagree-rate R  share whose scores contradict the status (default 0)   SANDBOX_SCORE_DISAGREE_RATE
  --seed S                 seed for outcomes and faults (default "liveness-batch") SANDBOX_SEED
  --charge-failures        also charge PENDING and HTTP 500 answers                SANDBOX_CHARGE_FAILURES`;

/** Where the sandbox listens and whom it accepts. */
export const sandboxServerOptions = {
  port: { type: 'string' },
  'user-id': { type: 'string' },
  'api-key': { type: 'string' },
  ledger: { type: 'string' },
  'max-body-bytes': { type: 'string' },
} as const;

export type SandboxFlagName = keyof typeof sandboxFaultOptions | keyof typeof sandboxServerOptions;
type FlagName = SandboxFlagName;

/** The fault flag names, for `parseSandboxFlags(values, env, SANDBOX_FAULT_FLAGS)`. */
export const SANDBOX_FAULT_FLAGS = Object.keys(sandboxFaultOptions) as ReadonlyArray<
  keyof typeof sandboxFaultOptions
>;

const intText = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const rateText = z
  .string()
  .trim()
  .regex(/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/, 'must be a number between 0 and 1')
  .transform(Number);

const latencyText = z
  .string()
  .trim()
  .regex(/^\d+(-\d+)?$/, 'must be N or MIN-MAX (milliseconds)')
  .transform((text) => {
    const [min, max] = text.split('-').map(Number);
    return max === undefined ? (min ?? 0) : { min: min ?? 0, max };
  })
  .refine((v) => typeof v === 'number' || v.min <= v.max, 'MIN must not exceed MAX');

const windowText = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?-\d+(\.\d+)?$/, 'must be FROM-TO (seconds after the sandbox starts), e.g. 30-60')
  .transform((text) => {
    const [from = '0', to = '0'] = text.split('-');
    return { fromSeconds: Number(from), toSeconds: Number(to) };
  })
  .refine((w) => w.fromSeconds < w.toSeconds, 'FROM must be less than TO');

const onOffText = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(on|off)$/, 'must be on or off')
  .transform((text) => text === 'on');

const urlText = z.url({ protocol: /^https?$/, error: 'must be a full http(s) URL' });

const booleanText = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(1|0|true|false|yes|no|)$/, 'must be true or false')
  .transform((text) => text === '1' || text === 'true' || text === 'yes');

/** Each flag: its env variable, the option it sets, and how its text is read. */
const flagTable: Record<FlagName, { env: string; option: keyof SandboxOptions; schema: z.ZodType }> = {
  port: { env: 'SANDBOX_PORT', option: 'port', schema: intText(0, 65_535) },
  'user-id': { env: 'SANDBOX_USER_ID', option: 'userId', schema: z.string().min(1, 'must not be empty') },
  'api-key': { env: 'SANDBOX_API_KEY', option: 'apiKey', schema: z.string().min(1, 'must not be empty') },
  ledger: { env: 'SANDBOX_LEDGER', option: 'ledgerFile', schema: z.string().min(1, 'must not be empty') },
  'max-body-bytes': { env: 'SANDBOX_MAX_BODY_BYTES', option: 'maxBodyBytes', schema: intText(1, 2 ** 31) },
  'latency-ms': { env: 'SANDBOX_LATENCY_MS', option: 'latencyMs', schema: latencyText },
  'pending-rate': { env: 'SANDBOX_PENDING_RATE', option: 'pendingRate', schema: rateText },
  'error-rate': { env: 'SANDBOX_ERROR_RATE', option: 'errorRate', schema: rateText },
  'throttle-rate': { env: 'SANDBOX_THROTTLE_RATE', option: 'throttleRate', schema: rateText },
  'hang-rate': { env: 'SANDBOX_HANG_RATE', option: 'hangRate', schema: rateText },
  'late-rate': { env: 'SANDBOX_LATE_RATE', option: 'lateRate', schema: rateText },
  'late-after-ms': { env: 'SANDBOX_LATE_AFTER_MS', option: 'lateAfterMs', schema: intText(0, 2 ** 31) },
  'pending-debit-rate': { env: 'SANDBOX_PENDING_DEBIT_RATE', option: 'pendingDebitRate', schema: rateText },
  'redirect-rate': { env: 'SANDBOX_REDIRECT_RATE', option: 'redirectRate', schema: rateText },
  'redirect-to': { env: 'SANDBOX_REDIRECT_TO', option: 'redirectTo', schema: urlText },
  'forbidden-rate': { env: 'SANDBOX_FORBIDDEN_RATE', option: 'forbiddenRate', schema: rateText },
  'forbidden-window': { env: 'SANDBOX_FORBIDDEN_WINDOW', option: 'forbiddenWindow', schema: windowText },
  'dedupe-references': {
    env: 'SANDBOX_DEDUPE_REFERENCES',
    option: 'dedupeReferences',
    schema: onOffText,
  },
  'live-ratio': { env: 'SANDBOX_LIVE_RATIO', option: 'liveRatio', schema: rateText },
  'score-disagree-rate': {
    env: 'SANDBOX_SCORE_DISAGREE_RATE',
    option: 'scoreDisagreeRate',
    schema: rateText,
  },
  seed: { env: 'SANDBOX_SEED', option: 'seed', schema: z.string().min(1, 'must not be empty') },
  'charge-failures': { env: 'SANDBOX_CHARGE_FAILURES', option: 'chargeFailures', schema: booleanText },
};

/** The env variable behind each flag, for help texts. */
export const sandboxFlagEnv: Readonly<Record<FlagName, string>> = Object.fromEntries(
  Object.entries(flagTable).map(([flag, spec]) => [flag, spec.env]),
) as Record<FlagName, string>;

export type ParsedSandboxFlags = Partial<SandboxOptions> & {
  /** Which options came from the user (flag or env), e.g. to avoid printing a key they chose. */
  given: ReadonlySet<keyof SandboxOptions>;
};

/**
 * Reads the sandbox flags present in `values` (parseArgs output), falling back to their SANDBOX_* env
 * variables; flags win. `only` limits which flags (and env variables) are read, e.g. the fault flags alone.
 * Throws UsageError naming every bad flag; never echoes a value (one of them is a key).
 */
export function parseSandboxFlags(
  values: Record<string, string | boolean | Array<string | boolean> | undefined>,
  env: NodeJS.ProcessEnv = process.env,
  only: readonly FlagName[] = Object.keys(flagTable) as FlagName[],
): ParsedSandboxFlags {
  const result: Record<string, unknown> = {};
  const given = new Set<keyof SandboxOptions>();
  const problems: string[] = [];
  for (const flag of only) {
    const spec = flagTable[flag];
    const raw = values[flag];
    let text: string | undefined;
    let source = `--${flag}`;
    if (typeof raw === 'boolean') text = String(raw);
    else if (typeof raw === 'string') text = raw;
    else if (env[spec.env] !== undefined) {
      text = env[spec.env];
      source = spec.env;
    }
    if (text === undefined) continue;
    const parsed = spec.schema.safeParse(text);
    if (!parsed.success) {
      problems.push(`${source} ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
      continue;
    }
    result[spec.option] = parsed.data;
    given.add(spec.option);
  }
  if (problems.length === 0) {
    const whole = sandboxOptionsSchema.safeParse(result);
    if (!whole.success) problems.push(...whole.error.issues.map((i) => i.message));
  }
  if (problems.length > 0) throw new UsageError(`Invalid sandbox options: ${problems.join('; ')}`);
  return { ...(result as Partial<SandboxOptions>), given };
}
