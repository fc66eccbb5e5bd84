import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build } from 'esbuild';
import { type HandlerName, handlerEntries, handlerNativeModules, lambdaBundling } from '../infra/bundling.ts';

export { type HandlerName, handlerEntries } from '../infra/bundling.ts';

const projectRoot = resolve(import.meta.dirname, '..');

export interface BundledHandler {
  name: HandlerName;
  /** The bundle, `<outDir>/<name>/index.mjs`, as in the Lambda asset. */
  file: string;
  bytes: number;
  gzipBytes: number;
  mapBytes: number;
}

export interface BundleOptions {
  /** Another entry file than the stack's (tests build a deliberately broken handler this way). */
  entry?: string;
  /** Only the esbuild output, without `npm ci` of native modules (to compare bundles). */
  skipNativeModules?: boolean;
}

/**
 * esbuild options equivalent to what the CDK's NodejsFunction passes for `lambdaBundling`
 * (test/infra/bundling.test.ts checks the output is byte for byte the stack's asset).
 */
export function esbuildOptions(
  name: HandlerName,
  outfile: string,
  options: BundleOptions = {},
): BuildOptions {
  return {
    entryPoints: [options.entry ?? join(projectRoot, handlerEntries[name])],
    outfile,
    bundle: true,
    platform: 'node',
    format: lambdaBundling.format,
    target: lambdaBundling.target,
    mainFields: lambdaBundling.mainFields,
    banner: { js: lambdaBundling.banner },
    minify: lambdaBundling.minify,
    sourcemap: lambdaBundling.sourceMap,
    external: [...(lambdaBundling.bundleAwsSDK ? [] : ['@aws-sdk/*']), ...(handlerNativeModules[name] ?? [])],
    logLevel: 'silent',
  };
}

/**
 * Builds one handler as the stack does, for this machine's architecture: the esbuild bundle, and
 * its native modules (sharp for the worker) installed beside it with `npm ci` from the project's
 * lock file, as the CDK does (without the stack's npm_config_cpu=arm64, so the binaries are the
 * host's). An install already there at the locked versions is kept.
 */
export async function bundleHandler(
  name: HandlerName,
  outDir: string,
  options: BundleOptions = {},
): Promise<BundledHandler> {
  const dir = join(outDir, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'index.mjs');
  await build(esbuildOptions(name, file, options));
  const native = handlerNativeModules[name] ?? [];
  if (native.length > 0 && !options.skipNativeModules) await installNativeModules(dir, native);
  return {
    name,
    file,
    bytes: statSync(file).size,
    gzipBytes: gzipSync(readFileSync(file)).length,
    mapBytes: statSync(`${file}.map`).size,
  };
}

/** All three handlers into `<outDir>/<name>/`. */
export async function bundleHandlers(
  outDir: string,
  entries: Partial<Record<HandlerName, string>> = {},
): Promise<Record<HandlerName, BundledHandler>> {
  const built = {} as Record<HandlerName, BundledHandler>;
  for (const name of Object.keys(handlerEntries) as HandlerName[]) {
    const entry = entries[name];
    built[name] = await bundleHandler(name, outDir, entry ? { entry } : {});
  }
  return built;
}

async function installNativeModules(dir: string, modules: readonly string[]): Promise<void> {
  const projectPackage = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const dependencies = Object.fromEntries(
    modules.map((m) => {
      const version = projectPackage.dependencies?.[m];
      if (!version) throw new Error(`${m} is not a dependency in package.json; the bundle cannot ship it`);
      return [m, version];
    }),
  );
  const manifest = JSON.stringify({ dependencies });
  const installed = modules.every((m) => {
    const file = join(dir, 'node_modules', m, 'package.json');
    return (
      existsSync(file) &&
      (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version === dependencies[m]
    );
  });
  const manifestFile = join(dir, 'package.json');
  if (installed && existsSync(manifestFile) && readFileSync(manifestFile, 'utf8') === manifest) return;
  writeFileSync(manifestFile, manifest);
  copyFileSync(join(projectRoot, 'package-lock.json'), join(dir, 'package-lock.json'));
  await npmCi(dir);
}

function npmCi(cwd: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('npm', ['ci', '--no-audit', '--no-fund', '--loglevel', 'error'], {
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolvePromise()
        : reject(new Error(`npm ci in ${cwd} failed (exit ${code}): ${stderr.trim().slice(-2000)}`)),
    );
  });
}
