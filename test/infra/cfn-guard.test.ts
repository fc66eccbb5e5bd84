import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { GUARD_PLUGIN_NAME, guardAcknowledgements } from '../../infra/stack/guard.ts';
import { synthStack } from './stack-fixture.ts';

interface Violation {
  ruleName: string;
  violatingConstructs?: { constructPath: string }[];
}
interface ValidationReport {
  pluginReports: {
    pluginName: string;
    conclusion: string;
    violations: Violation[];
    suppressedViolations?: Violation[];
  }[];
}

/** Synthesizes with the plugin(s) registered; a finding throws "Validation failed" and writes the report. */
function synthWithPlugins(app: App): { error: unknown; report: ValidationReport | undefined } {
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

const guardReport = (report: ValidationReport | undefined) =>
  report?.pluginReports.find((p) => p.pluginName === GUARD_PLUGIN_NAME);

/** `rule -> construct paths (below the stack)` for a list of violations, sorted, to compare exactly. */
function byRule(violations: Violation[] | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of violations ?? []) {
    const paths = (v.violatingConstructs ?? []).map((c) => c.constructPath.split('/').slice(1, 3).join('/'));
    out[v.ruleName] = [...(out[v.ruleName] ?? []), ...paths].sort();
  }
  return out;
}

function guardAcknowledgementsIn(root: IConstruct): Record<string, string>[] {
  return root.node
    .findAll()
    .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
    .map((m) => m.data as Record<string, string>)
    .filter((ack) => Object.keys(ack).some((id) => id.startsWith(`${GUARD_PLUGIN_NAME}::`)));
}

describe('AWS Control Tower proactive rules (cfn-guard, binary from the npm package)', () => {
  it('catches an unencrypted, short-lived log group and an SSE-S3 bucket (control: the harness sees failures)', () => {
    // Prepare
    const outdir = mkdtempSync(path.join(os.tmpdir(), 'liveness-batch-guard-'));
    const app = new App({ outdir });
    Validations.of(app).addPlugins(new CfnGuardValidator());
    const careless = new Stack(app, 'Careless');
    new logs.LogGroup(careless, 'ShortLogs', { retention: logs.RetentionDays.ONE_MONTH });
    new s3.Bucket(careless, 'PlainBucket', { encryption: s3.BucketEncryption.S3_MANAGED });
    try {
      // Act
      const { error, report } = synthWithPlugins(app);
      // Assess
      expect(String(error)).toMatch(/Validation ?failed/i);
      expect(guardReport(report)?.conclusion).toBe('failure');
      expect(Object.keys(byRule(guardReport(report)?.violations))).toEqual(
        expect.arrayContaining([
          'cloudwatch_log_group_encrypted_check',
          'cloudwatch_log_group_retention_period_check',
          's3_bucket_default_encryption_kms_check',
        ]),
      );
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('reports zero unacknowledged findings with default props', () => {
    // Prepare
    const fx = synthStack(
      {},
      { beforeSynth: (app) => Validations.of(app).addPlugins(new CfnGuardValidator()) },
    );
    try {
      // Act: synthStack already synthesized once (Template.fromStack); a finding would have thrown there
      const { error, report } = synthWithPlugins(fx.app);
      // Assess
      expect(error).toBeUndefined();
      expect(guardReport(report)?.violations).toEqual([]);
      expect(guardReport(report)?.conclusion).toBe('success');
    } finally {
      fx.cleanup();
    }
  });

  it('with webhook and email: zero unacknowledged findings, and exactly the acknowledged rules suppressed on exactly the constructs they concern', () => {
    // Prepare
    const fx = synthStack(
      { webhook: { endpointUrl: 'https://hooks.example.com/a' }, alarmEmail: 'ops@example.com' },
      { beforeSynth: (app) => Validations.of(app).addPlugins(new CfnGuardValidator()) },
    );
    try {
      // Act
      const { error, report } = synthWithPlugins(fx.app);
      const suppressed = byRule(guardReport(report)?.suppressedViolations);
      // Assess: what is fixed (KMS on selfies and logs, retention, access-log versioning, the grant
      // check) appears nowhere; what is accepted appears only where its reason applies.
      expect(error).toBeUndefined();
      expect(guardReport(report)?.violations).toEqual([]);
      const notificationsHandler = Object.values(suppressed)
        .flat()
        .find((p) => p.startsWith('BucketNotificationsHandler'));
      expect(suppressed).toEqual({
        lambda_inside_vpc_check: [
          notificationsHandler,
          'EnqueueSelfies/Function',
          'PublishOutcomes/Function',
          'VerifySelfies/Function',
        ].sort(),
        s3_bucket_default_encryption_kms_check: ['Storage/AccessLogBucket'],
        s3_bucket_logging_enabled_check: ['Storage/AccessLogBucket'],
        s3_event_notifications_enabled_check: ['Storage/AccessLogBucket', 'Storage/SelfieBucket'],
        s3_bucket_object_lock_enabled_check: ['Storage/AccessLogBucket', 'Storage/SelfieBucket'],
        sqs_dlq_check: [
          'Events/WebhookDlq',
          'Queues/EnqueueFailureQueue',
          'Queues/OpsDlq',
          'Queues/PublishFailureQueue',
          'Queues/ReviewDlq',
          'Queues/WorkDlq',
        ],
      });
    } finally {
      fx.cleanup();
    }
  });

  it('gives every acknowledged rule a written reason that names the Control Tower control', () => {
    // Prepare
    const fx = synthStack({ webhook: { endpointUrl: 'https://hooks.example.com/a' } });
    try {
      // Act
      const acks = guardAcknowledgementsIn(fx.stack);
      // Assess
      expect(acks.length).toBeGreaterThan(0);
      for (const ack of acks) {
        for (const reason of Object.values(ack)) {
          expect(reason).toMatch(/^CT\.[A-Z0-9]+\.PR\.\d+: .{60,}/);
        }
      }
      const rules = new Set(acks.flatMap((a) => Object.keys(a)));
      expect([...rules].sort()).toEqual(
        [
          ...new Set(Object.values(guardAcknowledgements).map((a) => `${GUARD_PLUGIN_NAME}::${a.rule}`)),
        ].sort(),
      );
    } finally {
      fx.cleanup();
    }
  });
});
