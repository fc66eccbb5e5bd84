/**
 * Where a `node --cpu-prof` profile spent its time: self time grouped by package (node_modules/<pkg>),
 * by project folder, by function, or by pipeline component (`byComponent`).
 * Usage: tsx bench/profile-summary.ts FILE.cpuprofile [--functions | --components]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
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

/**
 * The parts of the pipeline a sample's time belongs to. A sample is attributed to the nearest frame
 * on its stack (leaf first) whose code says what it is for; frames of shared plumbing (the SDK's
 * core, Node's HTTP and streams) only say so when nothing above them does, which happens after an
 * `await` cut the stack.
 */
export const COMPONENTS = [
  'table requests (DynamoDB client)',
  'S3/SQS (clients and the fauxqs emulator)',
  'event publishing (stream poller, bus)',
  'preflight (sharp)',
  'vendor client',
  'logging and metrics',
  'handlers and orchestration',
  'AWS SDK core (any client)',
  'Node core (HTTP, streams, timers)',
  'GC and VM',
] as const;
export type Component = (typeof COMPONENTS)[number];

/** A package name, or a project file's path from the repository root. */
function whereOf(url: string): string {
  const project = url.includes('node_modules/')
    ? null
    : url.match(/\/((?:cli|infra|functions|shared|sandbox|bench|test)\/[^?]*)/);
  return project?.[1] ?? groupOf(url);
}

function componentOfGroup(group: string, functionName: string): Component | undefined {
  if (
    /^@aws-sdk\/(client-dynamodb$|lib-dynamodb|util-dynamodb|dynamodb-codec|endpoint-cache|middleware-endpoint-discovery)/.test(
      group,
    ) ||
    group.startsWith('shared/results/')
  )
    return 'table requests (DynamoDB client)';
  if (
    /^@aws-sdk\/(client-s3|client-sqs|middleware-sdk-s3|middleware-sdk-sqs|xml-builder|signature-v4-multi-region)/.test(
      group,
    ) ||
    /^(fauxqs|fastify|@fastify\/|avvio|find-my-way|light-my-request|fast-json-stringify|fast-querystring|fast-xml-parser|strnum|mnemonist|ajv|fast-uri)/.test(
      group,
    )
  )
    return 'S3/SQS (clients and the fauxqs emulator)';
  if (
    /^@aws-sdk\/client-dynamodb-streams/.test(group) ||
    /local-cloud\/(stream-poller|event-bus|upload-retention)|functions\/publish|shared\/events/.test(group)
  )
    return 'event publishing (stream poller, bus)';
  if (group === 'sharp' || group.startsWith('shared/preflight/')) return 'preflight (sharp)';
  if (
    group.startsWith('shared/liveness/') ||
    group.startsWith('node:internal/deps/undici') ||
    group === 'local-cloud/vendor-slots.ts'
  )
    return 'vendor client';
  if (
    /^(@aws-lambda-powertools\/(logger|metrics|commons|tracer)|pino|aws-xray-sdk-core|cls-hooked|async-hook-jl)/.test(
      group,
    ) ||
    group === 'cli/terminal.ts'
  )
    return 'logging and metrics';
  if (functionName === '(garbage collector)' || functionName === '(program)') return 'GC and VM';
  return undefined;
}

function genericOf(group: string): Component {
  if (/^(@smithy\/|@aws-sdk\/|@aws-crypto|bowser|uuid|tslib)/.test(group)) return 'AWS SDK core (any client)';
  if (group.startsWith('node:') || group === '(native/gc/idle)') return 'Node core (HTTP, streams, timers)';
  return 'handlers and orchestration';
}

/** Self time (ms) by component; idle time is left out. */
export function byComponent(profile: CpuProfile): Map<Component, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const cache = new Map<number, Component | null>();
  const componentOf = (id: number): Component | null => {
    const known = cache.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') {
      cache.set(id, null);
      return null;
    }
    const group = whereOf(node.callFrame.url);
    let found: Component | undefined;
    for (let at: number | undefined = id; at !== undefined && !found; at = parent.get(at)) {
      const frame = byId.get(at);
      if (frame) found = componentOfGroup(whereOf(frame.callFrame.url), frame.callFrame.functionName);
    }
    const component = found ?? genericOf(group);
    cache.set(id, component);
    return component;
  };
  const totals = new Map<Component, number>();
  profile.samples.forEach((id, i) => {
    const component = componentOf(id);
    if (component) totals.set(component, (totals.get(component) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return totals;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, flag] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [--functions | --components]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const rows =
    flag === '--components'
      ? [...byComponent(profile)].sort((a, b) => b[1] - a[1])
      : summarise(profile, flag === '--functions');
  const total = rows.reduce((sum, [, ms]) => sum + ms, 0);
  for (const [key, ms] of rows.slice(0, 40)) {
    console.log(
      `${(ms / 1000).toFixed(2).padStart(8)} s ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${key}`,
    );
  }
}
