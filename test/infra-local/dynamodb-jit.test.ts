import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type DynamoDbLocal,
  SHORT_RUN_MAX_SELFIES,
  startDynamoDbLocal,
} from '../../local-cloud/dynamodb-local.ts';
import { type LocalCloud, startLocalCloud } from '../../local-cloud/host.ts';
import { createDocumentClient } from '../../shared/aws-clients.ts';

const HOST_TIMEOUT_MS = 120_000;
const C1_ONLY = '-XX:TieredStopAtLevel=1';

const javaArgs = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
/** The java process a host started: its pid file is in the state folder. */
const hostJavaArgs = (host: LocalCloud) => javaArgs(Number(readFileSync(host.paths.dynamodbPid, 'utf8')));

/**
 * DynamoDB Local's JIT is chosen by how long it will serve: a short `run` compiles with C1 only, which
 * measured cheaper up to SHORT_RUN_MAX_SELFIES selfies; a long-lived host keeps tiered compilation
 * (local-cloud/dynamodb-local.ts).
 */
describe('DynamoDB Local compiles for the length of the job (real java processes)', () => {
  let root: string;
  let dynamodb: DynamoDbLocal | undefined;
  let host: LocalCloud | undefined;

  beforeAll(async () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'ERROR');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    root = await mkdtemp(join(tmpdir(), 'lb-jit-'));
    return async () => {
      vi.unstubAllEnvs();
      await rm(root, { recursive: true, force: true });
    };
  });

  afterEach(async () => {
    await dynamodb?.stop();
    dynamodb = undefined;
    await host?.stop();
    host = undefined;
  });

  it('a short-run DynamoDB Local compiles with C1 only and answers requests', async () => {
    dynamodb = await startDynamoDbLocal({ shortRun: true });

    const tables = await createDocumentClient({ dynamodb: dynamodb.endpoint, localCredentials: true }).send(
      new ListTablesCommand({}),
    );

    expect(javaArgs(dynamodb.pid)).toContain(C1_ONLY);
    expect(tables.TableNames).toEqual([]);
  });

  it('by default (a long-lived host) it keeps tiered compilation', async () => {
    dynamodb = await startDynamoDbLocal();

    expect(javaArgs(dynamodb.pid)).not.toContain(C1_ONLY);
  });

  it(
    "a run's host picks C1 only for a batch up to the crossover, and tiered compilation above it",
    async () => {
      const boot = (expectedSelfies: number, name: string) =>
        startLocalCloud({
          stateDir: join(root, name),
          mode: 'run',
          concurrency: 2,
          sandbox: { latencyMs: 0, seed: 'jit' },
          expectedSelfies,
        });

      host = await boot(SHORT_RUN_MAX_SELFIES, 'short');
      const short = hostJavaArgs(host);
      await host.stop();
      host = undefined; // stopped: afterEach must not stop it again if the next boot fails
      host = await boot(SHORT_RUN_MAX_SELFIES + 1, 'long');
      const long = hostJavaArgs(host);

      expect(short).toContain(C1_ONLY);
      expect(long).not.toContain(C1_ONLY);
    },
    HOST_TIMEOUT_MS,
  );
});
