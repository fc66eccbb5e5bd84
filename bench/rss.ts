/**
 * Memory and CPU of running processes from /proc (Linux): the `liveness-batch run` Node process
 * and its DynamoDB Local java child, sampled while they work. VmHWM is the kernel's own peak RSS.
 */
import { readFileSync } from 'node:fs';

export interface ProcessPeak {
  /** Highest VmHWM seen (kernel peak RSS), bytes. */
  peakRss: number;
  /** Last VmRSS seen, bytes. */
  lastRss: number;
  /** CPU time (user + system) at the last sample, seconds. */
  cpuSeconds: number;
}

const CLOCK_TICKS = 100;

function statusField(pid: number, field: string): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${field}:`));
    const kib = Number(line?.split(/\s+/)[1]);
    return Number.isFinite(kib) ? kib * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Whole-machine CPU time (busy, total) in seconds since boot, from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const ticks = line.split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
}

/** Samples named processes every `intervalMs` until stopped; a pid that is not known yet is skipped. */
export function sampleProcesses(pids: () => Record<string, number | undefined>, intervalMs = 250) {
  const peaks: Record<string, ProcessPeak> = {};
  const sample = () => {
    for (const [name, pid] of Object.entries(pids())) {
      if (pid === undefined) continue;
      const hwm = statusField(pid, 'VmHWM');
      const rss = statusField(pid, 'VmRSS');
      const cpu = cpuSecondsOf(pid);
      if (hwm === undefined || rss === undefined || cpu === undefined) continue;
      const peak = peaks[name] ?? { peakRss: 0, lastRss: 0, cpuSeconds: 0 };
      peaks[name] = peak;
      peak.peakRss = Math.max(peak.peakRss, hwm, rss);
      peak.lastRss = rss;
      peak.cpuSeconds = cpu;
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    peaks,
    sampleNow: sample,
    stop(): Record<string, ProcessPeak> {
      clearInterval(timer);
      return peaks;
    },
  };
}

export const mib = (bytes: number) => (bytes / 1024 ** 2).toFixed(0);
