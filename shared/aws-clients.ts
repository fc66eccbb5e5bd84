import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Where the AWS clients point. On AWS every field is absent and the SDK's defaults apply;
 * the local cloud and the tests pass emulator endpoints and fixed local credentials.
 */
export interface AwsEndpoints {
  region?: string;
  s3?: string;
  sqs?: string;
  dynamodb?: string;
  /** Static credentials for emulators (DynamoDB Local accepts letters and digits only). */
  localCredentials?: boolean;
}

const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

function base(endpoint: string | undefined, endpoints: AwsEndpoints) {
  return {
    region: endpoints.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    ...(endpoints.localCredentials ? { credentials: LOCAL_CREDENTIALS } : {}),
  };
}

export function createS3Client(endpoints: AwsEndpoints = {}): S3Client {
  // Emulators serve buckets by path, not by virtual host.
  return new S3Client({ ...base(endpoints.s3, endpoints), forcePathStyle: Boolean(endpoints.s3) });
}

export function createSqsClient(endpoints: AwsEndpoints = {}): SQSClient {
  return new SQSClient({ ...base(endpoints.sqs, endpoints), useQueueUrlAsEndpoint: !endpoints.sqs });
}

export function createDocumentClient(endpoints: AwsEndpoints = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(base(endpoints.dynamodb, endpoints)), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function createEventBridgeClient(endpoints: AwsEndpoints = {}): EventBridgeClient {
  return new EventBridgeClient(base(undefined, endpoints));
}
