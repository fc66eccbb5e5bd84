import { linkSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { syntheticFace } from '../../testkit/images.ts';

/** Small distinct faces (320×400 JPEG), so a run measures the pipeline rather than the disk. */
export async function writeSelfies(dir: string, count: number, log: (line: string) => void): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const face = await syntheticFace({ seed: 200_000 + i, width: 320, height: 400, grain: 0.2 });
    bytes += face.length;
    writeFileSync(join(dir, `face-${String(i).padStart(5, '0')}.jpg`), face);
    if ((i + 1) % 1000 === 0) log(`generated ${i + 1}/${count} selfies`);
  }
  log(`generated ${count} selfies in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return bytes / count;
}

/** The first `count` files of `from`, hard-linked into `dir` (no copy). */
export function linkFirst(from: string, dir: string, count: number): void {
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(from).sort().slice(0, count)) linkSync(join(from, name), join(dir, name));
}

export function meanFileBytes(dir: string): number {
  const names = readdirSync(dir);
  return names.reduce((sum, n) => sum + statSync(join(dir, n)).size, 0) / names.length;
}

/** `files`, hard-linked into `dir` under their own names (no copy). */
export function linkFiles(files: readonly string[], dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const file of files) linkSync(file, join(dir, basename(file)));
}
