import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import sharp from 'sharp';

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line?.split(':')[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown (no /proc/cpuinfo)';
  }
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/** The machine the numbers came from: they mean nothing without it. */
export function describeMachine(): string[] {
  return [
    `cores (nproc): ${availableParallelism()}`,
    `memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `CPU: ${cpuModel()}`,
    `Node: ${process.version}; sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}; sharp.concurrency() ${sharp.concurrency()}`,
    `load average at start (1/5/15 min): ${loadAverage()}`,
  ];
}
