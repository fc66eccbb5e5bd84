import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { LivenessBatchStack } from '../../infra/stack/liveness-batch-stack.ts';
import type { LivenessBatchStackProps } from '../../infra/stack/props.ts';

/** The feature flags `cdk synth` applies (e.g. minimized IAM policies), so tests see the deployed template. */
const cdkJsonContext: Record<string, unknown> = JSON.parse(
  readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'),
).context;

/** A synthesized stack in its own temp outdir; call `cleanup()` when done (bundled assets are large). */
export interface StackFixture {
  app: App;
  stack: LivenessBatchStack;
  template: Template;
  outdir: string;
  cleanup: () => void;
}

/**
 * Builds the stack. Asset bundling is skipped (`aws:cdk:bundling-stacks: []`) unless `bundle` is set,
 * so unit tests do not run esbuild and npm for every App.
 */
export function synthStack(
  props: LivenessBatchStackProps = {},
  options: { bundle?: boolean; beforeSynth?: (app: App) => void } = {},
): StackFixture {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'liveness-batch-cdk-'));
  const app = new App({
    outdir,
    context: { ...cdkJsonContext, ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  const cleanup = () => rmSync(outdir, { recursive: true, force: true });
  try {
    options.beforeSynth?.(app);
    const stack = new LivenessBatchStack(app, 'TestLivenessBatch', props);
    const template = Template.fromStack(stack);
    return { app, stack, template, outdir, cleanup };
  } catch (error) {
    cleanup();
    throw error;
  }
}

/** The logical id of the one resource of `type` whose id starts with `prefix`. */
export function logicalIdOf(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ')}`);
  return ids[0] as string;
}

/** The key policy statements of the one KMS key whose logical id starts with `prefix`. */
export function keyPolicyStatements(template: Template, prefix: string): Record<string, unknown>[] {
  const key = template.findResources('AWS::KMS::Key')[logicalIdOf(template, 'AWS::KMS::Key', prefix)];
  return (key?.Properties.KeyPolicy.Statement ?? []) as Record<string, unknown>[];
}
