import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';

/**
 * The DynamoDB actions each handler's code issues, read from shared/results/ (selfie-lifecycle, attempts, content-claims, spend-budget). A
 * transaction needs the action of each item kind it holds (Put -> PutItem, Update -> UpdateItem,
 * ConditionCheck -> ConditionCheckItem); there is no TransactWriteItems action. No handler queries
 * an index (the GSIs serve the CLI's audit queries), so no grant covers `<table>/index/*`.
 * A new command in a handler needs its action here, or it fails on AWS only (the local cloud has no IAM).
 */
export const tableActions = {
  /**
   * recordReceived (transaction: Put result + Update batch summary), needsEnqueue (GetItem),
   * markEnqueued (UpdateItem).
   */
  enqueue: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  /**
   * getResult and content claims (GetItem), beginAttempt and claimContent (PutItem), leases,
   * attempts, unfinished and the decision transaction (UpdateItem), listAttempts (Query on the
   * selfie's own partition).
   */
  worker: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
} as const;

/** Exactly these actions on the table itself: no Scan, DeleteItem, BatchWriteItem, no indexes. */
export function grantTableActions(
  fn: lambda.IFunction,
  table: dynamodb.ITable,
  actions: readonly string[],
): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: [...actions], resources: [table.tableArn] }));
}

/**
 * Reads selfies under the upload prefix and nothing else in the bucket. S3 answers a GET of a missing
 * object 404 (NoSuchKey/NoSuchVersion: the worker records the selfie as gone) only to a caller that
 * may list it, else 403; `s3:ListBucket` limited to the same prefix is enough for that check (it is
 * evaluated with the key as the prefix), and lists nothing else. The worker itself never lists.
 * Decrypting with the selfie key only through S3.
 */
export function grantReadUploads(
  fn: lambda.IFunction,
  bucket: s3.IBucket,
  key: kms.IKey,
  uploadPrefix: string,
): void {
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resources: [bucket.arnForObjects(`${uploadPrefix}*`)],
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': `${uploadPrefix}*` } },
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['kms:Decrypt'],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(fn).region}.amazonaws.com` } },
    }),
  );
}
