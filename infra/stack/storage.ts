import { Duration, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { resultsTableDefinition } from '../table-definition.ts';
import { customerManagedKey } from './keys.ts';
import type { ResolvedSettings } from './props.ts';

/**
 * Days a deleted or overwritten access log stays recoverable: long enough to notice that someone
 * tampered with the audit trail of the selfie bucket.
 */
const ACCESS_LOG_NONCURRENT_DAYS = 30;

/** The selfie bucket (with its access-log bucket), the results table and the vendor credentials. */
export class Storage extends Construct {
  /** Encrypts the selfies (biometric data); uploaders need kms:GenerateDataKey on it. */
  readonly selfieKey: kms.Key;
  readonly selfieBucket: s3.Bucket;
  readonly accessLogBucket: s3.Bucket;
  readonly resultsTable: dynamodb.Table;
  readonly vendorSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, settings: ResolvedSettings) {
    super(scope, id);

    // S3 delivers server access logs only to a bucket with SSE-S3 default encryption (not SSE-KMS).
    // Versioning keeps a deleted or overwritten log recoverable: these logs are an audit trail.
    this.accessLogBucket = new s3.Bucket(this, 'AccessLogBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: Duration.days(settings.accessLogRetentionDays) },
        {
          id: 'expire-noncurrent-access-logs',
          noncurrentVersionExpiration: Duration.days(ACCESS_LOG_NONCURRENT_DAYS),
        },
        { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
      ],
    });
    Validations.of(this.accessLogBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log destination; logging it into itself would log its own log writes.',
    });

    this.selfieKey = customerManagedKey(this, 'SelfieKey', 'Encrypts the liveness-batch selfies');
    this.selfieBucket = new s3.Bucket(this, 'SelfieBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // Biometric data: a key of our own, so reading a selfie needs kms:Decrypt granted on purpose
      // (not just s3:GetObject), and every use is in CloudTrail. The bucket key keeps KMS calls few.
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.selfieKey,
      bucketKeyEnabled: true,
      enforceSSL: true,
      // Versioning gives a selfie a stable identity (key + versionId) when a key is re-uploaded.
      versioned: true,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'selfie-bucket/',
      lifecycleRules: [
        {
          // Selfies are biometric data: keep them only as long as a review may need them.
          id: 'expire-selfies',
          prefix: settings.uploadPrefix,
          expiration: Duration.days(settings.selfieRetentionDays),
        },
        {
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: Duration.days(settings.noncurrentVersionRetentionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
      ],
    });

    const { partitionKey, sortKey, timeToLiveAttribute, indexes } = resultsTableDefinition;
    const stringKey = (name: string) => ({ name, type: dynamodb.AttributeType.STRING });
    this.resultsTable = new dynamodb.Table(this, 'ResultsTable', {
      partitionKey: stringKey(partitionKey),
      sortKey: stringKey(sortKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      timeToLiveAttribute,
    });
    for (const [indexName, keys] of Object.entries(indexes)) {
      this.resultsTable.addGlobalSecondaryIndex({
        indexName,
        partitionKey: stringKey(keys.partitionKey),
        sortKey: stringKey(keys.sortKey),
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    // The value is set by the operator after deploy (put-secret-value); the generated one is a placeholder.
    this.vendorSecret = new secretsmanager.Secret(this, 'VendorCredentials', {
      description: 'Liveness vendor credentials as JSON {"userid": "...", "apiKey": "..."}',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ userid: 'SET-AFTER-DEPLOY' }),
        generateStringKey: 'apiKey',
        excludePunctuation: true,
      },
    });
    Validations.of(this.vendorSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The vendor issues API keys in its portal; rotation is manual there, then put-secret-value here.',
    });
  }
}
