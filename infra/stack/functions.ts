import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Duration } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { HandlerEnvName } from '../../shared/config.ts';
import { METRIC_NAMESPACE } from '../../shared/metric-names.ts';
import { lambdaBundling } from '../bundling.ts';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Only the variable names `shared/config.ts` reads; a typo fails the typecheck. */
export type HandlerEnvironment = Partial<Record<HandlerEnvName, string>>;

export interface PipelineFunctionProps {
  /** Handler file relative to the project root, exporting `handler`. */
  readonly entry: string;
  /** `POWERTOOLS_SERVICE_NAME`: the `service` dimension of every metric this function emits. */
  readonly serviceName: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly logRetention: logs.RetentionDays;
  /** Customer-managed key the function's log group is encrypted with. */
  readonly logEncryptionKey: kms.IKey;
  /** Merged over the Powertools defaults; never dropped. */
  readonly environment?: HandlerEnvironment;
  /** Native packages installed (not bundled) into the asset, built for Linux arm64. */
  readonly nativeModules?: string[];
}

/**
 * The one way this stack builds a Lambda: newest Node.js runtime (cdk-nag L1), arm64, ESM bundle
 * with source maps, active tracing and an explicit, KMS-encrypted log group with retention.
 */
export class PipelineFunction extends Construct {
  readonly fn: NodejsFunction;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
    });
    const native = props.nativeModules ?? [];

    this.fn = new NodejsFunction(this, 'Function', {
      entry: path.join(projectRoot, props.entry),
      handler: 'handler',
      projectRoot,
      depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize,
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        ...lambdaBundling,
        nodeModules: native.length > 0 ? native : undefined,
        // Without these npm installs the build machine's (x64) binaries of native modules.
        ...(native.length > 0 && {
          environment: { npm_config_os: 'linux', npm_config_cpu: 'arm64', npm_config_libc: 'glibc' },
        }),
      },
    });
  }
}

/**
 * `POWERTOOLS_SERVICE_NAME` of each function: the `service` dimension its metrics carry. The handlers
 * also pass these names to Powertools themselves (which wins over the env), so they must agree.
 */
export const serviceNames = {
  enqueue: 'enqueue',
  worker: 'worker',
  publish: 'publish',
} as const;

export type ServiceNames = typeof serviceNames;
