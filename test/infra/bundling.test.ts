import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HandlerName, handlerEntries } from '../../infra/bundling.ts';
import { bundleHandler } from '../../local-cloud/bundles.ts';
import { logicalIdOf, type StackFixture, synthStack } from './stack-fixture.ts';

const ELF_MACHINE_AARCH64 = 0xb7;

/** e_machine of an ELF file (offset 18, little-endian), or undefined when it is not ELF. */
function elfMachine(file: string): number | undefined {
  const header = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, header, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  if (header.subarray(0, 4).toString('latin1') !== '\x7fELF') return undefined;
  return header.readUInt16LE(18);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/** The construct id of each handler's function in the stack. */
const functionIds: Record<HandlerName, string> = {
  enqueue: 'EnqueueSelfiesFunction',
  worker: 'VerifySelfiesFunction',
  publish: 'PublishOutcomesFunction',
};

// The one test that bundles for real: esbuild for all functions, npm install of sharp for the worker.
describe('worker asset (real bundling, no Docker)', () => {
  let fx: StackFixture;
  let workerAsset: string;
  const assetOf = (name: HandlerName) => {
    const id = logicalIdOf(fx.template, 'AWS::Lambda::Function', functionIds[name]);
    const s3Key = fx.template.findResources('AWS::Lambda::Function')[id]?.Properties.Code.S3Key as string;
    return path.join(fx.outdir, `asset.${s3Key.replace(/\.zip$/, '')}`);
  };

  beforeAll(() => {
    fx = synthStack({}, { bundle: true });
    workerAsset = assetOf('worker');
  }, 180_000);
  afterAll(() => fx?.cleanup());

  it('is byte for byte the bundle `--bundled` and the bench build from the shared options (infra/bundling.ts)', async () => {
    // Prepare
    const outDir = mkdtempSync(path.join(tmpdir(), 'lb-bundle-compare-'));
    try {
      for (const name of Object.keys(handlerEntries) as HandlerName[]) {
        // Act
        const local = await bundleHandler(name, outDir, { skipNativeModules: true });
        // Assess
        expect(
          readFileSync(local.file).equals(readFileSync(path.join(assetOf(name), 'index.mjs'))),
          name,
        ).toBe(true);
      }
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('installs native modules beside the worker only', () => {
    expect(existsSync(path.join(assetOf('enqueue'), 'node_modules'))).toBe(false);
    expect(existsSync(path.join(assetOf('publish'), 'node_modules'))).toBe(false);
    expect(existsSync(path.join(workerAsset, 'node_modules', 'sharp', 'package.json'))).toBe(true);
  });

  it('is an ESM bundle with the createRequire banner and a source map', () => {
    // Prepare / Act: bundled in beforeAll
    const bundle = readFileSync(path.join(workerAsset, 'index.mjs'), 'utf8');
    // Assess
    expect(bundle.startsWith("import { createRequire } from 'module';")).toBe(true);
    expect(existsSync(path.join(workerAsset, 'index.mjs.map'))).toBe(true);
  });

  it('ships the aarch64 sharp binary and libvips, and no x64 build', () => {
    // Prepare
    const nativeFiles = filesUnder(path.join(workerAsset, 'node_modules')).filter((f) =>
      /\.(node|so(\.\d+)*)$/.test(f),
    );
    // Act
    const sharpBinaries = nativeFiles.filter((f) => /@img\/sharp-linux-arm64\/.*\.node$/.test(f));
    const machines = nativeFiles.map((f) => [path.relative(workerAsset, f), elfMachine(f)] as const);
    // Assess
    expect(sharpBinaries).toHaveLength(1);
    expect(elfMachine(sharpBinaries[0] as string)).toBe(ELF_MACHINE_AARCH64);
    expect(machines.some(([f]) => f.includes('sharp-libvips-linux-arm64'))).toBe(true);
    expect(machines.filter(([, machine]) => machine !== ELF_MACHINE_AARCH64)).toEqual([]);
    expect(
      readdirSync(path.join(workerAsset, 'node_modules/@img')).filter((d) => /x64|darwin|win32/.test(d)),
    ).toEqual([]);
  });
});
