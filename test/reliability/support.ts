import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultPreflightLimits } from '../../shared/preflight/limits.ts';
import { type CorpusEntry, hostileCorpus, syntheticFace } from '../../testkit/images.ts';

export interface CorpusFile {
  /** Path under the corpus folder, `/`-separated: the S3 key below the batch folder. */
  path: string;
  bytes: Buffer;
  /** The preflight rejection it must end with, or 'ok' when it must reach the vendor (or reuse). */
  expect: CorpusEntry['expect'];
  /** Files with identical bytes share a group name. */
  sameBytesAs?: string;
}

const extensions: Record<string, string> = {
  jpeg: 'jpg',
  empty: 'jpg',
  text: 'txt',
  unknown: 'bin',
};

/**
 * Everything hostile preflight knows (hostileCorpus), the same bytes under several keys, keys that
 * S3 events encode awkwardly (spaces, `+`, `%`, non-ASCII), and distinct faces to keep the vendor busy.
 * Keys stay in Unicode's basic plane: fauxqs 1.9.2 refuses SQS bodies with characters above U+FFFF
 * (an emoji in a file name), which real SQS accepts; see docs/benchmarks.md.
 */
export async function writeHostileCorpus(dir: string, faces: number): Promise<CorpusFile[]> {
  const files: CorpusFile[] = [];
  const hostile = await hostileCorpus(defaultPreflightLimits);
  for (const entry of hostile) {
    const ext = extensions[entry.detectedFormat] ?? entry.detectedFormat;
    files.push({ path: `hostile/${entry.name}.${ext}`, bytes: entry.bytes, expect: entry.expect });
  }
  const original = hostile.find((e) => e.name === 'jpeg') as CorpusEntry;
  const copies = [
    'copies/same bytes 1.jpg',
    'copies/same+bytes+2.jpg',
    'copies/same%20bytes%3.jpg',
    'copies/même-ünïcødé.jpg',
  ];
  for (const path of copies) files.push({ path, bytes: original.bytes, expect: 'ok', sameBytesAs: 'jpeg' });
  const first = files.find((f) => f.path === 'hostile/jpeg.jpg') as CorpusFile;
  first.sameBytesAs = 'jpeg';
  const awkward = [
    'keys/face with spaces.jpg',
    'keys/a+b.jpg',
    'keys/100%real.jpg',
    'keys/%2B-literal.jpg',
    'keys/visage-été-日本.jpg',
  ];
  let seed = 300_000;
  for (const path of awkward) {
    files.push({
      path,
      bytes: await syntheticFace({ seed: seed++, width: 320, height: 400, grain: 0.2 }),
      expect: 'ok',
    });
  }
  for (let i = 0; i < faces; i++) {
    const bytes = await syntheticFace({ seed: seed++, width: 320, height: 400, grain: 0.2 });
    files.push({ path: `faces/face-${i}.jpg`, bytes, expect: 'ok' });
  }
  for (const file of files) {
    await mkdir(join(dir, file.path, '..'), { recursive: true });
    await writeFile(join(dir, file.path), file.bytes);
  }
  return files;
}

/** Every text file the host wrote under its state folder, except DynamoDB Local's database. */
export function stateTextFiles(stateDir: string): Array<{ path: string; text: string }> {
  return readdirSync(stateDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !join(e.parentPath, e.name).includes(`${join(stateDir, 'dynamodb')}`))
    .map((e) => ({
      path: join(e.parentPath, e.name),
      text: readFileSync(join(e.parentPath, e.name), 'utf8'),
    }));
}
