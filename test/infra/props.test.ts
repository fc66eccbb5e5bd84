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
    [{ alarmEmail: 'not-an-email' }, 'alarmEmail'],
    [{ webhook: { endpointUrl: 'ftp://x' } }, 'webhook.endpointUrl'],
    [{ vendorTimeoutMs: 200_000 }, 'vendorTimeoutMs'],
  ])('rejects %o at synth', (props, name) => {
    // Prepare / Act
    const act = () => resolveSettings(props);
    // Assess
    expect(act).toThrow(name);
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
    });
    // Act
    const props = propsFromContext(app.node);
    // Assess
    expect(props).toEqual({
      vendorUrl: 'https://vendor.example.com/v4/id-service',
      minLiveScore: 80,
      workerMaxConcurrency: 12,
      preflight: { maxBytes: 5_000_000 },
      alarmEmail: 'ops@example.com',
      webhook: { endpointUrl: 'https://hooks.example.com/a', apiKeyHeaderName: 'X-Key' },
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
