import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineSettings } from '../../shared/settings.ts';
import { logicalIdOf, type StackFixture, synthStack } from './stack-fixture.ts';

const xray = {
  Effect: 'Allow',
  Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'],
  Resource: '*',
};

/** What each handler's code issues (infra/stack/permissions.ts): never Scan, DeleteItem or batch writes. */
const enqueueTableActions = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
const workerTableActions = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'];

/**
 * Asserts the function role's inline policy holds exactly these statements, in this order, and no
 * more, and that the role itself attaches only the basic execution policy (CloudWatch Logs).
 */
function expectExactPolicy(template: Template, functionPrefix: string, statements: object[]) {
  const role = logicalIdOf(template, 'AWS::IAM::Role', `${functionPrefix}FunctionServiceRole`);
  template.hasResourceProperties('AWS::IAM::Policy', {
    Roles: [{ Ref: role }],
    PolicyDocument: { Statement: statements.map((s) => Match.objectEquals(s)) },
  });
  template.resourcePropertiesCountIs('AWS::IAM::Policy', { Roles: [{ Ref: role }] }, 1);
  expect(template.findResources('AWS::IAM::Role')[role]?.Properties.ManagedPolicyArns).toEqual([
    {
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
      ],
    },
  ]);
}

describe('least-privilege IAM for the pipeline functions', () => {
  let fx: StackFixture;
  let ids: Record<string, string>;

  beforeAll(() => {
    fx = synthStack();
    ids = {
      bucket: logicalIdOf(fx.template, 'AWS::S3::Bucket', 'StorageSelfieBucket'),
      selfieKey: logicalIdOf(fx.template, 'AWS::KMS::Key', 'StorageSelfieKey'),
      table: logicalIdOf(fx.template, 'AWS::DynamoDB::Table', 'StorageResultsTable'),
      secret: logicalIdOf(fx.template, 'AWS::SecretsManager::Secret', 'StorageVendorCredentials'),
      workQueue: logicalIdOf(fx.template, 'AWS::SQS::Queue', 'QueuesWorkQueue'),
      enqueueFailures: logicalIdOf(fx.template, 'AWS::SQS::Queue', 'QueuesEnqueueFailureQueue'),
      publishFailures: logicalIdOf(fx.template, 'AWS::SQS::Queue', 'QueuesPublishFailureQueue'),
      bus: logicalIdOf(fx.template, 'AWS::Events::EventBus', 'EventsBus'),
    };
  });
  afterAll(() => fx.cleanup());

  // The table itself, never `<table>/index/*`: no function queries an index.
  const tableOnly = () => ({ 'Fn::GetAtt': [ids.table, 'Arn'] });
  const uploadPrefix = pipelineSettings.uploadPrefix;

  it('worker: reads selfies only under the upload prefix (no bucket-wide List), issues only its table actions, reads the secret, consumes the queue', () => {
    // Prepare / Act: default props
    // Assess
    expectExactPolicy(fx.template, 'VerifySelfies', [
      xray,
      {
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:GetObjectVersion'],
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.bucket, 'Arn'] }, `/${uploadPrefix}*`]] },
      },
      {
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: { 'Fn::GetAtt': [ids.bucket, 'Arn'] },
        Condition: { StringLike: { 's3:prefix': `${uploadPrefix}*` } },
      },
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: { 'Fn::GetAtt': [ids.selfieKey, 'Arn'] },
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
          },
        },
      },
      { Effect: 'Allow', Action: workerTableActions, Resource: tableOnly() },
      // Consuming the work queue, and re-queueing a waiting selfie as a new message (SendMessage).
      {
        Effect: 'Allow',
        Action: [
          'sqs:ChangeMessageVisibility',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
          'sqs:ReceiveMessage',
          'sqs:SendMessage',
        ],
        Resource: { 'Fn::GetAtt': [ids.workQueue, 'Arn'] },
      },
      {
        Effect: 'Allow',
        Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        Resource: { Ref: ids.secret },
      },
    ]);
  });

  it('enqueue: issues only its table actions, sends to the work queue and its own failure queue', () => {
    // Prepare / Act: default props
    // Assess
    expectExactPolicy(fx.template, 'EnqueueSelfies', [
      xray,
      { Effect: 'Allow', Action: enqueueTableActions, Resource: tableOnly() },
      {
        Effect: 'Allow',
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Resource: [{ 'Fn::GetAtt': [ids.enqueueFailures, 'Arn'] }, { 'Fn::GetAtt': [ids.workQueue, 'Arn'] }],
      },
    ]);
  });

  it('publish: puts events on the bus, reads the stream (no table access), sends to its on-failure queue', () => {
    // Prepare / Act: default props
    // Assess
    expectExactPolicy(fx.template, 'PublishOutcomes', [
      { ...xray, Action: ['dynamodb:ListStreams', ...xray.Action] },
      { Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [ids.bus, 'Arn'] } },
      {
        Effect: 'Allow',
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Resource: { 'Fn::GetAtt': [ids.publishFailures, 'Arn'] },
      },
      {
        Effect: 'Allow',
        Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        Resource: { 'Fn::GetAtt': [ids.table, 'StreamArn'] },
      },
    ]);
  });
});
