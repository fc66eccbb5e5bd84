import { z } from 'zod';
import { parseSandboxFlags, SANDBOX_FAULT_HELP, sandboxFaultOptions } from '../sandbox/flags.ts';
import type { SandboxOptions } from '../sandbox/options.ts';
import {
  type FlagTunableName,
  flagTunableNames,
  fromText,
  type TunableInput,
  tunables,
} from '../shared/tunables.ts';
import { type OptionSpec, parseCommandArgs, UsageError } from '../toolkit/command.ts';

/** Flags shared by `run` and `up`: the host, the vendor, and the sandbox's fault switches. */
export const localCloudOptions = {
  ...sandboxFaultOptions,
  'vendor-url': { type: 'string' },
  'user-id': { type: 'string' },
  'api-key': { type: 'string' },
  'state-dir': { type: 'string' },
  concurrency: { type: 'string' },
  ...tunableFlagOptions(),
  verbose: { type: 'boolean', short: 'v' },
  bundled: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The tunables that are local flags (shared/tunables.ts `flag`), as parseArgs options. */
function tunableFlagOptions() {
  return Object.fromEntries(
    flagTunableNames.map((name) => [tunables[name].flag.name, { type: 'string' }]),
  ) as {
    [K in FlagTunableName as (typeof tunables)[K]['flag']['name']]: { type: 'string' };
  };
}

/** Help lines for the tunable flags, aligned with the other host options. */
function tunableFlagHelp(): string {
  const column = 27;
  return flagTunableNames
    .map((name) => {
      const { flag } = tunables[name];
      const head = `  --${flag.name} ${flag.arg}`.padEnd(column - 1);
      return `${head} ${flag.help.split('\n').join(`\n${' '.repeat(column)}`)}`;
    })
    .join('\n');
}

export const DEFAULT_CONCURRENCY = 10;

export const localCloudHelp = `Host options:
  --state-dir DIR          state folder (default .liveness-batch): DynamoDB Local's database, the
                           sandbox ledger (ledger.jsonl), the event archive (events.jsonl), logs/
  --concurrency N          vendor calls in flight across the host (default ${DEFAULT_CONCURRENCY}, 1..500)
${tunableFlagHelp()}
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
  /** The tunables given as flags (thresholds, spend cap per batch, uncertain calls); absent ones are unset. */
  tunables: Pick<TunableInput, FlagTunableName>;
  /** The spend cap per batch (tunables.maxPaidCallsPerBatch), which `run` also reports. */
  maxPaidCalls?: number;
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
  const tunableValues = parseTunableFlags(values);
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
    tunables: tunableValues,
    ...(tunableValues.maxPaidCallsPerBatch !== undefined
      ? { maxPaidCalls: tunableValues.maxPaidCallsPerBatch }
      : {}),
    ...(vendor ? { vendor } : {}),
    sandbox,
    sandboxFlagsGiven: given.size > 0,
  };
}

/** Reads the tunable flags through the tunables' own schemas; a bad value names its flag. */
function parseTunableFlags(values: Values): LocalCloudFlags['tunables'] {
  const out: Partial<Record<FlagTunableName, number | string>> = {};
  const problems: string[] = [];
  for (const name of flagTunableNames) {
    const { flag, schema } = tunables[name];
    const text = values[flag.name];
    if (text === undefined) continue;
    const parsed = schema.safeParse(fromText(name, text));
    if (parsed.success && parsed.data !== undefined) out[name] = parsed.data;
    else if (!parsed.success)
      problems.push(`--${flag.name} ${parsed.error.issues[0]?.message}, got "${text}"`);
  }
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  return out as LocalCloudFlags['tunables'];
}
