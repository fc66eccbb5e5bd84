import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultPreflightLimits } from '../../shared/preflight/limits.ts';
import { hostileCorpus, syntheticFace } from '../../testkit/images.ts';

export interface Corpus {
  /** Paths relative to the corpus folder. */
  files: string[];
  /** Files preflight must reject. */
  badFiles: string[];
}

/**
 * A folder like a KYC backlog: distinct synthetic faces in three formats (some in a subfolder and
 * one with a space in its name), byte-identical copies of a few, and hostile uploads.
 */
export async function writeCorpus(dir: string, faces = 44): Promise<Corpus> {
  const files: string[] = [];
  const put = async (name: string, bytes: Buffer) => {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), bytes);
    files.push(name);
  };
  const formats = ['jpeg', 'png', 'webp'] as const;
  const extension = { jpeg: 'jpg', png: 'png', webp: 'webp' };
  const faceBytes: Buffer[] = [];
  for (let seed = 1; seed <= faces; seed++) {
    const format = formats[seed % 3] ?? 'jpeg';
    const bytes = await syntheticFace({ seed: 5000 + seed, width: 360, height: 480, format, grain: 0.3 });
    faceBytes.push(bytes);
    const folder = seed % 4 === 0 ? 'branch-b/' : '';
    const name =
      seed === 7
        ? `${folder}face ${seed}.${extension[format]}`
        : `${folder}face-${seed}.${extension[format]}`;
    await put(name, bytes);
  }
  for (const index of [0, 1, 2, 3]) {
    const original = faceBytes[index] as Buffer;
    await put(`copies/copy-of-face-${index + 1}.bin.jpg`, original);
  }
  const badFiles: string[] = [];
  const hostile = (await hostileCorpus(defaultPreflightLimits)).filter(
    (entry) => entry.expect !== 'ok' && entry.bytes.length < 1_000_000,
  );
  for (const entry of hostile.slice(0, 8)) {
    const name = `bad/${entry.name}.jpg`;
    await put(name, entry.bytes);
    badFiles.push(name);
  }
  return { files, badFiles };
}

export const sandboxFaults = ['--pending-rate', '0.12', '--error-rate', '0.12', '--latency-ms', '20-150'];
