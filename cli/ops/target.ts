import { existsSync } from 'node:fs';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { JavaMissingError } from '../../local-cloud/dynamodb-local.ts';
import { startFileBackedDynamoDb } from '../../local-cloud/dynamodb-process.ts';
import { localResourceNames } from '../../local-cloud/resources.ts';
import {
  DEFAULT_STATE_DIR,
  lockStateDir,
  readLiveHost,
  StateDirBusyError,
  statePaths,
} from '../../local-cloud/state-dir.ts';
import { type CloudFormationSender, readStackOutputs } from '../../operations/stack-outputs.ts';
import {
  type AwsEndpoints,
  createDocumentClient,
  createS3Client,
  createSqsClient,
} from '../../shared/aws-clients.ts';
import { pipelineSettings } from '../../shared/settings.ts';
import { UsageError } from '../../toolkit/command.ts';

/** Where an operations command reads and writes: a local state folder, a deployed stack, or one table. */
export const targetOptions = {
  'state-dir': { type: 'string' },
  stack: { type: 'string' },
  region: { type: 'string' },
  table: { type: 'string' },
} as const;

export const targetHelp = (
  what: 'table' | 'queues' | 'bucket',
) => `Where (default: the local cloud of --state-dir):
  --state-dir DIR          the local cloud's state folder (default ${DEFAULT_STATE_DIR}). ${
    what === 'table'
      ? `A running \`liveness-batch up\`/\`run\`
                           is used when there is one; otherwise DynamoDB Local is started on the
                           folder's file-backed database for the time of the command.`
      : `Needs a running \`liveness-batch up\`:
                           the local S3 and SQS keep their contents in memory.`
  }
  --stack NAME             a deployed stack: its CloudFormation outputs name the ${
    what === 'table' ? 'results table' : what === 'queues' ? 'work queue, DLQ and table' : 'bucket and table'
  }
  --region R               the stack's region (default: AWS_REGION or the AWS profile's)${
    what === 'table'
      ? `
  --table NAME             a results table on AWS by name, without a stack`
      : ''
  }`;

const targetSchema = z.object({
  'state-dir': z.string().trim().min(1, '--state-dir must not be empty').optional(),
  stack: z.string().trim().min(1, '--stack must name a stack').optional(),
  region: z
    .string()
    .trim()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, '--region must be an AWS region, e.g. eu-west-1')
    .optional(),
  table: z.string().trim().min(3, '--table must name a table').optional(),
});

export interface OpsTarget {
  description: string;
  kind: 'local' | 'aws';
  db: DynamoDBDocumentClient;
  tableName: string;
  uploadPrefix: string;
  s3?: S3Client;
  sqs?: SQSClient;
  bucket?: string;
  workQueueUrl?: string;
  dlqUrl?: string;
  close(): Promise<void>;
}

export interface TargetDeps {
  /** Creates the CloudFormation client for `--stack` (tests pass a stand-in: no CloudFormation here). */
  cloudFormation?: (region: string | undefined) => CloudFormationSender;
}

type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

/**
 * Resolves the target of an operations command. `needs` says what the command touches: `table`
 * (audit, report, reconcile), `queues` (redrive: the work queue and DLQ, and the table) or `bucket`
 * (purge: the selfie bucket, and the table for the audit history).
 */
export async function openTarget(
  values: Values,
  needs: 'table' | 'queues' | 'bucket',
  deps: TargetDeps = {},
): Promise<OpsTarget> {
  const parsed = targetSchema.safeParse(values);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('; '));
  const flags = parsed.data;
  const chosen = [flags.stack && '--stack', flags.table && '--table', flags['state-dir'] && '--state-dir'];
  if (chosen.filter(Boolean).length > 1) {
    throw new UsageError(
      `Choose one of --stack, --table and --state-dir (got ${chosen.filter(Boolean).join(', ')})`,
    );
  }
  if (flags.table && needs !== 'table') {
    throw new UsageError(
      '--table names only the results table; this command needs --stack NAME (or a local `up`)',
    );
  }
  if (flags.region && !flags.stack && !flags.table) {
    throw new UsageError('--region goes with --stack or --table');
  }
  if (flags.stack || flags.table) return openAws(flags.stack, flags.table, flags.region, needs, deps);
  return openLocal(flags['state-dir'] ?? DEFAULT_STATE_DIR, needs);
}

async function openAws(
  stack: string | undefined,
  table: string | undefined,
  region: string | undefined,
  needs: 'table' | 'queues' | 'bucket',
  deps: TargetDeps,
): Promise<OpsTarget> {
  const endpoints: AwsEndpoints = region ? { region } : {};
  const db = createDocumentClient(endpoints);
  if (table) {
    return {
      kind: 'aws',
      description: `table ${table} (AWS)`,
      db,
      tableName: table,
      uploadPrefix: pipelineSettings.uploadPrefix,
      close: async () => db.destroy(),
    };
  }
  const cfn = deps.cloudFormation?.(region) ?? new CloudFormationClient(region ? { region } : {});
  const outputs = await readStackOutputs(cfn, stack as string);
  const missing =
    needs === 'queues'
      ? (['WorkQueueUrl', 'WorkDlqUrl'] as const).filter((k) => !outputs[k])
      : needs === 'bucket'
        ? (['SelfieBucketName'] as const).filter((k) => !outputs[k])
        : [];
  if (missing.length > 0) throw new Error(`Stack ${stack} has no ${missing.join(', ')} output`);
  const s3 = needs === 'bucket' ? createS3Client(endpoints) : undefined;
  const sqs = needs === 'queues' ? createSqsClient(endpoints) : undefined;
  return {
    kind: 'aws',
    description: `stack ${stack}${region ? ` (${region})` : ''}`,
    db,
    tableName: outputs.ResultsTableName,
    uploadPrefix: outputs.UploadPrefix ?? pipelineSettings.uploadPrefix,
    ...(s3 ? { s3, bucket: outputs.SelfieBucketName } : {}),
    ...(sqs ? { sqs, workQueueUrl: outputs.WorkQueueUrl, dlqUrl: outputs.WorkDlqUrl } : {}),
    async close() {
      db.destroy();
      s3?.destroy();
      sqs?.destroy();
    },
  };
}

async function openLocal(stateDir: string, needs: 'table' | 'queues' | 'bucket'): Promise<OpsTarget> {
  const paths = statePaths(stateDir);
  const running = readLiveHost(paths);
  if (running) {
    const endpoints: AwsEndpoints = {
      region: running.region,
      s3: running.s3,
      sqs: running.sqs,
      dynamodb: running.dynamodb,
      localCredentials: true,
    };
    const db = createDocumentClient(endpoints);
    const s3 = createS3Client(endpoints);
    const sqs = createSqsClient(endpoints);
    return {
      kind: 'local',
      description: `the running \`liveness-batch ${running.mode}\` (pid ${running.pid}, state ${paths.root})`,
      db,
      tableName: running.tableName,
      uploadPrefix: running.uploadPrefix,
      s3,
      sqs,
      bucket: running.bucket,
      workQueueUrl: running.queues.work,
      dlqUrl: running.queues.deadLetter,
      async close() {
        db.destroy();
        s3.destroy();
        sqs.destroy();
      },
    };
  }
  if (needs !== 'table') {
    throw new Error(
      `No local cloud is running on ${paths.root}. The local S3 bucket and queues live in the memory of a ` +
        `running host, so start one first, in another terminal:\n  liveness-batch up --state-dir ${stateDir}\n` +
        'then run this command again (or pass --stack NAME for a deployed stack).',
    );
  }
  if (!existsSync(paths.dynamodb)) {
    throw new Error(
      `No local results in ${paths.root}: verify a batch first (liveness-batch run DIR --state-dir ${stateDir}), ` +
        'or pass --stack NAME / --table NAME for a deployed stack.',
    );
  }
  // No host runs: open the file-backed database ourselves, holding the folder's lock so no host
  // starts on the same database files meanwhile.
  let lock: { release(): void };
  try {
    lock = lockStateDir(paths);
  } catch (error) {
    if (error instanceof StateDirBusyError) {
      throw new Error(`${error.message} (it may be starting: try again in a few seconds)`);
    }
    throw error;
  }
  try {
    const dynamodb = await startFileBackedDynamoDb(paths.dynamodb, paths.dynamodbPid);
    const db = createDocumentClient({ dynamodb: dynamodb.endpoint, localCredentials: true });
    return {
      kind: 'local',
      description: `the local results in ${paths.root}`,
      db,
      tableName: localResourceNames.tableName,
      uploadPrefix: pipelineSettings.uploadPrefix,
      async close() {
        db.destroy();
        await dynamodb.stop();
        lock.release();
      },
    };
  } catch (error) {
    lock.release();
    if (error instanceof JavaMissingError) throw new Error(error.message);
    throw error;
  }
}
