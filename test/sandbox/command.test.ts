import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sandboxCommand } from '../../sandbox/command.ts';
import { parseSandboxFlags, SANDBOX_FAULT_FLAGS, sandboxFaultOptions } from '../../sandbox/flags.ts';
import { UsageError } from '../../toolkit/command.ts';

describe('parseSandboxFlags', () => {
  it('reads every flag, with flags winning over SANDBOX_* env variables', () => {
    // Prepare
    const env = {
      SANDBOX_PORT: '5000',
      SANDBOX_ERROR_RATE: '0.3',
      SANDBOX_SEED: 'from-env',
      SANDBOX_CHARGE_FAILURES: 'true',
    };
    const values = {
      port: '6000',
      'latency-ms': '20-80',
      'pending-rate': '0.1',
      'live-ratio': '1',
      'user-id': 'u',
    };

    // Act
    const parsed = parseSandboxFlags(values, env);

    // Assess
    expect(parsed).toMatchObject({
      port: 6000,
      latencyMs: { min: 20, max: 80 },
      pendingRate: 0.1,
      errorRate: 0.3,
      liveRatio: 1,
      seed: 'from-env',
      chargeFailures: true,
      userId: 'u',
    });
    expect(parsed.given.has('apiKey')).toBe(false);
    expect(parsed.given.has('errorRate')).toBe(true);
  });

  it('reuses the fault flags alone, for the local cloud commands', () => {
    // Prepare
    const { values } = parseArgs({
      args: ['--hang-rate', '0.05', '--latency-ms', '15', '--charge-failures'],
      options: { ...sandboxFaultOptions, verbose: { type: 'boolean' } },
    });

    // Act
    const parsed = parseSandboxFlags(values, { SANDBOX_PORT: '1' }, SANDBOX_FAULT_FLAGS);

    // Assess
    expect(parsed).toMatchObject({ hangRate: 0.05, latencyMs: 15, chargeFailures: true });
    expect(parsed.port).toBeUndefined();
  });

  it('names every bad flag in one UsageError, without echoing values', () => {
    // Act
    const attempt = () =>
      parseSandboxFlags(
        { 'pending-rate': '1.5', 'latency-ms': 'fast', port: '70000', 'api-key': '' },
        { SANDBOX_HANG_RATE: '-1' },
      );

    // Assess
    expect(attempt).toThrow(UsageError);
    expect(attempt).toThrow(/--pending-rate must be a number between 0 and 1/);
    expect(attempt).toThrow(/--latency-ms must be N or MIN-MAX/);
    expect(attempt).toThrow(/--port/);
    expect(attempt).toThrow(/--api-key must not be empty/);
    expect(attempt).toThrow(/SANDBOX_HANG_RATE must be a number between 0 and 1/);
  });

  it('reads the money faults: late, pending debit, redirect, forbidden (rate and window), dedupe', () => {
    // Prepare
    const values = {
      'late-rate': '0.1',
      'late-after-ms': '30000',
      'pending-debit-rate': '0.05',
      'redirect-rate': '0.02',
      'redirect-to': 'http://127.0.0.1:9/elsewhere',
      'forbidden-window': '30-60',
      'dedupe-references': 'on',
    };

    // Act
    const parsed = parseSandboxFlags(values, { SANDBOX_FORBIDDEN_RATE: '0.03' });
    const defaults = parseSandboxFlags({}, { SANDBOX_DEDUPE_REFERENCES: 'OFF' });

    // Assess
    expect(parsed).toMatchObject({
      lateRate: 0.1,
      lateAfterMs: 30_000,
      pendingDebitRate: 0.05,
      redirectRate: 0.02,
      redirectTo: 'http://127.0.0.1:9/elsewhere',
      forbiddenRate: 0.03,
      forbiddenWindow: { fromSeconds: 30, toSeconds: 60 },
      dedupeReferences: true,
    });
    expect(defaults.dedupeReferences).toBe(false);
    expect(SANDBOX_FAULT_FLAGS).toEqual(
      expect.arrayContaining(['late-rate', 'pending-debit-rate', 'redirect-to', 'forbidden-window']),
    );
  });

  it('says what is wrong with a bad money-fault flag', () => {
    // Act / Assess
    expect(() => parseSandboxFlags({ 'dedupe-references': 'maybe' }, {})).toThrow(
      /--dedupe-references must be on or off/,
    );
    expect(() => parseSandboxFlags({ 'forbidden-window': '60-30' }, {})).toThrow(
      /--forbidden-window FROM must be less than TO/,
    );
    expect(() => parseSandboxFlags({ 'forbidden-window': 'soon' }, {})).toThrow(/must be FROM-TO/);
    expect(() => parseSandboxFlags({ 'redirect-to': 'not a url' }, {})).toThrow(
      /--redirect-to must be a full http\(s\) URL/,
    );
    expect(() => parseSandboxFlags({ 'redirect-rate': '0.1' }, {})).toThrow(/--redirect-to URL/);
  });

  it('refuses fault rates that add up to more than 1', () => {
    // Act / Assess
    expect(() => parseSandboxFlags({ 'error-rate': '0.7', 'throttle-rate': '0.7' }, {})).toThrow(
      /must not exceed 1/,
    );
  });
});

describe('liveness-batch sandbox', () => {
  afterEach(() => vi.restoreAllMocks());

  it('--help says the scores are simulated and it is not a liveness model, and gives the test credentials', async () => {
    // Prepare
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});

    // Act
    const code = await sandboxCommand.run(['--help']);

    // Assess
    expect(code).toBe(0);
    const text = String(log.mock.calls[0]?.[0]);
    expect(text).toMatch(/NOT A LIVENESS MODEL/);
    expect(text).toMatch(/simulated/i);
    expect(text).toMatch(/derived from the image\s+hash/);
    expect(text).toContain('"sandbox-user"');
    expect(text).toContain('"sandbox-key"');
    for (const flag of [
      '--port',
      '--ledger',
      '--latency-ms',
      '--hang-rate',
      '--charge-failures',
      '--late-rate',
      '--late-after-ms',
      '--pending-debit-rate',
      '--redirect-rate',
      '--redirect-to',
      '--forbidden-rate',
      '--forbidden-window',
      '--dedupe-references',
      'SANDBOX_DEDUPE_REFERENCES',
      'POST /__sandbox/faults',
      'SANDBOX_API_KEY',
    ]) {
      expect(text).toContain(flag);
    }
  });

  it('turns bad flags into a UsageError', async () => {
    // Act / Assess
    await expect(sandboxCommand.run(['--error-rate', '2'])).rejects.toThrow(UsageError);
    await expect(sandboxCommand.run(['--no-such-flag'])).rejects.toThrow(UsageError);
    await expect(sandboxCommand.run(['positional'])).rejects.toThrow(UsageError);
  });

  it('prints the endpoints and a curl example, hides a user-supplied key, and stops on SIGTERM', async () => {
    // Prepare
    const child = spawn(process.execPath, ['bin/liveness-batch.js', 'sandbox', '--port', '0', '--quiet'], {
      env: { ...process.env, SANDBOX_API_KEY: 'my-own-secret-key' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    // Act
    await vi.waitFor(() => expect(output).toContain('Ctrl-C to stop'), { timeout: 30_000, interval: 50 });
    const endpoint = /endpoint \(v4\): (\S+)/.exec(output)?.[1] ?? '';
    const health = await fetch(endpoint.replace('/sfx-v4-verify/v4/id-service', '/__sandbox/health'));
    child.kill('SIGTERM');
    const code = await exited;

    // Assess
    expect(health.status).toBe(200);
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sfx-v4-verify\/v4\/id-service$/);
    expect(output).toContain('/sfx-verify/v3/id-service/');
    expect(output).toMatch(/not a liveness model/i);
    expect(output).toContain('curl -sS');
    expect(output).toContain('$SANDBOX_API_KEY');
    expect(output).not.toContain('my-own-secret-key');
    expect(output).toContain('Liveness sandbox stopped.');
    expect(code).toBe(0);
  });
});
