import { readFile } from 'node:fs/promises';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AuditQueries } from '../operations/audit-queries.ts';
import {
  type CloudFormationSender,
  readStackOutputs,
  type StackOutputs,
  stackOutputsSchema,
} from '../operations/stack-outputs.ts';
import { createDocumentClient } from '../shared/aws-clients.ts';
import { SelfieLifecycle } from '../shared/results/selfie-lifecycle.ts';
import { pipelineSettings } from '../shared/settings.ts';
import { UsageError } from '../toolkit/command.ts';
import type { Session } from './session.ts';

/** Attempts per upload: the SDK retries throttling, 5xx and network errors with backoff and jitter. */
const UPLOAD_MAX_ATTEMPTS = 6;

export interface StackTarget {
  stack: string;
  region?: string;
  /** The JSON `cdk deploy --outputs-file` writes: `{ "<stack>": { "<OutputKey>": "<value>" } }`. */
  outputsFile?: string;
}

/** The outputs `run --stack` needs, from the outputs file or CloudFormation's DescribeStacks. */
export async function stackOutputsFor(
  target: StackTarget,
  cloudFormation: (region: string | undefined) => CloudFormationSender = (region) =>
    new CloudFormationClient(region ? { region } : {}),
): Promise<StackOutputs & { SelfieBucketName: string }> {
  const outputs = target.outputsFile
    ? await readOutputsFile(target.outputsFile, target.stack)
    : await readStackOutputs(cloudFormation(target.region), target.stack);
  if (!outputs.SelfieBucketName) {
    throw new Error(`Stack ${target.stack} has no SelfieBucketName output; is it a liveness-batch stack?`);
  }
  return { ...outputs, SelfieBucketName: outputs.SelfieBucketName };
}

async function readOutputsFile(file: string, stack: string): Promise<StackOutputs> {
  let all: unknown;
  try {
    all = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new UsageError(
      `--outputs ${file} is not readable JSON (${error instanceof Error ? error.message : String(error)}); pass the file \`cdk deploy --outputs-file FILE\` wrote`,
    );
  }
  const stacks = typeof all === 'object' && all !== null ? (all as Record<string, unknown>) : {};
  if (!(stack in stacks)) {
    throw new UsageError(
      `--outputs ${file} has no stack "${stack}" (it has: ${Object.keys(stacks).join(', ') || 'none'})`,
    );
  }
  const parsed = stackOutputsSchema.safeParse(stacks[stack]);
  if (!parsed.success) {
    const missing = parsed.error.issues.map((i) => i.path.join('.')).join(', ');
    throw new UsageError(`--outputs ${file}: stack "${stack}" has no usable ${missing} output`);
  }
  return parsed.data;
}

/**
 * `run --stack`: uploads go to the deployed selfie bucket (its ObjectCreated notification starts the
 * pipeline on AWS), progress is read from the results table. Endpoints are the SDK's own, so
 * AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_DYNAMODB point the same code at emulators.
 */
export async function openStackSession(
  target: StackTarget,
  cloudFormation?: (region: string | undefined) => CloudFormationSender,
): Promise<Session> {
  const outputs = await stackOutputsFor(target, cloudFormation);
  const region = target.region ? { region: target.region } : {};
  const s3 = new S3Client({ ...region, maxAttempts: UPLOAD_MAX_ATTEMPTS });
  const db = createDocumentClient(region);
  const repository = new SelfieLifecycle(db, outputs.ResultsTableName);
  const audit = new AuditQueries(db, outputs.ResultsTableName);
  const bucket = outputs.SelfieBucketName;
  const uploadPrefix = outputs.UploadPrefix ?? pipelineSettings.uploadPrefix;
  return {
    kind: 'stack',
    description: `stack ${target.stack}${target.region ? ` (${target.region})` : ''}: bucket ${bucket}, table ${outputs.ResultsTableName}`,
    concurrency: 0,
    // AWS scales the workers; nothing here holds the uploads in memory, so no window is needed.
    uploadWindow: Number.POSITIVE_INFINITY,
    uploadPrefix,
    async upload(key, body, metadata) {
      // The applicant's IDs travel as S3 user metadata (run --manifest), as on the local cloud.
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ...(metadata ? { Metadata: metadata } : {}),
        }),
      );
    },
    summary: (batchId) => repository.getBatchSummary(batchId),
    async uploadedKeys(batchId) {
      // Recorded in the table (the bucket may have expired or, locally, dropped the object), or in
      // the bucket and not recorded yet: either way uploading it again would add nothing.
      const keys = new Set<string>();
      for await (const page of audit.batchPages(batchId)) {
        for (const result of page) if (result.bucket === bucket) keys.add(result.key);
      }
      let token: string | undefined;
      do {
        const out = await s3.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: `${uploadPrefix}${batchId}/`,
            ContinuationToken: token,
          }),
        );
        for (const object of out.Contents ?? []) if (object.Key) keys.add(object.Key);
        token = out.NextContinuationToken;
      } while (token);
      return keys;
    },
    async stop() {
      s3.destroy();
      db.destroy();
    },
  };
}
