import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { propsFromContext } from './stack/context.ts';
import { LivenessBatchStack } from './stack/liveness-batch-stack.ts';

// Run by cdk.json (`npx tsx infra/app.ts`). Settings come from context: `cdk deploy -c vendorUrl=...`.
const app = new App();
// Policy-validation plugins: unacknowledged findings fail the synth. cdk-nag 3 runs the AwsSolutions
// rules; cfn-guard (binary shipped in the npm package) runs AWS Control Tower's proactive rules.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new CfnGuardValidator());

new LivenessBatchStack(app, app.node.tryGetContext('stackName') ?? 'LivenessBatch', {
  description:
    'liveness-batch: S3 -> SQS -> Lambda -> DynamoDB -> EventBridge passive face liveness verifier',
  // Env-agnostic unless the CLI's profile supplies them; the stack needs no lookups.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  ...propsFromContext(app.node),
});
app.synth();
