/**
 * The files the side-by-side benches upload, generated here and never committed: front-camera
 * selfies (480×640 JPEG, ~85 KiB, as the measurements used) and phone photos (4032×3024
 * JPEG of 2.5–3.5 MB, as phones produce).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { syntheticFace } from '../testkit/images.ts';

export interface SelfieFolder {
  dir: string;
  files: string[];
  meanBytes: number;
}

/** Distinct 480×640 faces (each its own drawing, so no two share a content hash). */
export async function frontCameraSelfies(dir: string, count: number): Promise<SelfieFolder> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const face = await syntheticFace({ seed: 300_000 + i, width: 480, height: 640, grain: 1, quality: 96 });
    const file = join(dir, `face-${String(i).padStart(5, '0')}.jpg`);
    writeFileSync(file, face);
    files.push(file);
    bytes += face.length;
  }
  return { dir, files, meanBytes: bytes / count };
}

const PHONE = { width: 4032, height: 3024 } as const;
/** Drawn and encoded photos; the rest are byte variants of these (encoding 12 MP takes ~3 s here). */
const PHONE_BASES = 4;

/**
 * A phone photo: a face with sensor-like gaussian noise, which makes JPEG sizes (and decode costs)
 * resemble a real 12 MP photo's instead of a drawing's ~1 MB.
 */
async function phonePhoto(seed: number): Promise<Buffer> {
  const face = await syntheticFace({ seed, ...PHONE, grain: 1, quality: 90 });
  const noise = await sharp({
    create: {
      ...PHONE,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 25 },
    },
  })
    .png({ compressionLevel: 0 })
    .toBuffer();
  return sharp(face)
    .composite([{ input: noise, blend: 'soft-light' }])
    .jpeg({ quality: 91 })
    .toBuffer();
}

/**
 * A distinct file with the same pixels: a JPEG comment segment (COM) carrying `tag`, inserted right
 * after the start-of-image marker. Its SHA-256 differs, so the pipeline treats it as a new selfie
 * (content reuse is by the original bytes' hash) and the vendor is called for it.
 */
export function withComment(jpeg: Buffer, tag: string): Buffer {
  const text = Buffer.from(tag, 'latin1');
  const segment = Buffer.alloc(4 + text.length);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(2 + text.length, 2);
  text.copy(segment, 4);
  return Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
}

export async function phoneSelfies(
  dir: string,
  count: number,
  log: (line: string) => void,
): Promise<SelfieFolder> {
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  const bases: Buffer[] = [];
  for (let i = 0; i < PHONE_BASES; i++) bases.push(await phonePhoto(400_000 + i));
  log(
    `phone photos: ${PHONE_BASES} bases of ${bases.map((b) => (b.length / 1024 ** 2).toFixed(2)).join(', ')} MiB in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  const files: string[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const photo = withComment(bases[i % PHONE_BASES] as Buffer, `bench phone photo ${i}`);
    const file = join(dir, `phone-${String(i).padStart(5, '0')}.jpg`);
    writeFileSync(file, photo);
    files.push(file);
    bytes += photo.length;
  }
  return { dir, files, meanBytes: bytes / count };
}
