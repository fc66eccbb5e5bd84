import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { logicalIdOf, type StackFixture, synthStack } from './stack-fixture.ts';

const xray = {
  Effect: 'Allow',
  Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'],
  Resource: '*',
};

const tableReadWrite = [
  'dynamodb:BatchGetItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:UpdateItem',
];

/** Asserts the function role's inline policy holds exactly these statements, in this order, and no more. */
function expectExactPolicy(template: Template, functionPrefix: string, statements: object[]) {
  const role = logicalIdOf(template, 'AWS::IAM::Role', `${functionPrefix}FunctionServiceRole`);
  template.hasResourceProperties('AWS::IAM::Policy', {
    Roles: [{ Ref: role }],
    PolicyDocument: { Statement: statements.map((s) => Match.objectEquals(s)) },
  });
  template.resourcePropertiesCountIs('AWS::IAM::Policy', { Roles: [{ Ref: role }] }, 1);
  // Only the basic execution role (CloudWatch Logs) is attached as a managed policy.
  template.hasResourceProperties('AWS::IAM::Role', {
    ManagedPolicyArns: [
      {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
        ],
      },
    ],
  });
}

describe('least-privilege IAM for the pipeline functions', () => {
  let fx: StackFixture;
  let ids: Record<string, string>;

  beforeAll(() => {
    fx = synthStack();
    ids = {
      bucket: logicalIdOf(fx.template, 'AWS::S3::Bucket', 'StorageSelfieBucket'),
      table: logicalIdOf(fx.template, 'AWS::DynamoDB::Table', 'StorageResultsTable'),
      secret: logicalIdOf(fx.template, 'AWS::SecretsManager::Secret', 'StorageVendorCredentials'),
      workQueue: logicalIdOf(fx.template, 'AWS::SQS::Queue', 'QueuesWorkQueue'),
      enqueueFailures: logicalIdOf(fx.template, 'AWS::SQS::Queue', 'QueuesEnqueueFailureQueue'),
      publishFailures: logicalIdOf(fx.template, 'AWS::SQS::Queue', 'QueuesPublishFailureQueue'),
      bus: logicalIdOf(fx.template, 'AWS::Events::EventBus', 'EventsBus'),
    };
  });
  afterAll(() => fx.cleanup());

  const tableAndIndexes = () => [
    { 'Fn::GetAtt': [ids.table, 'Arn'] },
    { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.table, 'Arn'] }, '/index/*']] },
  ];

  it('worker: reads selfies under the upload prefix, reads/writes the table, reads the secret, consumes the queue', () => {
    // Prepare / Act: default props
    // Assess
    expectExactPolicy(fx.template, 'VerifySelfies', [
      xray,
      {
        Effect: 'Allow',
        Action: ['s3:GetBucket*', 's3:GetObject*', 's3:List*'],
        Resource: [
          { 'Fn::GetAtt': [ids.bucket, 'Arn'] },
          { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.bucket, 'Arn'] }, '/uploads/*']] },
        ],
      },
      { Effect: 'Allow', Action: tableReadWrite, Resource: tableAndIndexes() },
      {
        Effect: 'Allow',
        Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        Resource: { Ref: ids.secret },
      },
      {
        Effect: 'Allow',
        Action: [
          'sqs:ChangeMessageVisibility',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
          'sqs:ReceiveMessage',
        ],
        Resource: { 'Fn::GetAtt': [ids.workQueue, 'Arn'] },
      },
    ]);
  });

  it('enqueue: reads/writes the table, sends to the work queue and its own failure queue', () => {
    // Prepare / Act: default props
    // Assess
    expectExactPolicy(fx.template, 'EnqueueSelfies', [
      xray,
      { Effect: 'Allow', Action: tableReadWrite, Resource: tableAndIndexes() },
      {
        Effect: 'Allow',
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Resource: [{ 'Fn::GetAtt': [ids.enqueueFailures, 'Arn'] }, { 'Fn::GetAtt': [ids.workQueue, 'Arn'] }],
      },
    ]);
  });

  it('publish: puts events on the bus, reads the stream, sends to its on-failure queue', () => {
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
