import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECISIONS } from '../../shared/decision.ts';
import { METRIC_NAMESPACE } from '../../shared/metric-names.ts';
import { keys } from '../../shared/results/records.ts';
import { pipelineSettings } from '../../shared/settings.ts';
import { logicalIdOf, type StackFixture, synthStack } from './stack-fixture.ts';

describe('queues, functions and event sources', () => {
  let fx: StackFixture;
  let workQueue: string;
  let workDlq: string;

  beforeAll(() => {
    fx = synthStack();
    workQueue = logicalIdOf(fx.template, 'AWS::SQS::Queue', 'QueuesWorkQueue');
    workDlq = logicalIdOf(fx.template, 'AWS::SQS::Queue', 'QueuesWorkDlq');
  });
  afterAll(() => fx.cleanup());

  it('encrypts every queue and denies non-TLS access to each', () => {
    // Prepare
    const queues = fx.template.findResources('AWS::SQS::Queue');
    const policies = Object.values(fx.template.findResources('AWS::SQS::QueuePolicy'));
    // Act
    const withoutTlsPolicy = Object.keys(queues).filter(
      (id) =>
        !policies.some(
          (p) =>
            JSON.stringify(p.Properties.Queues).includes(id) &&
            p.Properties.PolicyDocument.Statement.some(
              (s: { Effect: string; Condition?: unknown }) =>
                s.Effect === 'Deny' &&
                JSON.stringify(s.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } }),
            ),
        ),
    );
    // Assess
    expect(Object.keys(queues).length).toBeGreaterThanOrEqual(8);
    for (const queue of Object.values(queues)) {
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    }
    expect(withoutTlsPolicy).toEqual([]);
  });

  it('gives the work queue a DLQ at maxReceiveCount and a visibility timeout of six worker timeouts', () => {
    // Prepare / Act: default props
    // Assess
    fx.template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: pipelineSettings.workQueue.visibilityTimeoutSeconds,
      MessageRetentionPeriod: pipelineSettings.workQueue.retentionDays * 86400,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [workDlq, 'Arn'] },
        maxReceiveCount: pipelineSettings.workQueue.maxReceiveCount,
      },
    });
    expect(pipelineSettings.workQueue.visibilityTimeoutSeconds).toBe(
      6 * pipelineSettings.worker.timeoutSeconds,
    );
  });

  it('derives the visibility timeout from a custom worker timeout', () => {
    // Prepare
    const custom = synthStack({ workerTimeoutSeconds: 300 });
    try {
      // Act / Assess
      custom.template.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 1800 });
      custom.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'worker' }) },
        Timeout: 300,
      });
    } finally {
      custom.cleanup();
    }
  });

  it('feeds the worker from the work queue with partial batch failures, batch settings and max concurrency', () => {
    // Prepare
    const worker = logicalIdOf(fx.template, 'AWS::Lambda::Function', 'VerifySelfiesFunction');
    // Act / Assess
    fx.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [workQueue, 'Arn'] },
      FunctionName: { Ref: worker },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: pipelineSettings.worker.batchSize,
      MaximumBatchingWindowInSeconds: pipelineSettings.worker.maxBatchingWindowSeconds,
      ScalingConfig: { MaximumConcurrency: pipelineSettings.worker.maxConcurrency },
    });
  });

  it('lets the operator set the worker concurrency and batch shape', () => {
    // Prepare
    const custom = synthStack({
      workerMaxConcurrency: 20,
      workerBatchSize: 5,
      workerBatchingWindowSeconds: 0,
    });
    try {
      // Act
      const [mapping] = Object.values(
        custom.template.findResources('AWS::Lambda::EventSourceMapping'),
      ).filter((m) => m.Properties.ScalingConfig);
      // Assess
      expect(mapping?.Properties).toMatchObject({ BatchSize: 5, ScalingConfig: { MaximumConcurrency: 20 } });
      expect(mapping?.Properties.MaximumBatchingWindowInSeconds).toBeUndefined();
    } finally {
      custom.cleanup();
    }
  });

  it('feeds publish from the table stream with bisect, retries, partial failures and an on-failure queue', () => {
    // Prepare
    const table = logicalIdOf(fx.template, 'AWS::DynamoDB::Table', 'StorageResultsTable');
    const failureQueue = logicalIdOf(fx.template, 'AWS::SQS::Queue', 'QueuesPublishFailureQueue');
    // Act / Assess
    fx.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [table, 'StreamArn'] },
      FunctionName: { Ref: logicalIdOf(fx.template, 'AWS::Lambda::Function', 'PublishOutcomesFunction') },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: pipelineSettings.publish.maxRetryAttempts,
      BatchSize: pipelineSettings.publish.batchSize,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [failureQueue, 'Arn'] } } },
    });
  });

  it('invokes publish only for stream records whose new image is a decided result item', () => {
    // Prepare
    const table = logicalIdOf(fx.template, 'AWS::DynamoDB::Table', 'StorageResultsTable');
    const [mapping] = Object.values(fx.template.findResources('AWS::Lambda::EventSourceMapping')).filter(
      (m) =>
        JSON.stringify(m.Properties.EventSourceArn) ===
        JSON.stringify({ 'Fn::GetAtt': [table, 'StreamArn'] }),
    );
    // Act
    const filters = mapping?.Properties.FilterCriteria.Filters as { Pattern: string }[];
    // Assess
    expect(filters.map((f) => JSON.parse(f.Pattern))).toEqual([
      { dynamodb: { NewImage: { sk: { S: [keys.result] }, state: { S: [...DECISIONS] } } } },
    ]);
    expect(DECISIONS).toContain('FAILED');
    expect(DECISIONS).not.toContain('RECEIVED');
  });

  it('sends failed S3 notifications for enqueue to an on-failure queue', () => {
    // Prepare
    const failureQueue = logicalIdOf(fx.template, 'AWS::SQS::Queue', 'QueuesEnqueueFailureQueue');
    // Act / Assess
    fx.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalIdOf(fx.template, 'AWS::Lambda::Function', 'EnqueueSelfiesFunction') },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [failureQueue, 'Arn'] } } },
    });
  });

  it('runs every pipeline function on the newest Node.js runtime, arm64, traced, with its own log group', () => {
    // Prepare
    const pipelineFunctions = Object.entries(fx.template.findResources('AWS::Lambda::Function')).filter(
      ([id]) => /^(EnqueueSelfies|VerifySelfies|PublishOutcomes)Function/.test(id),
    );
    // Act / Assess
    expect(pipelineFunctions).toHaveLength(3);
    for (const [, fn] of pipelineFunctions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogGroup: { Ref: expect.stringMatching(/LogsLogGroup|Logs/) } },
        Environment: {
          Variables: expect.objectContaining({
            POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
            NODE_OPTIONS: '--enable-source-maps',
          }),
        },
      });
    }
    // A year at least (the audit trail, CT.CLOUDWATCH.PR.2), encrypted with the stack's log key.
    const logKey = logicalIdOf(fx.template, 'AWS::KMS::Key', 'LogKey');
    fx.template.resourcePropertiesCountIs(
      'AWS::Logs::LogGroup',
      { RetentionInDays: 365, KmsKeyId: { 'Fn::GetAtt': [logKey, 'Arn'] } },
      3,
    );
    fx.template.resourceCountIs('AWS::Logs::LogGroup', 3);
  });

  it('sets each function exactly the env names shared/config.ts reads, never plain vendor credentials', () => {
    // Prepare
    const envOf = (prefix: string) =>
      fx.template.findResources('AWS::Lambda::Function')[
        logicalIdOf(fx.template, 'AWS::Lambda::Function', prefix)
      ]?.Properties.Environment.Variables as Record<string, unknown>;
    // Act
    const enqueue = envOf('EnqueueSelfiesFunction');
    const worker = envOf('VerifySelfiesFunction');
    const publish = envOf('PublishOutcomesFunction');
    // Assess
    expect(Object.keys(enqueue).sort()).toEqual(
      [
        'NODE_OPTIONS',
        'POWERTOOLS_METRICS_NAMESPACE',
        'POWERTOOLS_SERVICE_NAME',
        'RESULTS_TABLE_NAME',
        'UPLOAD_PREFIX',
        'WORK_QUEUE_URL',
      ].sort(),
    );
    expect(enqueue.POWERTOOLS_SERVICE_NAME).toBe('enqueue');
    expect(worker).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'worker',
      UPLOAD_PREFIX: pipelineSettings.uploadPrefix,
      VENDOR_URL: pipelineSettings.vendor.defaultUrl,
      VENDOR_SECRET_ARN: {
        Ref: logicalIdOf(fx.template, 'AWS::SecretsManager::Secret', 'StorageVendorCredentials'),
      },
      VENDOR_TIMEOUT_MS: String(pipelineSettings.vendor.timeoutMs),
      VENDOR_MAX_ATTEMPTS: String(pipelineSettings.vendor.maxAttemptsPerInvocation),
      MAX_RECEIVE_COUNT: String(pipelineSettings.workQueue.maxReceiveCount),
      RECORD_CONCURRENCY: String(pipelineSettings.worker.recordConcurrency),
      DUPLICATE_REUSE_WINDOW_HOURS: String(pipelineSettings.duplicateReuseWindowHours),
      WORK_QUEUE_URL: { Ref: logicalIdOf(fx.template, 'AWS::SQS::Queue', 'QueuesWorkQueue') },
      MAX_UNCERTAIN_CALLS: '2',
      LEASE_SECONDS: String(pipelineSettings.worker.timeoutSeconds + 20),
    });
    // No cap unless the operator sets one.
    expect(worker).not.toHaveProperty('MAX_PAID_CALLS_PER_DAY');
    expect(worker).not.toHaveProperty('VENDOR_USER_ID');
    expect(worker).not.toHaveProperty('VENDOR_API_KEY');
    expect(worker).not.toHaveProperty('MIN_LIVE_SCORE');
    expect(Object.keys(publish).sort()).toEqual(
      ['EVENT_BUS_NAME', 'NODE_OPTIONS', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME'].sort(),
    );
    expect(publish).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'publish',
      EVENT_BUS_NAME: { Ref: expect.any(String) },
    });
  });

  it('passes thresholds, preflight limits, the paid-call cap, the uncertain-call limit and the lease to the worker when given', () => {
    // Prepare
    const custom = synthStack({
      minLiveScore: 80,
      maxPopScore: 30,
      preflightMaxBytes: 5_000_000,
      maxPaidCallsPerDay: 500,
      maxUncertainCalls: 3,
      leaseSeconds: 300,
    });
    try {
      // Act / Assess
      custom.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            MIN_LIVE_SCORE: '80',
            MAX_POP_SCORE: '30',
            PREFLIGHT_MAX_BYTES: '5000000',
            MAX_PAID_CALLS_PER_DAY: '500',
            MAX_UNCERTAIN_CALLS: '3',
            LEASE_SECONDS: '300',
          }),
        },
      });
    } finally {
      custom.cleanup();
    }
  });
});
