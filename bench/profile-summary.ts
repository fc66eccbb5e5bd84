/**
 * Where a `node --cpu-prof` profile spent its time: self time grouped by package (node_modules/<pkg>),
 * by project folder, or by function. Usage: tsx bench/profile-summary.ts FILE.cpuprofile [--functions]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function groupOf(url: string): string {
  if (!url) return '(native/gc/idle)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return url;
  const project = url.match(/\/(cli|infra|functions|shared|sandbox|bench|test)\/[^?]*/);
  return project ? project[0].split('/').slice(0, 3).join('/') : url;
}

export function summarise(profile: CpuProfile, byFunction: boolean): Array<[string, number]> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = byFunction
      ? `${functionName || '(anonymous)'} ${groupOf(url)}:${lineNumber + 1}`
      : functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)'
        ? functionName
        : groupOf(url);
    totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...totals.entries()].sort((a, b) => b[1] - a[1]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, flag] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [--functions]');
  const rows = summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, flag === '--functions');
  const total = rows.reduce((sum, [, ms]) => sum + ms, 0);
  for (const [key, ms] of rows.slice(0, 40)) {
    console.log(
      `${(ms / 1000).toFixed(2).padStart(8)} s ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${key}`,
    );
  }
}
