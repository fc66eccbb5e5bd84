import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommandLine, parseLocalCloudFlags } from '../../cli/local-flags.ts';
import { propsFromContext } from '../../infra/stack/context.ts';
import { resolveSettings } from '../../infra/stack/props.ts';
import { localHandlerEnv } from '../../local-cloud/host.ts';
import { readHandlerEnv } from '../../shared/config.ts';
import {
  flagTunableNames,
  stackTunableNames,
  type TunableName,
  tunableNames,
  tunables,
} from '../../shared/tunables.ts';
import { type StackFixture, synthStack } from './stack-fixture.ts';

/**
 * A value for a tunable that is valid on its own and is not its default, found from its schema, so a
 * new tunable is covered here without editing this file.
 */
function sampleFor(name: TunableName): number | string {
  const candidates: Array<number | string> =
    tunables[name].kind === 'number' ? [7, 3, 42, 300, 20_000] : ['https://vendor.example.com/v4/id-service'];
  const fallback = tunables[name].schema.safeParse(undefined).data;
  const sample = candidates.find((candidate) => {
    if (candidate === fallback || !tunables[name].schema.safeParse(candidate).success) return false;
    if (!tunables[name].onStack) return true;
    try {
      resolveSettings({ [name]: candidate });
      return true;
    } catch {
      return false;
    }
  });
  if (sample === undefined) throw new Error(`no sample value for ${name}: add a candidate above`);
  return sample;
}

const samples = Object.fromEntries(tunableNames.map((name) => [name, sampleFor(name)])) as Record<
  TunableName,
  number | string
>;

const wiring = {
  tableName: 'results',
  workQueueUrl: 'http://127.0.0.1:1/queue/work',
  vendor: { url: 'http://127.0.0.1:2/sfx-v4-verify/v4/id-service', userId: 'u', apiKey: 'k' },
};

describe('one schema for every tunable (shared/tunables.ts)', () => {
  let fx: StackFixture;
  let workerEnv: Record<string, string>;

  beforeAll(() => {
    const props = Object.fromEntries(stackTunableNames.map((name) => [name, samples[name]]));
    fx = synthStack(props);
    const worker = Object.values(fx.template.findResources('AWS::Lambda::Function')).find(
      (resource) => resource.Properties?.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'worker',
    );
    workerEnv = worker?.Properties.Environment.Variables ?? {};
  }, 120_000);
  afterAll(() => fx?.cleanup());

  it.each(stackTunableNames)(
    'stack prop %s reaches the worker Lambda environment and reads back as given',
    (name) => {
      // Prepare / Act: the synthesized environment, read as the worker reads it (resource names are
      // CloudFormation references in the template, so only the literal values are read)
      const literals = Object.fromEntries(Object.entries(workerEnv).filter(([, v]) => typeof v === 'string'));
      const read = readHandlerEnv(literals);
      // Assess
      expect(workerEnv[tunables[name].env]).toBe(String(samples[name]));
      expect(read.tunables[name]).toBe(samples[name]);
    },
  );

  it.each(stackTunableNames)('stack prop %s is read from CDK context under its own name', (name) => {
    // Prepare
    const root = { tryGetContext: (key: string) => (key === name ? String(samples[name]) : undefined) };
    // Act
    const props = propsFromContext(root as never);
    // Assess
    expect(props).toEqual({ [name]: samples[name] });
  });

  it.each(tunableNames)('tunable %s given to the local host reaches its handler environment', (name) => {
    // Prepare / Act
    const env = localHandlerEnv(wiring, { [name]: samples[name] });
    // Assess: the vendor URL is the host's own (the sandbox or --vendor-url)
    expect(env.tunables[name]).toBe(name === 'vendorUrl' ? wiring.vendor.url : samples[name]);
  });

  it.each(flagTunableNames)(
    'tunable %s is a flag of run and up that reaches the local handler environment',
    (name) => {
      // Prepare
      const { flag } = tunables[name];
      const { values } = parseCommandLine([`--${flag.name}`, String(samples[name])], {}, false);
      // Act
      const flags = parseLocalCloudFlags(values, {});
      const env = localHandlerEnv(wiring, flags.tunables);
      // Assess
      expect(env.tunables[name]).toBe(samples[name]);
    },
  );

  it.each(flagTunableNames)('tunable flag %s rejects what its schema rejects, naming the flag', (name) => {
    // Prepare
    const { flag } = tunables[name];
    const { values } = parseCommandLine([`--${flag.name}`, 'lots'], {}, false);
    // Act / Assess
    expect(() => parseLocalCloudFlags(values, {})).toThrow(`--${flag.name} must be a number`);
  });
});
