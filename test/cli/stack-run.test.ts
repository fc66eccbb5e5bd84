import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStackRunFlags } from '../../cli/stack-run-flags.ts';
import { stackOutputsFor } from '../../cli/stack-session.ts';
import type { CloudFormationSender } from '../../operations/stack-outputs.ts';
import { UsageError } from '../../toolkit/command.ts';

const dir = mkdtempSync(join(tmpdir(), 'lb-stack-run-'));
const outputs = { SelfieBucketName: 'selfies-1', UploadPrefix: 'uploads/', ResultsTableName: 'results-1' };

/** What `cdk deploy --outputs-file` writes: one object per stack, keyed by output name. */
function outputsFile(content: unknown): string {
  const file = join(dir, `outputs-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('run --stack: flags and stack outputs', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs on the local cloud without --stack, and refuses --outputs or --region alone', () => {
    expect(parseStackRunFlags({})).toBeUndefined();
    expect(() => parseStackRunFlags({ outputs: 'cdk-outputs.json' })).toThrow(/go with --stack/);
    expect(() => parseStackRunFlags({ region: 'eu-west-1' })).toThrow(UsageError);
  });

  it('refuses the local cloud flags with --stack, naming them', () => {
    expect(() => parseStackRunFlags({ stack: 'S', concurrency: '4', bundled: true })).toThrow(
      'Not with --stack: --concurrency, --bundled',
    );
    expect(parseStackRunFlags({ stack: 'S', verbose: true, region: 'eu-west-1' })).toEqual({
      stack: 'S',
      region: 'eu-west-1',
    });
  });

  it('reads the named stack from the outputs file', async () => {
    const file = outputsFile({ Other: { ResultsTableName: 'x' }, LivenessBatch: outputs });
    await expect(stackOutputsFor({ stack: 'LivenessBatch', outputsFile: file })).resolves.toMatchObject(
      outputs,
    );
  });

  it('says which stacks the file has, or which output is missing', async () => {
    const file = outputsFile({ Other: outputs, Partial: { SelfieBucketName: 'b' } });
    await expect(stackOutputsFor({ stack: 'LivenessBatch', outputsFile: file })).rejects.toThrow(
      'has no stack "LivenessBatch" (it has: Other, Partial)',
    );
    await expect(stackOutputsFor({ stack: 'Partial', outputsFile: file })).rejects.toThrow(
      'no usable ResultsTableName output',
    );
    await expect(stackOutputsFor({ stack: 'S', outputsFile: outputsFile('{not json') })).rejects.toThrow(
      /not readable JSON/,
    );
  });

  it('asks CloudFormation in the given region without --outputs (stand-in client: no CloudFormation emulator)', async () => {
    // Prepare
    const asked: Array<string | undefined> = [];
    const cloudFormation = (region: string | undefined): CloudFormationSender => ({
      send: (async (command: DescribeStacksCommand) => {
        asked.push(`${region}:${command.input.StackName}`);
        return {
          Stacks: [
            {
              Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({
                OutputKey,
                OutputValue,
              })),
            },
          ],
        };
      }) as CloudFormationSender['send'],
    });
    // Act
    const read = await stackOutputsFor({ stack: 'LivenessBatch', region: 'eu-west-1' }, cloudFormation);
    // Assess
    expect(read).toMatchObject(outputs);
    expect(asked).toEqual(['eu-west-1:LivenessBatch']);
  });
});
