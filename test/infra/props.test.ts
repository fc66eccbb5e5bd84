import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { propsFromContext } from '../../infra/stack/context.ts';
import { resolveSettings } from '../../infra/stack/props.ts';
import { pipelineSettings } from '../../shared/settings.ts';

/** A bare construct root with context, as `cdk -c` would set on the App (an App would create a temp outdir). */
function rootWithContext(context: Record<string, unknown>): Construct {
  const root = new Construct(undefined as never, '');
  for (const [key, value] of Object.entries(context)) root.node.setContext(key, value);
  return root;
}

describe('stack props: defaults and validation in one place', () => {
  it('defaults everything from the shared pipeline settings', () => {
    // Prepare / Act
    const settings = resolveSettings();
    // Assess
    expect(settings).toMatchObject({
      uploadPrefix: pipelineSettings.uploadPrefix,
      vendorUrl: pipelineSettings.vendor.defaultUrl,
      selfieRetentionDays: pipelineSettings.selfieRetentionDays,
      workerTimeoutSeconds: pipelineSettings.worker.timeoutSeconds,
      workQueueVisibilityTimeoutSeconds: pipelineSettings.workQueue.visibilityTimeoutSeconds,
      workerBatchSize: pipelineSettings.worker.batchSize,
      workerMaxConcurrency: pipelineSettings.worker.maxConcurrency,
      maxReceiveCount: pipelineSettings.workQueue.maxReceiveCount,
      minLiveScore: undefined,
      maxPopScore: undefined,
      alarmEmail: undefined,
      webhook: undefined,
    });
  });

  it.each([
    [{ vendorUrl: 'http://insecure.example.com' }, 'vendorUrl'],
    [{ minLiveScore: 150 }, 'minLiveScore'],
    [{ selfieRetentionDays: 0 }, 'selfieRetentionDays'],
    [{ workerMaxConcurrency: 1 }, 'workerMaxConcurrency'],
    [{ workerBatchSize: 50, workerBatchingWindowSeconds: 0 }, 'workerBatchSize'],
    [{ workerTimeoutSeconds: 901 }, 'workerTimeoutSeconds'],
    [{ logRetentionDays: 31 }, 'logRetentionDays'],
    [{ logRetentionDays: 180 }, 'logRetentionDays'],
    [{ maxPaidCallsPerDay: 0 }, 'maxPaidCallsPerDay'],
    [{ maxPaidCallsPerDay: 2.5 }, 'maxPaidCallsPerDay'],
    [{ maxUncertainCalls: 0 }, 'maxUncertainCalls'],
    [{ reviewQueueAgeAlarmSeconds: 14 * 86400 }, 'reviewQueueAgeAlarmSeconds'],
    [{ alarmEmail: 'not-an-email' }, 'alarmEmail'],
    [{ webhook: { endpointUrl: 'ftp://x' } }, 'webhook.endpointUrl'],
    [{ vendorTimeoutMs: 200_000 }, 'vendorTimeoutMs'],
  ])('rejects %o at synth', (props, name) => {
    // Prepare / Act
    const act = () => resolveSettings(props);
    // Assess
    expect(act).toThrow(name);
  });

  it('defaults the paid-call cap to none, uncertain calls to 2, the lease to the timeout + 20 s, log retention to a year', () => {
    // Prepare / Act
    const settings = resolveSettings({ workerTimeoutSeconds: 60 });
    // Assess
    expect(settings).toMatchObject({
      maxPaidCallsPerDay: undefined,
      maxUncertainCalls: 2,
      leaseSeconds: 80,
      workQueueVisibilityTimeoutSeconds: 360,
      logRetentionDays: 365,
      reviewQueueAgeAlarmSeconds: 86400,
    });
  });

  it.each([
    [
      'a vendor call plus the recording margin longer than the worker timeout',
      { workerTimeoutSeconds: 20 },
      "vendorTimeoutMs (15000) plus the worker's 10000 ms recording margin must fit in workerTimeoutSeconds (20 s)",
    ],
    [
      'a worker timeout longer than the lease',
      { workerTimeoutSeconds: 120, leaseSeconds: 100 },
      'workerTimeoutSeconds (120) must not exceed leaseSeconds (100)',
    ],
    [
      'a visibility timeout under 6 worker timeouts',
      { workerTimeoutSeconds: 120, workQueueVisibilityTimeoutSeconds: 600 },
      'workQueueVisibilityTimeoutSeconds (600) must be at least 6 x workerTimeoutSeconds (120), i.e. 720',
    ],
  ])('rejects contradictory timeouts: %s, naming both values', (_name, props, message) => {
    // Prepare / Act
    const act = () => resolveSettings(props);
    // Assess
    expect(act).toThrow(message);
  });

  it('accepts timeouts that nest exactly: vendor + margin = worker timeout = lease, visibility = 6 x timeout', () => {
    // Prepare / Act
    const settings = resolveSettings({
      vendorTimeoutMs: 20_000,
      workerTimeoutSeconds: 30,
      leaseSeconds: 30,
      workQueueVisibilityTimeoutSeconds: 180,
    });
    // Assess
    expect(settings).toMatchObject({
      workerTimeoutSeconds: 30,
      leaseSeconds: 30,
      workQueueVisibilityTimeoutSeconds: 180,
    });
  });

  it('reads props from CDK context (strings from -c, numbers from cdk.json)', () => {
    // Prepare
    const app = rootWithContext({
      vendorUrl: 'https://vendor.example.com/v4/id-service',
      minLiveScore: '80',
      workerMaxConcurrency: 12,
      preflightMaxBytes: '5000000',
      alarmEmail: 'ops@example.com',
      webhookUrl: 'https://hooks.example.com/a',
      webhookApiKeyHeaderName: 'X-Key',
      maxPaidCallsPerDay: '1000',
      maxUncertainCalls: 3,
    });
    // Act
    const props = propsFromContext(app.node);
    // Assess
    expect(props).toEqual({
      vendorUrl: 'https://vendor.example.com/v4/id-service',
      minLiveScore: 80,
      workerMaxConcurrency: 12,
      preflightMaxBytes: 5_000_000,
      alarmEmail: 'ops@example.com',
      webhook: { endpointUrl: 'https://hooks.example.com/a', apiKeyHeaderName: 'X-Key' },
      maxPaidCallsPerDay: 1000,
      maxUncertainCalls: 3,
    });
    expect(resolveSettings(props).workerMaxConcurrency).toBe(12);
  });

  it('rejects a context number that is not a number', () => {
    // Prepare
    const app = rootWithContext({ workerMaxConcurrency: 'ten' });
    // Act / Assess
    expect(() => propsFromContext(app.node)).toThrow('workerMaxConcurrency');
  });
});
