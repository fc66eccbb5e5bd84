import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli-runs.ts';

const script = join(repoRoot, 'bin', 'check-prereqs.js');
const folders: string[] = [];

/** A PATH holding only a `java` that reports `version` (or no java at all). */
function pathWithJava(version: string | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-prereqs-'));
  folders.push(dir);
  if (version) {
    const java = join(dir, 'java');
    writeFileSync(java, `#!/bin/sh\necho 'openjdk version "${version}" 2025-04-15' >&2\n`);
    chmodSync(java, 0o755);
  }
  return dir;
}

function checkPrereqs(path: string) {
  return spawnSync(process.execPath, [script], { env: { PATH: path }, encoding: 'utf8' });
}

describe('bin/check-prereqs.js (npm pretest)', () => {
  afterAll(() => {
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });

  it('stops with the apt command when java is not on PATH', () => {
    // Act
    const out = checkPrereqs(pathWithJava(undefined));
    // Assess
    expect(out.status).toBe(1);
    expect(out.stderr).toContain('`java` is not on PATH');
    expect(out.stderr).toMatch(/sudo apt-get install -y openjdk-17-jre-headless( chromium)?\n/);
  });

  it('stops when java is older than 17, and names the version it found', () => {
    const out = checkPrereqs(pathWithJava('11.0.2'));
    expect(out.status).toBe(1);
    expect(out.stderr).toContain('found Java 11');
  });

  it('reads the old 1.x numbering as the Java version it is', () => {
    const out = checkPrereqs(pathWithJava('1.8.0_402'));
    expect(out.stderr).toContain('found Java 8');
  });

  it('passes silently with Java 17 and Chromium present (this machine has Chromium)', () => {
    const out = checkPrereqs(pathWithJava('17.0.15'));
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
  });
});
