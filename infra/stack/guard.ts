import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { LivenessBatchStack } from './liveness-batch-stack.ts';

/** The name `@cdklabs/cdk-validator-cfnguard` reports under; acknowledgements are namespaced by it. */
export const GUARD_PLUGIN_NAME = 'cdk-validator-cfnguard';

/**
 * AWS Control Tower proactive rules (run by cfn-guard at synth) this stack accepts, each with the
 * reason. The rules that protect the selfies or the audit trail are fixed in the resources instead:
 * KMS keys for the selfie bucket and the log groups, a year of log retention, versioned access logs,
 * and key policies that deny grants no AWS service asked for. docs/compliance-rules.md lists both.
 */
export const guardAcknowledgements = {
  lambdaOutsideVpc: {
    rule: 'lambda_inside_vpc_check',
    reason:
      'CT.LAMBDA.PR.3: the functions hold no network-reachable data and call only AWS APIs (IAM-authorised, TLS) and the ' +
      "vendor's public HTTPS endpoint. A VPC would add NAT gateways and seven interface endpoints (cost, cold starts, a new " +
      'failure point) and would restrict nothing the IAM policies do not already restrict.',
  },
  accessLogsKms: {
    rule: 's3_bucket_default_encryption_kms_check',
    reason:
      'CT.S3.PR.10: S3 delivers server access logs only to a bucket whose default encryption is SSE-S3; SSE-KMS there ' +
      'would stop the logs. The selfie bucket itself uses the customer-managed SelfieKey.',
  },
  accessLogsLogging: {
    rule: 's3_bucket_logging_enabled_check',
    reason:
      'CT.S3.PR.2: this is the access-log destination. Logging it into itself logs its own log writes forever, and a third ' +
      'bucket would need its own log bucket in turn; the organisation trail (CloudTrail data events) covers it if required.',
  },
  accessLogsNotifications: {
    rule: 's3_event_notifications_enabled_check',
    reason:
      'CT.S3.PR.4: nothing consumes events of the access-log bucket: S3 writes the logs, lifecycle expires them, operators ' +
      'read them on demand. A notification without a consumer only costs.',
  },
  selfieNotificationsByCustomResource: {
    rule: 's3_event_notifications_enabled_check',
    reason:
      "CT.S3.PR.4: the selfie bucket does notify (ObjectCreated under the upload prefix -> enqueue), but CDK sets it through its Custom::S3BucketNotifications resource (the bucket's own NotificationConfiguration cannot name a function whose permission names the bucket), which the rule does not read.",
  },
  selfieObjectLock: {
    rule: 's3_bucket_object_lock_enabled_check',
    reason:
      'CT.S3.PR.9: selfies are biometric data that must be deleted once their retention ends (selfieRetentionDays, and on ' +
      'request). Object Lock exists to stop deletion, and cannot be turned off once on.',
  },
  accessLogsObjectLock: {
    rule: 's3_bucket_object_lock_enabled_check',
    reason:
      'CT.S3.PR.9: access logs expire by lifecycle (accessLogRetentionDays) and versioning keeps a deleted or overwritten log ' +
      "for 30 days. Object Lock cannot be turned off once on; write-once log storage belongs in the organisation's log-archive account.",
  },
  deadLetterQueueWithoutDlq: {
    rule: 'sqs_dlq_check',
    reason:
      'CT.SQS.PR.1: this queue is itself a dead-letter or on-failure queue. Nothing consumes it automatically (its depth is ' +
      'alarmed and an operator redrives it), so a DLQ behind it would never receive anything.',
  },
} as const;

function acknowledge(scope: IConstruct, ack: { rule: string; reason: string }): void {
  Validations.of(scope).acknowledge({ id: `${GUARD_PLUGIN_NAME}::${ack.rule}`, reason: ack.reason });
}

/** Each acknowledgement on the narrowest construct it concerns. */
export function acknowledgeGuardFindings(stack: LivenessBatchStack): void {
  const a = guardAcknowledgements;
  const functions = [stack.enqueueFunction, stack.workerFunction, stack.publishFunction];
  const notificationHandler = stack.node.children.find((c) =>
    c.node.id.startsWith('BucketNotificationsHandler'),
  );
  for (const fn of [...functions, ...(notificationHandler ? [notificationHandler] : [])]) {
    acknowledge(fn, a.lambdaOutsideVpc);
  }

  const { accessLogBucket, selfieBucket } = stack.storage;
  for (const ack of [
    a.accessLogsKms,
    a.accessLogsLogging,
    a.accessLogsNotifications,
    a.accessLogsObjectLock,
  ]) {
    acknowledge(accessLogBucket, ack);
  }
  acknowledge(selfieBucket, a.selfieNotificationsByCustomResource);
  acknowledge(selfieBucket, a.selfieObjectLock);

  const deadLetterQueues = [
    ...Object.values(stack.queues.deadLetterQueues),
    ...(stack.outcomeEvents.webhookDlq ? [stack.outcomeEvents.webhookDlq] : []),
  ];
  for (const queue of deadLetterQueues) acknowledge(queue, a.deadLetterQueueWithoutDlq);
}
