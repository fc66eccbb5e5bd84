import { z } from 'zod';
import { pipelineSettings } from './settings.ts';
import {
  type TunableEnvName,
  type TunableName,
  tunables,
  tunablesSchema,
  tunableTextFromEnv,
} from './tunables.ts';

/**
 * The environment every handler reads, one schema for both hosts. The CDK stack sets these
 * variables on each function; the local cloud builds the same object in-process. The wiring (names
 * of resources, credentials) is here; every tunable comes from shared/tunables.ts by its `env` name
 * and is read back under `tunables`, by its camelCase name.
 */
const wiringSchema = z.object({
  RESULTS_TABLE_NAME: z.string().min(1).optional(),
  WORK_QUEUE_URL: z.string().min(1).optional(),
  EVENT_BUS_NAME: z.string().min(1).optional(),
  UPLOAD_PREFIX: z.string().default(pipelineSettings.uploadPrefix),
  /** Secrets Manager secret holding {"userid": "...", "apiKey": "..."} (AWS host). */
  VENDOR_SECRET_ARN: z.string().min(1).optional(),
  /** Plain credentials (local host only; never set these on AWS). */
  VENDOR_USER_ID: z.string().min(1).optional(),
  VENDOR_API_KEY: z.string().min(1).optional(),
});

export const handlerEnvSchema = z.preprocess(
  (raw) =>
    raw !== null && typeof raw === 'object'
      ? { ...raw, tunables: tunableTextFromEnv(raw as Record<string, unknown>) }
      : raw,
  wiringSchema.extend({ tunables: tunablesSchema }),
);

export type HandlerEnv = z.output<typeof handlerEnvSchema>;

export function readHandlerEnv(env: NodeJS.ProcessEnv = process.env): HandlerEnv {
  const parsed = handlerEnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${envName(i.path)} ${i.message}`).join('; ');
    throw new Error(`Invalid function configuration: ${problems}`);
  }
  return parsed.data;
}

/** The variable an issue is about: a tunable's env name rather than its path in the parsed object. */
function envName(path: PropertyKey[]): string {
  if (path[0] === 'tunables' && typeof path[1] === 'string' && path[1] in tunables) {
    return tunables[path[1] as TunableName].env;
  }
  return path.map(String).join('.');
}

type WiringName = keyof z.output<typeof wiringSchema>;
/** Every variable a handler reads: the wiring and each tunable's. */
export type HandlerEnvName = WiringName | TunableEnvName;

/** A variable this particular function cannot run without. */
export function requireEnv<K extends WiringName>(env: HandlerEnv, name: K): NonNullable<HandlerEnv[K]> {
  const value = env[name];
  if (value === undefined || value === null || value === '') {
    throw new Error(`Invalid function configuration: ${String(name)} is not set`);
  }
  return value as NonNullable<HandlerEnv[K]>;
}
