import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { z } from 'zod';
import { type OptionSpec, parseCommandArgs, UsageError } from '../../toolkit/command.ts';
import { type TargetDeps, targetOptions } from './target.ts';

/** Where an operations command writes, and what tests may replace (the CloudFormation client). */
export interface OpsIo {
  stdout: Writable;
  stderr: Writable;
  deps?: TargetDeps;
  /** The clock (purge's cut-off); tests set it instead of waiting for uploads to age. */
  now?: () => Date;
}

export const processIo = (): OpsIo => ({ stdout: process.stdout, stderr: process.stderr });

/** parseArgs over the target flags, --help and a command's own flags; unknown flags are a UsageError. */
export function parseOpsArgs<const Own extends Record<string, OptionSpec>>(argv: string[], own: Own) {
  return parseCommandArgs(argv, { ...targetOptions, help: { type: 'boolean', short: 'h' }, ...own }, false);
}

/** Answers `--help`: writes the command's help text and returns its exit code, 0. */
export function printHelp(io: OpsIo, help: string): number {
  io.stdout.write(`${help}\n`);
  return 0;
}

/** Checks flags against a command's schema; what it rejects is a UsageError naming every problem. */
export function parseFlags<Schema extends z.ZodType>(schema: Schema, values: unknown): z.output<Schema> {
  const parsed = schema.safeParse(values);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('; '));
  return parsed.data;
}

/** Standard output, or a file (`--out`), closed and flushed by `close()`. */
export function openOutput(
  path: string | undefined,
  io: OpsIo,
): { stream: Writable; close(): Promise<void> } {
  if (!path) return { stream: io.stdout, close: async () => undefined };
  const stream = createWriteStream(path);
  return {
    stream,
    async close() {
      stream.end();
      await finished(stream);
    },
  };
}

export function writeLine(stream: Writable, text: string): void {
  stream.write(`${text}\n`);
}
