import { existsSync } from 'node:fs';
/**
 * Runs bench/upload-latency.ts's measurement against the host of another checkout, in a process of
 * its own (bench/ab.ts compares two). Arguments: JSON { root, vendor, stateDir, files, rate,
 * warmUp, otherClient, idleSeconds }; prints the LatencyResult as one JSON line.
 */
import { join } from 'node:path';
import type { LocalCloud, LocalCloudOptions } from '../../local-cloud/host.ts';
import { measureUploadLatency } from '../upload-latency.ts';

const input = JSON.parse(process.argv[2] ?? '{}') as {
  root: string;
  vendor: { url: string; userId: string; apiKey: string };
  stateDir: string;
  files: string[];
  rate: number;
  warmUp: number;
  otherClient: number;
  idleSeconds: number;
};
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
process.env.AWS_XRAY_MANUAL_MODE ??= '1';
// The checkout under test may predate the layered layout, where the local cloud was infra/local/.
const hostModule = ['local-cloud', join('infra', 'local')]
  .map((folder) => join(input.root, folder, 'host.ts'))
  .find((path) => existsSync(path)) as string;
const host = (await import(hostModule)) as {
  startLocalCloud: (options: LocalCloudOptions) => Promise<LocalCloud>;
};
const result = await measureUploadLatency({
  ...input,
  startLocalCloud: host.startLocalCloud,
  log: (line) => console.error(line),
});
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
