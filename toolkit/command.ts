import { parseArgs } from 'node:util';

/** One CLI subcommand. `run` returns the process exit code. */
export interface Command {
  name: string;
  summary: string;
  run(argv: string[]): Promise<number>;
}

/** A usage error: printed with the command's help hint, exit code 2. */
export class UsageError extends Error {}

/** A node:util parseArgs option definition. */
export type OptionSpec = { type: 'string' | 'boolean'; short?: string };

/**
 * parseArgs in strict mode: the one wrapper every command uses, so an unknown or malformed flag is
 * always a UsageError (printed with the command's help hint) and never a stack trace.
 */
export function parseCommandArgs<const Options extends Record<string, OptionSpec>>(
  argv: string[],
  options: Options,
  allowPositionals: boolean,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
