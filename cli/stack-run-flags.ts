import { z } from 'zod';
import { UsageError } from '../toolkit/command.ts';
import { localCloudOptions } from './local-flags.ts';
import type { StackTarget } from './stack-session.ts';

/** `run DIR --stack NAME`: the same main job against a deployed stack. */
export const stackRunOptions = {
  stack: { type: 'string' },
  outputs: { type: 'string' },
  region: { type: 'string' },
} as const;

export const stackRunHelp = `Against a deployed stack (instead of the local cloud):
  --stack NAME             upload into the stack's selfie bucket and follow the batch in its
                           results table (the pipeline runs on AWS; --json and the summary are the
                           same). Uploads run 8 at a time, each retried by the SDK (6 attempts);
                           Ctrl-C stops uploading, and a rerun uploads only the files the bucket
                           or the table does not have yet. Uses the standard AWS credentials and
                           endpoint settings (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_S3, ...)
  --outputs FILE           read the stack's outputs from the file \`cdk deploy --outputs-file FILE\`
                           wrote, instead of asking CloudFormation
  --region R               the stack's region (default: AWS_REGION or the AWS profile's)`;

const schema = z.object({
  stack: z.string().trim().min(1, '--stack must name a stack').optional(),
  outputs: z.string().trim().min(1, '--outputs must name a file').optional(),
  region: z
    .string()
    .trim()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, '--region must be an AWS region, e.g. eu-west-1')
    .optional(),
});

/** Host flags that mean nothing to a deployed stack (its settings are the stack's props). */
const localOnly = Object.keys(localCloudOptions).filter((flag) => flag !== 'help' && flag !== 'verbose');

type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

/** The stack to run against, or undefined for the local cloud. */
export function parseStackRunFlags(values: Values): StackTarget | undefined {
  const parsed = schema.safeParse(values);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('; '));
  const { stack, outputs, region } = parsed.data;
  if (!stack) {
    if (outputs || region) throw new UsageError('--outputs and --region go with --stack NAME');
    return undefined;
  }
  const given = localOnly.filter((flag) => values[flag] !== undefined);
  if (given.length > 0) {
    throw new UsageError(
      `Not with --stack: ${given.map((f) => `--${f}`).join(', ')} (local cloud flags; a stack's settings are its props, set with cdk deploy -c)`,
    );
  }
  return { stack, ...(outputs ? { outputsFile: outputs } : {}), ...(region ? { region } : {}) };
}
