import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../local-cloud/host.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { syntheticFace } from '../../testkit/images.ts';

const HOST_TIMEOUT_MS = 120_000;

/**
 * The local cloud's queues live in memory, so a crashed host loses every message it held. On the
 * next boot the host finds the undecided selfies in the table (on disk) and must get each one to a
 * worker again, once its object is uploaded again: either enqueue sends it (never sent before) or the
 * recovery does (sent before). A selfie that falls between the two stays undecided forever, and the
 * rerun waits on it until its stall watchdog gives up.
 */
describe('a host restarted after a crash finishes what the crashed host left undecided (real emulators)', () => {
  let root: string;
  let host: LocalCloud | undefined;

  const boot = () =>
    startLocalCloud({
      stateDir: join(root, 'state'),
      mode: 'run',
      concurrency: 2,
      sandbox: { latencyMs: 0, seed: 'recovery' },
      bucketPollMs: 100,
    });

  beforeAll(async () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'ERROR');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    root = await mkdtemp(join(tmpdir(), 'lb-recovery-'));
    return async () => {
      vi.unstubAllEnvs();
      await rm(root, { recursive: true, force: true });
    };
  });

  afterEach(async () => {
    await host?.stop();
    host = undefined;
  });

  it(
    'decides a selfie a worker leased before enqueue noted the message as sent (killed in between)',
    async () => {
      // Prepare: the crashed host's state. Enqueue recorded the selfie and sent its message; a worker
      // took the message and leased the selfie; the host died before enqueue's markEnqueued landed.
      host = await boot();
      const key = 'uploads/crashed/leased-before-marked.jpg';
      const selfieId = selfieIdOf({ bucket: host.resources.bucket, key });
      const receivedAt = new Date().toISOString();
      await host.repository.recordReceived({
        selfieId,
        bucket: host.resources.bucket,
        key,
        batchId: 'crashed',
        receivedAt,
      });
      const lease = await host.repository.acquireLease(selfieId, {
        id: 'dead-delivery',
        until: Date.now() + 10 * 60_000,
        receiveCount: 1,
        at: receivedAt,
      });
      expect(lease.status).toBe('acquired');
      await host.stop();

      // Act: the rerun boots on the same state and uploads the folder again.
      host = await boot();
      const booted = host;
      await booted.upload(key, await syntheticFace({ seed: 4201 }));

      // Assess: found at boot, its dead lease released, and decided.
      expect(booted.recovered).toMatchObject({ unfinished: 1, leasesReleased: 1 });
      await expect
        .poll(async () => (await booted.repository.getResult(selfieId))?.decision, {
          timeout: 30_000,
          interval: 200,
          message: 'the leased selfie was never delivered again after the restart',
        })
        .toMatch(/^(VERIFIED|NOT_VERIFIED)$/);
    },
    HOST_TIMEOUT_MS,
  );
});
