import { z } from 'zod';
import { parseSandboxFlags, SANDBOX_FAULT_HELP, sandboxFaultOptions } from '../sandbox/flags.ts';
import type { SandboxOptions } from '../sandbox/options.ts';
import { pipelineSettings } from '../shared/settings.ts';
import { type OptionSpec, parseCommandArgs, UsageError } from './command.ts';

/** Flags shared by `run` and `up`: the host, the vendor, and the sandbox's fault switches. */
export const localCloudOptions = {
  ...sandboxFaultOptions,
  'vendor-url': { type: 'string' },
  'user-id': { type: 'string' },
  'api-key': { type: 'string' },
  'state-dir': { type: 'string' },
  concurrency: { type: 'string' },
  'min-live-score': { type: 'string' },
  'max-pop-score': { type: 'string' },
  'max-paid-calls': { type: 'string' },
  'max-uncertain-calls': { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  bundled: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const DEFAULT_CONCURRENCY = 10;

export const localCloudHelp = `Host options:
  --state-dir DIR          state folder (default .liveness-batch): DynamoDB Local's database, the
                           sandbox ledger (ledger.jsonl), the event archive (events.jsonl), logs/
  --concurrency N          vendor calls in flight across the host (default ${DEFAULT_CONCURRENCY}, 1..500)
  --min-live-score X       a VERIFIED selfie with live_score below X goes to REVIEW (0..100)
  --max-pop-score X        a VERIFIED selfie with pop_score above X goes to REVIEW (0..100)
  --max-paid-calls N       spend cap per batch: vendor calls that may cost money (paid + uncertain);
                           at the cap selfies wait as HELD (not failed). A higher cap on a later
                           run, or \`liveness-batch budget\`, releases them. Default: no cap
  --max-uncertain-calls N  calls without a readable answer (maybe charged) before a selfie goes to
                           REVIEW with reason UNCERTAIN_CHARGE instead of being called again (default ${pipelineSettings.vendor.maxUncertainCallsPerSelfie})
  --verbose, -v            show the handlers' INFO logs too (default: warnings and errors only;
                           every log is kept in <state-dir>/logs/pipeline.log)
  --bundled                drive the handlers as deployed: bundled with the stack's esbuild options
                           (infra/bundling.ts) into <state-dir>/bundles/, sharp installed beside
                           the worker for this machine, instead of the TypeScript source; a bundle
                           that does not load stops the start with the reason

Vendor (default: the local sandbox, which simulates scores: it is not a liveness model):
  --vendor-url URL         call this vendor endpoint instead, the full URL as the vendor documents
                           it, e.g. https://api.verified.africa/sfx-v4-verify/v4/id-service
                           (no sandbox starts; every call may cost money)
  --user-id U              the vendor userid (or env VENDOR_USER_ID); only with --vendor-url
  --api-key K              the vendor apiKey (or env VENDOR_API_KEY, which keeps it out of ps);
                           only with --vendor-url; never printed or written to disk

Sandbox faults (the same flags as \`liveness-batch sandbox\`, each also read from the env variable shown):
${SANDBOX_FAULT_HELP}`;

const score = (flag: string) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, `--${flag} must be a number between 0 and 100`)
    .transform(Number)
    .pipe(
      z
        .number()
        .min(0, `--${flag} must be between 0 and 100`)
        .max(100, `--${flag} must be between 0 and 100`),
    )
    .optional();

const positiveWhole = (flag: string, example: string) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `--${flag} must be a whole number, e.g. --${flag} ${example}`)
    .transform(Number)
    .pipe(z.number().int().min(1, `--${flag} must be at least 1`))
    .optional();

const flagsSchema = z.object({
  'state-dir': z.string().trim().min(1, '--state-dir must not be empty').default('.liveness-batch'),
  concurrency: z
    .string()
    .trim()
    .regex(/^\d+$/, '--concurrency must be a whole number, e.g. --concurrency 10')
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(1, '--concurrency must be at least 1')
        .max(500, '--concurrency must be at most 500'),
    )
    .default(DEFAULT_CONCURRENCY),
  'min-live-score': score('min-live-score'),
  'max-pop-score': score('max-pop-score'),
  'max-paid-calls': positiveWhole('max-paid-calls', '1000'),
  'max-uncertain-calls': positiveWhole('max-uncertain-calls', '2'),
  'vendor-url': z
    .url({ protocol: /^https?$/, error: '--vendor-url must be a full http(s) URL, e.g. https://host/path' })
    .optional(),
  'user-id': z.string().min(1, '--user-id must not be empty').optional(),
  'api-key': z.string().min(1, '--api-key must not be empty').optional(),
  verbose: z.boolean().default(false),
  bundled: z.boolean().default(false),
});

export interface LocalCloudFlags {
  stateDir: string;
  concurrency: number;
  verbose: boolean;
  /** Drive bundles built as the stack builds them instead of the source. */
  bundled: boolean;
  thresholds: { minLiveScore?: number; maxPopScore?: number };
  /** Spend cap per batch (paid + uncertain calls); none when absent. */
  maxPaidCalls?: number;
  maxUncertainCalls?: number;
  vendor?: { url: string; userId: string; apiKey: string };
  sandbox: Omit<SandboxOptions, 'port' | 'ledgerFile' | 'userId' | 'apiKey'>;
  /** Fault flags were given (they are ignored when a running `up` host is used). */
  sandboxFlagsGiven: boolean;
}

/** parseArgs over the shared flags plus a command's own; unknown flags become a UsageError. */
export function parseCommandLine<const Own extends Record<string, OptionSpec>>(
  argv: string[],
  own: Own,
  allowPositionals: boolean,
) {
  return parseCommandArgs(argv, { ...localCloudOptions, ...own }, allowPositionals);
}

type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

/** Validates the shared flags; every problem becomes one UsageError that says what to do. Never echoes the key. */
export function parseLocalCloudFlags(values: Values, env: NodeJS.ProcessEnv = process.env): LocalCloudFlags {
  const parsed = flagsSchema.safeParse(values);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('; '));
  const flags = parsed.data;
  const faultFlags = Object.keys(sandboxFaultOptions) as (keyof typeof sandboxFaultOptions)[];
  const { given, ...sandbox } = parseSandboxFlags(values, env, faultFlags);
  const faultsOnCommandLine = faultFlags.some((flag) => values[flag] !== undefined);

  let vendor: LocalCloudFlags['vendor'];
  if (flags['vendor-url']) {
    if (faultsOnCommandLine) {
      throw new UsageError('Sandbox fault flags only apply to the sandbox; drop them or drop --vendor-url');
    }
    const userId = flags['user-id'] ?? env.VENDOR_USER_ID;
    const apiKey = flags['api-key'] ?? env.VENDOR_API_KEY;
    if (!userId || !apiKey) {
      throw new UsageError(
        '--vendor-url needs the vendor credentials: --user-id U and --api-key K (or env VENDOR_USER_ID and VENDOR_API_KEY)',
      );
    }
    vendor = { url: flags['vendor-url'], userId, apiKey };
  } else if (flags['user-id'] || flags['api-key']) {
    throw new UsageError(
      '--user-id and --api-key go with --vendor-url; the sandbox uses its own test credentials',
    );
  }
  return {
    stateDir: flags['state-dir'],
    concurrency: flags.concurrency,
    verbose: flags.verbose,
    bundled: flags.bundled,
    thresholds: {
      ...(flags['min-live-score'] !== undefined ? { minLiveScore: flags['min-live-score'] } : {}),
      ...(flags['max-pop-score'] !== undefined ? { maxPopScore: flags['max-pop-score'] } : {}),
    },
    ...(flags['max-paid-calls'] !== undefined ? { maxPaidCalls: flags['max-paid-calls'] } : {}),
    ...(flags['max-uncertain-calls'] !== undefined
      ? { maxUncertainCalls: flags['max-uncertain-calls'] }
      : {}),
    ...(vendor ? { vendor } : {}),
    sandbox,
    sandboxFlagsGiven: given.size > 0,
  };
}
