import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { z } from 'zod';

/** The deployed stack's outputs the operations commands use (infra/stack names them). */
export const stackOutputsSchema = z.looseObject({
  ResultsTableName: z.string().min(1),
  SelfieBucketName: z.string().min(1).optional(),
  UploadPrefix: z.string().optional(),
  WorkQueueUrl: z.string().min(1).optional(),
  WorkDlqUrl: z.string().min(1).optional(),
});
export type StackOutputs = z.infer<typeof stackOutputsSchema>;

/** Only `send` is used, so tests can pass a stand-in (there is no CloudFormation emulator here). */
export type CloudFormationSender = Pick<CloudFormationClient, 'send'>;

/** Reads a stack's outputs with DescribeStacks; says which output is missing when the stack is not ours. */
export async function readStackOutputs(cfn: CloudFormationSender, stackName: string): Promise<StackOutputs> {
  const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
  const stack = out.Stacks?.[0];
  if (!stack) throw new Error(`Stack ${stackName} was not found`);
  const outputs = Object.fromEntries(
    (stack.Outputs ?? [])
      .filter((o) => o.OutputKey && o.OutputValue !== undefined)
      .map((o) => [o.OutputKey as string, o.OutputValue as string]),
  );
  const parsed = stackOutputsSchema.safeParse(outputs);
  if (!parsed.success) {
    const missing = parsed.error.issues.map((i) => i.path.join('.')).join(', ');
    throw new Error(`Stack ${stackName} has no usable ${missing} output; is it a liveness-batch stack?`);
  }
  return parsed.data;
}
