import { CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { pipelineSettings } from '../../shared/settings.ts';
import type { PipelineFunction } from './functions.ts';
import type { Storage } from './storage.ts';

/**
 * cdk-nag AwsSolutions findings this stack accepts, each on the narrowest construct and finding id.
 * Everything else (access logs, DLQs, encryption, TLS, runtime) is fixed in the resources instead.
 */
const basicExecutionRole = {
  id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
  reason:
    'AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs; a hand-written copy adds nothing.',
};

const wildcardResource = {
  id: 'AwsSolutions-IAM5[Resource::*]',
  reason:
    'Tracing.ACTIVE grants xray:PutTraceSegments/PutTelemetryRecords, which support no resource scoping' +
    ' (for publish also dynamodb:ListStreams, which the DynamoDB event source needs and which has no resource ARN).',
};

export function acknowledgeFunctionFindings(
  fns: { enqueue: PipelineFunction; worker: PipelineFunction; publish: PipelineFunction },
  storage: Storage,
): void {
  for (const fn of Object.values(fns)) {
    Validations.of(fn).acknowledge(basicExecutionRole, wildcardResource);
  }

  // grantReadUploads: s3:GetObject and s3:GetObjectVersion on the upload prefix, no other objects.
  const bucketId = logicalId(storage.selfieBucket.node.defaultChild);
  Validations.of(fns.worker).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${pipelineSettings.uploadPrefix}*]`,
    reason:
      'Object reads scoped to the upload prefix: the worker reads only selfies under it, whose keys it learns from the queue.',
  });
}

/** The singleton Lambda that CDK deploys to configure S3 bucket notifications. */
export function acknowledgeNotificationHandlerFindings(stack: Stack): void {
  const handler = stack.node.children.find((c) => c.node.id.startsWith('BucketNotificationsHandler'));
  if (!handler) return;
  Validations.of(handler).acknowledge({
    ...basicExecutionRole,
    reason: `CDK's own bucket-notification handler (runs at deploy only). ${basicExecutionRole.reason}`,
  });
}

/** cdk-nag names resources in findings by their logical id, e.g. `<StorageResultsTable4CE745A2.Arn>`. */
function logicalId(resource: IConstruct | undefined): string {
  if (!(resource instanceof CfnElement)) throw new Error('expected a CloudFormation resource');
  return Stack.of(resource).resolve(resource.logicalId);
}
