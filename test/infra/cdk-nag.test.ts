import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { synthStack } from './stack-fixture.ts';

interface ValidationReport {
  pluginReports: { pluginName: string; conclusion: string; violations: { ruleName: string }[] }[];
}

/** cdk-nag 3 runs at synth as a policy-validation plugin and throws "Validation failed" on findings. */
function synthWithNag(app: App): { error: unknown; report: ValidationReport | undefined } {
  let error: unknown;
  try {
    app.synth();
  } catch (e) {
    error = e;
  }
  const reportPath = path.join(app.outdir, 'validation-report.json');
  const report = existsSync(reportPath)
    ? (JSON.parse(readFileSync(reportPath, 'utf8')) as ValidationReport)
    : undefined;
  return { error, report };
}

function acknowledgements(root: IConstruct): Record<string, string>[] {
  return root.node
    .findAll()
    .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
    .map((m) => m.data as Record<string, string>);
}

describe('cdk-nag AwsSolutions checks', () => {
  it('catches an unacknowledged finding (control: the harness sees failures)', () => {
    // Prepare
    const outdir = mkdtempSync(path.join(os.tmpdir(), 'liveness-batch-nag-'));
    const app = new App({ outdir });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    new sqs.Queue(new Stack(app, 'Careless'), 'PlainQueue');
    try {
      // Act
      const { error, report } = synthWithNag(app);
      // Assess
      expect(String(error)).toMatch(/Validation ?failed/i);
      const nag = report?.pluginReports.find((p) => p.pluginName === 'AwsSolutions');
      expect(nag?.conclusion).toBe('failure');
      expect(nag?.violations.map((v) => v.ruleName)).toEqual(
        expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']),
      );
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it.each([
    ['defaults', {}],
    [
      'webhook and email',
      { webhook: { endpointUrl: 'https://hooks.example.com/a' }, alarmEmail: 'ops@example.com' },
    ],
  ])('reports zero unacknowledged findings (%s)', (_name, props) => {
    // Prepare
    const fx = synthStack(props, {
      beforeSynth: (app) => Validations.of(app).addPlugins(new AwsSolutionsChecks(app)),
    });
    try {
      // Act: synthStack already synthesized (Template.fromStack), so a finding would have thrown there
      const { error, report } = synthWithNag(fx.app);
      const direct = new AwsSolutionsChecks().validateScope(fx.stack);
      // Assess
      expect(error).toBeUndefined();
      const failed = report?.pluginReports.filter((p) => p.conclusion !== 'success') ?? [];
      expect(failed).toEqual([]);
      expect(direct.violations).toEqual([]);
      expect(direct.success).toBe(true);
    } finally {
      fx.cleanup();
    }
  });

  it('acknowledges only the expected findings, each with a written reason', () => {
    // Prepare
    const fx = synthStack({ webhook: { endpointUrl: 'https://hooks.example.com/a' } });
    try {
      // Act
      const acks = acknowledgements(fx.stack);
      // Logical ids end in an 8-hex-digit hash; drop it so the list reads (and stays) stable.
      const ids = new Set(
        acks
          .flatMap((a) => Object.keys(a))
          .filter((id) => id.includes('AwsSolutions-'))
          .map((id) => id.replace(/^annotation::/i, '').replace(/([A-Za-z]+)[0-9A-F]{8}\.Arn>/, '$1.Arn>')),
      );
      // Assess
      for (const ack of acks) {
        for (const reason of Object.values(ack)) expect(reason.length).toBeGreaterThan(40);
      }
      const basicRole =
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]';
      expect([...ids].sort()).toEqual(
        [
          basicRole,
          'AwsSolutions-IAM5[Resource::*]',
          'AwsSolutions-IAM5[Resource::<StorageSelfieBucket.Arn>/uploads/*]',
          'AwsSolutions-S1',
          'AwsSolutions-SMG4',
          'AwsSolutions-SQS3',
        ].sort(),
      );
    } finally {
      fx.cleanup();
    }
  });
});
