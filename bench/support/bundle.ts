import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { projectRoot } from './paths.ts';

export const handlerEntries = {
  enqueue: 'functions/enqueue.ts',
  worker: 'functions/worker.ts',
  publish: 'functions/publish.ts',
} as const;
export type HandlerName = keyof typeof handlerEntries;

/** Native packages the stack installs next to the bundle instead of bundling (infra/stack). */
const nativeModules: Partial<Record<HandlerName, string[]>> = { worker: ['sharp'] };

export interface BundledHandler {
  name: HandlerName;
  file: string;
  bytes: number;
  gzipBytes: number;
  mapBytes: number;
}

/**
 * Bundles a handler as the CDK stack's NodejsFunction does (infra/stack/functions.ts): ESM, a node
 * target, the createRequire banner, minified with a source map, the AWS SDK bundled, native modules
 * external. The Lambda target is node24; esbuild only uses it to decide what syntax to lower.
 */
export async function bundleHandler(name: HandlerName, outDir: string): Promise<BundledHandler> {
  const dir = join(outDir, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'index.mjs');
  await build({
    entryPoints: [join(projectRoot, handlerEntries[name])],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    mainFields: ['module', 'main'],
    banner: {
      js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
    },
    minify: true,
    sourcemap: true,
    external: nativeModules[name] ?? [],
    logLevel: 'silent',
  });
  return {
    name,
    file,
    bytes: statSync(file).size,
    gzipBytes: gzipSync(readFileSync(file)).length,
    mapBytes: statSync(`${file}.map`).size,
  };
}
