import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli-runs.ts';

const home = mkdtempSync(join(tmpdir(), 'lb-sdk-warning-'));

describe("the CLI's output carries no AWS SDK NodeVersionSupportWarning", () => {
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('audit --stack builds SDK clients (no credentials here, so it stops at once) and prints no SDK warning', () => {
    // Prepare: the environment of a user who never heard of the SDK's switch (the SDK warns below Node 22)
    const env = { PATH: process.env.PATH ?? '', HOME: home, AWS_REGION: 'us-east-1' };
    // Act
    const out = spawnSync(
      process.execPath,
      [join(repoRoot, 'bin', 'liveness-batch.js'), 'audit', '--batch', 'b', '--stack', 'NoSuchStack'],
      { cwd: repoRoot, env, encoding: 'utf8', timeout: 50_000 },
    );
    // Assess: the command got as far as the SDK's credential chain, and the SDK stayed quiet
    expect(out.stderr).toMatch(/credentials/i);
    expect(out.stderr + out.stdout).not.toContain('NodeVersionSupportWarning');
  });
});
