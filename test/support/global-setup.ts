import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../../local-cloud/dynamodb-local.ts';
import { startS3SqsEmulator } from '../../local-cloud/fauxqs.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
    s3SqsEndpoint: string;
  }
}

/** Starts the real emulators once for the whole run; each test file isolates itself by resource names. */
export default async function setup(project: TestProject) {
  const [dynamodb, s3sqs] = await Promise.all([startDynamoDbLocal(), startS3SqsEmulator()]);
  project.provide('dynamodbEndpoint', dynamodb.endpoint);
  project.provide('s3SqsEndpoint', s3sqs.endpoint);
  return async () => {
    await Promise.all([dynamodb.stop(), s3sqs.stop()]);
  };
}
