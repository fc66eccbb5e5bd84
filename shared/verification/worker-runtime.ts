import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type HandlerEnv, requireEnv } from '../config.ts';
import { type LivenessCaller, LivenessClient } from '../liveness/client.ts';
import { loadVendorCredentials } from '../liveness/credentials.ts';
import type { Logger, Metrics } from '../observability.ts';
import { preflightLimitsFrom } from '../preflight/index.ts';
import { AttemptLog } from '../results/attempts.ts';
import { ContentClaims } from '../results/content-claims.ts';
import { SelfieLifecycle } from '../results/selfie-lifecycle.ts';
import { SpendBudget } from '../results/spend-budget.ts';
import { readSelfieBytes } from '../s3-objects.ts';
import { pipelineSettings } from '../settings.ts';
import { VendorBreaker } from './vendor-breaker.ts';
import type { VerificationDeps } from './verify-selfie.ts';

/** Everything one worker needs, built once per cold start (AWS) or once per host (local). */
export interface WorkerRuntime {
  verification: VerificationDeps;
  sqs: SQSClient;
  workQueueUrl?: string;
  recordConcurrency: number;
  /**
   * Caps every redelivery and wait delay (tests set 1 s so retries and waits happen in seconds);
   * unset on AWS and in the local cloud, where the policy's delays apply.
   */
  delayCapSeconds?: number;
}

export interface WorkerClients {
  s3: S3Client;
  sqs: SQSClient;
  db: DynamoDBDocumentClient;
  secrets: () => SecretsManagerClient;
  /** Replaces the HTTP client, e.g. to count calls in flight; defaults to LivenessClient. */
  vendor?: LivenessCaller;
}

export async function buildWorkerRuntime(
  env: HandlerEnv,
  clients: WorkerClients,
  observability: { logger: Logger; metrics: Metrics },
): Promise<WorkerRuntime> {
  const t = env.tunables;
  const preflightLimits = preflightLimitsFrom({
    maxBytes: t.preflightMaxBytes,
    maxPixels: t.preflightMaxPixels,
    minSide: t.preflightMinSide,
    maxLongSide: t.preflightMaxLongSide,
  });
  const vendor =
    clients.vendor ??
    new LivenessClient({
      endpointUrl: t.vendorUrl,
      timeoutMs: t.vendorTimeoutMs,
      ...(await loadVendorCredentials(
        { secretArn: env.VENDOR_SECRET_ARN, userId: env.VENDOR_USER_ID, apiKey: env.VENDOR_API_KEY },
        clients.secrets,
      )),
    });
  const tableName = requireEnv(env, 'RESULTS_TABLE_NAME');
  return {
    sqs: clients.sqs,
    workQueueUrl: env.WORK_QUEUE_URL,
    recordConcurrency: t.recordConcurrency,
    verification: {
      selfies: new SelfieLifecycle(clients.db, tableName),
      attempts: new AttemptLog(clients.db, tableName),
      claims: new ContentClaims(clients.db, tableName),
      budget: new SpendBudget(clients.db, tableName),
      spendCap: {
        ...(t.maxPaidCallsPerBatch === undefined ? {} : { perBatch: t.maxPaidCallsPerBatch }),
        ...(t.maxPaidCallsPerDay === undefined ? {} : { perDay: t.maxPaidCallsPerDay }),
      },
      maxUncertainCalls: t.maxUncertainCalls,
      loadSelfie: (ref) => readSelfieBytes(clients.s3, ref, preflightLimits.maxBytes),
      vendor,
      breaker: new VendorBreaker(),
      preflightLimits,
      thresholds: {
        ...(t.minLiveScore !== undefined ? { minLiveScore: t.minLiveScore } : {}),
        ...(t.maxPopScore !== undefined ? { maxPopScore: t.maxPopScore } : {}),
      },
      retry: {
        maxAttempts: t.vendorMaxAttempts,
        backoff: {
          baseMs: pipelineSettings.vendor.backoffBaseMs,
          maxMs: pipelineSettings.vendor.backoffMaxMs,
        },
      },
      duplicateReuseWindowHours: t.duplicateReuseWindowHours,
      maxReceiveCount: t.maxReceiveCount,
      ...(t.leaseSeconds === undefined ? {} : { leaseSeconds: t.leaseSeconds }),
      logger: observability.logger,
      metrics: observability.metrics,
    },
  };
}
