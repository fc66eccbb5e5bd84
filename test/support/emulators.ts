import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import type { AwsEndpoints } from '../../shared/aws-clients.ts';

/** Endpoints of the emulators that test/support/global-setup.ts started for this run. */
export function emulatorEndpoints(): AwsEndpoints {
  const s3sqs = inject('s3SqsEndpoint');
  return { s3: s3sqs, sqs: s3sqs, dynamodb: inject('dynamodbEndpoint'), localCredentials: true };
}

/** A resource name no other test file uses, so files can share one emulator. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
