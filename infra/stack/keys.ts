import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

/**
 * A customer-managed key with rotation on. Its policy keeps the default account statement (IAM
 * policies in this account decide who may use it) and adds a deny on grants that no AWS service
 * asked for (Control Tower CT.KMS.PR.3): none of the services here uses grants on these keys, so
 * a grant could only be someone handing the key's use to a principal outside IAM's view.
 */
export function customerManagedKey(scope: Construct, id: string, description: string): kms.Key {
  const key = new kms.Key(scope, id, { description, enableKeyRotation: true });
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'DenyGrantsNotForAwsResources',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['kms:CreateGrant'],
      resources: ['*'],
      conditions: {
        BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
      },
    }),
  );
  return key;
}

/**
 * The key for the stack's CloudWatch log groups. CloudWatch Logs uses it on the log groups' behalf
 * (the functions' roles need no KMS permission); the encryption context pins that use to log groups
 * of this account and region. Log group names are left to CloudFormation (a fixed name would block
 * a redeploy after a stack delete, since log groups are retained), so the scope is the account's.
 */
export function logEncryptionKey(scope: Construct, id: string): kms.Key {
  const key = customerManagedKey(scope, id, 'Encrypts the liveness-batch Lambda log groups');
  const { region, account, partition } = Stack.of(scope);
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchLogsForThisAccountsLogGroups',
      principals: [new iam.ServicePrincipal(`logs.${region}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': `arn:${partition}:logs:${region}:${account}:log-group:*`,
        },
      },
    }),
  );
  return key;
}
