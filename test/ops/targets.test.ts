import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { afterAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../cli/audit.ts';
import { commands } from '../../cli/commands.ts';
import { openTarget } from '../../cli/ops/target.ts';
import { runPurge } from '../../cli/purge.ts';
import { runReconcile } from '../../cli/reconcile.ts';
import { runRedrive } from '../../cli/redrive.ts';
import { runReport } from '../../cli/report.ts';
import { startLocalCloud } from '../../local-cloud/host.ts';
import { statePaths } from '../../local-cloud/state-dir.ts';
import { RESULT_CSV_COLUMNS, SELFIE_CSV_COLUMNS } from '../../operations/reports/audit-output.ts';
import type { CloudFormationSender } from '../../operations/stack-outputs.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { captureIo } from './support.ts';

/** A stand-in CloudFormation client (there is no CloudFormation emulator): answers DescribeStacks. */
function fakeCloudFormation(outputs: Record<string, string>) {
  const asked: Array<{ region: string | undefined; stackName: string | undefined }> = [];
  const factory = (region: string | undefined): CloudFormationSender => ({
    send: (async (command: DescribeStacksCommand) => {
      asked.push({ region, stackName: command.input.StackName });
      return {
        Stacks: [
          {
            StackName: command.input.StackName,
            Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
          },
        ],
      };
    }) as CloudFormationSender['send'],
  });
  return { factory, asked };
}

const STACK_OUTPUTS = {
  SelfieBucketName: 'liveness-selfies-123',
  UploadPrefix: 'uploads/',
  ResultsTableName: 'LivenessBatch-Results-ABC',
  EventBusName: 'liveness-batch',
  WorkQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/work',
  WorkDlqUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/work-dlq',
};

describe('--stack NAME --region R (CloudFormation client mocked: no CloudFormation emulator here)', () => {
  it("reads the table, bucket and queues from the stack's outputs with DescribeStacks", async () => {
    // Prepare
    const cfn = fakeCloudFormation(STACK_OUTPUTS);

    // Act
    const queues = await openTarget({ stack: 'LivenessBatch', region: 'eu-west-1' }, 'queues', {
      cloudFormation: cfn.factory,
    });
    const bucket = await openTarget({ stack: 'LivenessBatch', region: 'eu-west-1' }, 'bucket', {
      cloudFormation: cfn.factory,
    });
    await Promise.all([queues.close(), bucket.close()]);

    // Assess
    expect(cfn.asked).toEqual([
      { region: 'eu-west-1', stackName: 'LivenessBatch' },
      { region: 'eu-west-1', stackName: 'LivenessBatch' },
    ]);
    expect(queues).toMatchObject({
      kind: 'aws',
      description: 'stack LivenessBatch (eu-west-1)',
      tableName: 'LivenessBatch-Results-ABC',
      workQueueUrl: STACK_OUTPUTS.WorkQueueUrl,
      dlqUrl: STACK_OUTPUTS.WorkDlqUrl,
    });
    expect(bucket).toMatchObject({ tableName: 'LivenessBatch-Results-ABC', bucket: 'liveness-selfies-123' });
    expect(await queues.db.config.region()).toBe('eu-west-1');
  });

  it('says which output is missing when the stack is not a liveness-batch stack', async () => {
    // Prepare
    const { WorkDlqUrl: _dlq, ...withoutDlq } = STACK_OUTPUTS;
    const noDlq = fakeCloudFormation(withoutDlq);
    const notOurs = fakeCloudFormation({ SomethingElse: 'x' });

    // Act / Assess
    await expect(
      openTarget({ stack: 'Partial' }, 'queues', { cloudFormation: noDlq.factory }),
    ).rejects.toThrow('Stack Partial has no WorkDlqUrl output');
    await expect(
      runAudit(['--batch', 'b', '--stack', 'Other'], captureIo({ cloudFormation: notOurs.factory })),
    ).rejects.toThrow(/Stack Other has no usable ResultsTableName output/);
  });

  it('refuses conflicting or incomplete targets with what to do', async () => {
    // Act / Assess
    await expect(openTarget({ stack: 'Stack', table: 'Results' }, 'table')).rejects.toThrow(
      /Choose one of --stack, --table/,
    );
    await expect(openTarget({ table: 'Results' }, 'queues')).rejects.toThrow(/needs --stack NAME/);
    await expect(openTarget({ region: 'eu-west-1' }, 'table')).rejects.toThrow(/--region goes with --stack/);
  });
});

describe('the local results when no host runs (DynamoDB Local started on the state folder)', () => {
  const root = mkdtempSync(join(tmpdir(), 'ops-offline-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('audit reads what a real local cloud recorded after it stopped, then stops DynamoDB Local and frees the folder', async () => {
    // Prepare: the real local host verifies one selfie, then stops.
    const host = await startLocalCloud({ stateDir: root, mode: 'run', concurrency: 2 });
    const key = 'uploads/offline/face.jpg';
    try {
      await host.upload(key, await syntheticFace({ seed: 77, width: 240, height: 320 }));
      const selfieId = selfieIdOf({ bucket: host.resources.bucket, key });
      await expect
        .poll(async () => (await host.repository.getResult(selfieId))?.decision, {
          timeout: 30_000,
          interval: 200,
        })
        .toBeDefined();
    } finally {
      await host.stop();
    }
    const io = captureIo();

    // Act
    const code = await runAudit(['--batch', 'offline', '--format', 'json', '--state-dir', root], io);

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(io.out())).toMatchObject({ count: 1, results: [{ key, batchId: 'offline' }] });
    const paths = statePaths(root);
    expect(existsSync(paths.lock)).toBe(false);
    expect(existsSync(paths.dynamodbPid)).toBe(false);
  }, 90_000);

  it('says how to get results when the folder has none', async () => {
    // Act / Assess
    await expect(runAudit(['--batch', 'b', '--state-dir', join(root, 'empty')], captureIo())).rejects.toThrow(
      /No local results in .*liveness-batch run DIR/,
    );
  });
});

describe('the operations commands in the CLI', () => {
  it('are in the command table, each with --help that documents what the issue asks', async () => {
    // Prepare
    const help = async (run: (argv: string[], io: ReturnType<typeof captureIo>) => Promise<number>) => {
      const io = captureIo();
      expect(await run(['--help'], io)).toBe(0);
      return io.out();
    };

    // Act
    const texts = {
      audit: await help(runAudit),
      report: await help(runReport),
      redrive: await help(runRedrive),
      purge: await help(runPurge),
      reconcile: await help(runReconcile),
    };

    // Assess
    for (const name of Object.keys(texts)) {
      expect((await commands[name]?.load())?.name).toBe(name);
    }
    expect(texts.audit).toContain(RESULT_CSV_COLUMNS.join(','));
    expect(texts.audit).toContain(SELFIE_CSV_COLUMNS.join(','));
    expect(texts.report).toContain('--price-per-call N');
    expect(texts.redrive).toContain('StartMessageMoveTask');
    expect(texts.purge).toContain('30d, 12h');
    expect(texts.reconcile).toMatch(/Exit code: 0 when everything matches, 1 when there are discrepancies/);
  });
});
