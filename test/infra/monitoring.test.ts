import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceNames } from '../../infra/stack/functions.ts';
import { DECISIONS } from '../../shared/decision.ts';
import { METRIC_NAMESPACE, metricNames } from '../../shared/metric-names.ts';
import { keyPolicyStatements, logicalIdOf, type StackFixture, synthStack } from './stack-fixture.ts';

describe('monitoring: alarms, topic, dashboard, outputs', () => {
  let fx: StackFixture;
  let topic: string;

  beforeAll(() => {
    fx = synthStack({ alarmEmail: 'ops@example.com' });
    topic = logicalIdOf(fx.template, 'AWS::SNS::Topic', 'MonitoringAlarmTopic');
  });
  afterAll(() => fx.cleanup());

  const queueAlarm = (queuePrefix: string, metricName: string) => ({
    Namespace: 'AWS/SQS',
    MetricName: metricName,
    Dimensions: [
      {
        Name: 'QueueName',
        Value: { 'Fn::GetAtt': [logicalIdOf(fx.template, 'AWS::SQS::Queue', queuePrefix), 'QueueName'] },
      },
    ],
    ComparisonOperator: 'GreaterThanThreshold',
    AlarmActions: [{ Ref: topic }],
  });

  it('alarms when any dead-letter or failure queue holds a message', () => {
    // Prepare
    const dlqs = [
      'QueuesWorkDlq',
      'QueuesPublishFailureQueue',
      'QueuesEnqueueFailureQueue',
      'QueuesReviewDlq',
      'QueuesOpsDlq',
    ];
    // Act / Assess
    for (const dlq of dlqs) {
      fx.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...queueAlarm(dlq, 'ApproximateNumberOfMessagesVisible'),
        Threshold: 0,
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('alarms on the age of the oldest message on the work queue', () => {
    // Prepare / Act: default threshold
    // Assess
    fx.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...queueAlarm('QueuesWorkQueue', 'ApproximateAgeOfOldestMessage'),
      Threshold: 3600,
    });
  });

  it('alarms on worker errors and throttles and on publish and enqueue errors', () => {
    // Prepare
    const fnAlarm = (fnPrefix: string, metricName: string) => ({
      Namespace: 'AWS/Lambda',
      MetricName: metricName,
      Dimensions: [
        { Name: 'FunctionName', Value: { Ref: logicalIdOf(fx.template, 'AWS::Lambda::Function', fnPrefix) } },
      ],
      Threshold: 0,
      AlarmActions: [{ Ref: topic }],
    });
    // Act / Assess
    fx.template.hasResourceProperties('AWS::CloudWatch::Alarm', fnAlarm('VerifySelfiesFunction', 'Errors'));
    fx.template.hasResourceProperties(
      'AWS::CloudWatch::Alarm',
      fnAlarm('VerifySelfiesFunction', 'Throttles'),
    );
    fx.template.hasResourceProperties('AWS::CloudWatch::Alarm', fnAlarm('PublishOutcomesFunction', 'Errors'));
    fx.template.hasResourceProperties('AWS::CloudWatch::Alarm', fnAlarm('EnqueueSelfiesFunction', 'Errors'));
  });

  it('alarms on any vendor 401, on the metric the worker emits with only the service dimension', () => {
    // Prepare / Act: default props
    // Assess
    fx.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRIC_NAMESPACE,
      MetricName: metricNames.vendorUnauthorized,
      Dimensions: [{ Name: 'service', Value: serviceNames.worker }],
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: topic }],
    });
  });

  it('alarms on any FAILED decision, on the Decisions metric with the worker and decision dimensions', () => {
    // Prepare / Act: default props
    // Assess
    fx.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRIC_NAMESPACE,
      MetricName: metricNames.decisions,
      Dimensions: [
        { Name: 'decision', Value: 'FAILED' },
        { Name: 'service', Value: serviceNames.worker },
      ],
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topic }],
    });
  });

  it('alarms when the vendor circuit opens and when selfies are held by the paid-call cap', () => {
    // Prepare
    const workerCount = (metricName: string, period: number) => ({
      Namespace: METRIC_NAMESPACE,
      MetricName: metricName,
      Dimensions: [{ Name: 'service', Value: serviceNames.worker }],
      Statistic: 'Sum',
      Period: period,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: topic }],
    });
    // Act / Assess
    fx.template.hasResourceProperties('AWS::CloudWatch::Alarm', workerCount('VendorCircuitOpen', 60));
    fx.template.hasResourceProperties('AWS::CloudWatch::Alarm', workerCount('SelfiesHeld', 300));
    expect(metricNames).toMatchObject({ vendorCircuitOpen: 'VendorCircuitOpen', selfiesHeld: 'SelfiesHeld' });
  });

  it('alarms on the age of the oldest outcome waiting on the review queue (default a day, configurable)', () => {
    // Prepare
    const custom = synthStack({ reviewQueueAgeAlarmSeconds: 7200 });
    try {
      // Act / Assess
      fx.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...queueAlarm('QueuesReviewQueue', 'ApproximateAgeOfOldestMessage'),
        Statistic: 'Maximum',
        Threshold: 86400,
      });
      custom.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [
          {
            Name: 'QueueName',
            Value: {
              'Fn::GetAtt': [
                logicalIdOf(custom.template, 'AWS::SQS::Queue', 'QueuesReviewQueue'),
                'QueueName',
              ],
            },
          },
        ],
        Threshold: 7200,
      });
    } finally {
      custom.cleanup();
    }
  });

  it("sends alarms to a KMS-encrypted, TLS-only topic that only this account's alarms may use, with the email subscription", () => {
    // Prepare
    const key = logicalIdOf(fx.template, 'AWS::KMS::Key', 'MonitoringAlarmTopicKey');
    const cloudWatchStatements = keyPolicyStatements(fx.template, 'MonitoringAlarmTopicKey').filter((s) =>
      JSON.stringify(s.Principal).includes('cloudwatch'),
    );
    // Act / Assess
    fx.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } });
    expect(fx.template.findResources('AWS::KMS::Key')[key]?.Properties.EnableKeyRotation).toBe(true);
    expect(cloudWatchStatements).toEqual([
      {
        Sid: 'AllowCloudWatchAlarmsOfThisAccount',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Resource: '*',
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: {
            'aws:SourceArn': {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':cloudwatch:',
                  { Ref: 'AWS::Region' },
                  ':',
                  { Ref: 'AWS::AccountId' },
                  ':alarm:*',
                ],
              ],
            },
          },
        },
      },
    ]);
    fx.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topic }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    fx.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: topic },
    });
  });

  it('draws uploads, decisions per decision, vendor latency percentiles, retries, queues and DLQs', () => {
    // Prepare
    const [dashboard] = Object.values(fx.template.findResources('AWS::CloudWatch::Dashboard'));
    // Act
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    // Assess
    expect(dashboard?.Properties.DashboardName).toBe('TestLivenessBatch');
    for (const text of [
      metricNames.selfiesEnqueued,
      metricNames.decisions,
      metricNames.vendorLatency,
      metricNames.vendorRetries,
      metricNames.paidCalls,
      'ApproximateAgeOfOldestMessage',
      'ApproximateNumberOfMessagesVisible',
      ...DECISIONS.map((d) => `\\"decision\\",\\"${d}\\"`),
      ...['p50', 'p90', 'p99'].map((p) => `\\"stat\\":\\"${p}\\"`),
    ]) {
      expect(body).toContain(text);
    }
  });

  it('outputs what the operator needs, with the put-secret-value command on the secret ARN', () => {
    // Prepare
    const outputs = fx.template.findOutputs('*');
    // Act / Assess
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'AlarmTopicArn',
        'DashboardName',
        'DashboardUrl',
        'EventBusName',
        'OpsQueueUrl',
        'PublishFailureQueueUrl',
        'ResultsTableName',
        'ReviewQueueUrl',
        'SelfieBucketName',
        'SelfieKeyArn',
        'UploadPrefix',
        'VendorSecretArn',
        'WorkDlqUrl',
        'WorkQueueUrl',
      ].sort(),
    );
    expect(outputs.UploadPrefix?.Value).toBe('uploads/');
    expect(outputs.VendorSecretArn?.Description).toContain('aws secretsmanager put-secret-value');
  });
});
