import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultsTableDefinition } from '../../infra/table-definition.ts';
import { pipelineSettings } from '../../shared/settings.ts';
import { keyPolicyStatements, logicalIdOf, type StackFixture, synthStack } from './stack-fixture.ts';

describe('storage: selfie bucket, access logs, results table, vendor secret', () => {
  let fx: StackFixture;
  let selfieBucket: string;
  let logBucket: string;

  beforeAll(() => {
    fx = synthStack();
    selfieBucket = logicalIdOf(fx.template, 'AWS::S3::Bucket', 'StorageSelfieBucket');
    logBucket = logicalIdOf(fx.template, 'AWS::S3::Bucket', 'StorageAccessLogBucket');
  });
  afterAll(() => fx.cleanup());

  it('keeps the selfie bucket private, encrypted with its own KMS key, versioned and logged to the separate log bucket', () => {
    // Prepare
    const selfieKey = logicalIdOf(fx.template, 'AWS::KMS::Key', 'StorageSelfieKey');
    // Act / Assess
    fx.template.hasResource('AWS::S3::Bucket', {
      Properties: {
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [selfieKey, 'Arn'] },
              },
            },
          ],
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: { DestinationBucketName: { Ref: logBucket }, LogFilePrefix: Match.anyValue() },
      },
      DeletionPolicy: 'Retain',
    });
  });

  it('keeps access logs SSE-S3 (the only encryption S3 log delivery accepts), versioned, and recoverable for 30 days after a delete', () => {
    // Prepare / Act: default props
    // Assess
    const props = fx.template.findResources('AWS::S3::Bucket')[logBucket]?.Properties;
    expect(props?.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(props?.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(props?.LifecycleConfiguration.Rules).toEqual([
      { Id: 'expire-access-logs', ExpirationInDays: 365, Status: 'Enabled' },
      {
        Id: 'expire-noncurrent-access-logs',
        NoncurrentVersionExpiration: { NoncurrentDays: 30 },
        Status: 'Enabled',
      },
      { Id: 'remove-expired-delete-markers', ExpiredObjectDeleteMarker: true, Status: 'Enabled' },
    ]);
  });

  it('rotates every KMS key and denies grants that no AWS service asked for (CT.KMS.PR.3)', () => {
    // Prepare
    const keys = fx.template.findResources('AWS::KMS::Key');
    // Act / Assess
    expect(
      Object.keys(keys)
        .map((id) => id.replace(/[0-9A-F]{8}$/, ''))
        .sort(),
    ).toEqual(['LogKey', 'MonitoringAlarmTopicKey', 'StorageSelfieKey'].sort());
    for (const key of Object.values(keys)) {
      expect(key.Properties.EnableKeyRotation).toBe(true);
      expect(key.Properties.KeyPolicy.Statement).toContainEqual({
        Sid: 'DenyGrantsNotForAwsResources',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: {
          BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
        },
      });
    }
  });

  it("lets CloudWatch Logs use the log key only for this account's log groups in this region", () => {
    // Prepare
    const statements = keyPolicyStatements(fx.template, 'LogKey');
    // Act
    const forLogs = statements.filter((s) => JSON.stringify(s.Principal).includes('logs.'));
    // Assess
    expect(forLogs).toEqual([
      {
        Sid: 'AllowCloudWatchLogsForThisAccountsLogGroups',
        Effect: 'Allow',
        Principal: { Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
        Action: ['kms:Decrypt*', 'kms:Describe*', 'kms:Encrypt*', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'],
        Resource: '*',
        Condition: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':logs:',
                  { Ref: 'AWS::Region' },
                  ':',
                  { Ref: 'AWS::AccountId' },
                  ':log-group:*',
                ],
              ],
            },
          },
        },
      },
    ]);
  });

  it('expires selfies under the upload prefix after the retention and noncurrent versions soon after', () => {
    // Prepare / Act: default props
    // Assess
    fx.template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: Match.anyValue(),
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Prefix: pipelineSettings.uploadPrefix,
            ExpirationInDays: pipelineSettings.selfieRetentionDays,
            Status: 'Enabled',
          }),
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 1 }, Status: 'Enabled' }),
        ]),
      },
    });
  });

  it('honours a custom selfie retention', () => {
    // Prepare
    const custom = synthStack({ selfieRetentionDays: 7 });
    try {
      // Act / Assess
      custom.template.hasResourceProperties('AWS::S3::Bucket', {
        LifecycleConfiguration: {
          Rules: Match.arrayWith([Match.objectLike({ Prefix: 'uploads/', ExpirationInDays: 7 })]),
        },
      });
    } finally {
      custom.cleanup();
    }
  });

  it('denies non-TLS requests on both buckets', () => {
    // Prepare
    const denyInsecure = (bucket: string) => ({
      Bucket: { Ref: bucket },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    // Act / Assess
    fx.template.hasResourceProperties('AWS::S3::BucketPolicy', denyInsecure(selfieBucket));
    fx.template.hasResourceProperties('AWS::S3::BucketPolicy', denyInsecure(logBucket));
  });

  it('lets S3 deliver access logs by bucket policy, with ACLs disabled', () => {
    // Prepare / Act: default props
    // Assess
    const logBucketProps = fx.template.findResources('AWS::S3::Bucket')[logBucket]?.Properties;
    expect(logBucketProps?.AccessControl).toBeUndefined();
    fx.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logBucket },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Action: 's3:PutObject',
            Principal: { Service: 'logging.s3.amazonaws.com' },
          }),
        ]),
      },
    });
  });

  it('notifies the enqueue function of ObjectCreated under the upload prefix only', () => {
    // Prepare
    const enqueueFn = logicalIdOf(fx.template, 'AWS::Lambda::Function', 'EnqueueSelfiesFunction');
    // Act / Assess
    fx.template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: selfieBucket },
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: pipelineSettings.uploadPrefix }] } },
            LambdaFunctionArn: { 'Fn::GetAtt': [enqueueFn, 'Arn'] },
          },
        ],
      },
    });
  });

  it('builds the results table from the shared definition: on-demand, encrypted, PITR, stream, TTL, GSIs', () => {
    // Prepare
    const { partitionKey, sortKey, indexes, timeToLiveAttribute } = resultsTableDefinition;
    const attributeNames = new Set<string>([partitionKey, sortKey]);
    for (const keys of Object.values(indexes)) {
      attributeNames.add(keys.partitionKey);
      attributeNames.add(keys.sortKey);
    }
    // Act / Assess
    fx.template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
      TimeToLiveSpecification: { AttributeName: timeToLiveAttribute, Enabled: true },
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: Object.entries(indexes).map(([indexName, keys]) => ({
        IndexName: indexName,
        KeySchema: [
          { AttributeName: keys.partitionKey, KeyType: 'HASH' },
          { AttributeName: keys.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      })),
    });
    const [table] = Object.values(fx.template.findResources('AWS::DynamoDB::Table'));
    const definitions = table?.Properties.AttributeDefinitions as {
      AttributeName: string;
      AttributeType: string;
    }[];
    expect(definitions.map((d) => d.AttributeName).sort()).toEqual([...attributeNames].sort());
    expect(new Set(definitions.map((d) => d.AttributeType))).toEqual(new Set(['S']));
  });

  it('creates the vendor credentials secret as {"userid","apiKey"} for the operator to fill', () => {
    // Prepare / Act: default props
    // Assess
    fx.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: {
        SecretStringTemplate: JSON.stringify({ userid: 'SET-AFTER-DEPLOY' }),
        GenerateStringKey: 'apiKey',
      },
    });
  });
});
