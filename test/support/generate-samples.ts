/**
 * Writes samples/: synthetic faces the pipeline should verify, one exact copy to show duplicate
 * reuse, and bad inputs whose names say what they are, plus samples/README.md whose table is
 * generated from the same list (test/preflight/samples.test.ts checks the two agree).
 *
 *   npx tsx test/support/generate-samples.ts
 *
 * Output is deterministic: rerunning it with the same sharp version rewrites identical bytes.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PreflightRejectionReason } from '../../shared/preflight/result.ts';
import {
  animatedGif,
  heicHeader,
  pngPixelBomb,
  svgWithDataUri,
  syntheticFace,
  tinyPng,
  truncated,
} from '../../testkit/images.ts';

export const samplesDir = fileURLToPath(new URL('../../samples/', import.meta.url));

type Outcome =
  | { kind: 'face' }
  | { kind: 'copy'; of: string }
  | { kind: 'rejected'; reason: PreflightRejectionReason; detected: string };

interface Sample {
  file: string;
  what: string;
  outcome: Outcome;
  bytes: () => Promise<Buffer> | Buffer;
}

const face = (file: string, what: string, bytes: Sample['bytes']): Sample => ({
  file,
  what,
  outcome: { kind: 'face' },
  bytes,
});
const bad = (
  file: string,
  what: string,
  [reason, detected]: [PreflightRejectionReason, string],
  bytes: Sample['bytes'],
): Sample => ({ file, what, outcome: { kind: 'rejected', reason, detected }, bytes });

const face03 = () => syntheticFace({ seed: 3, width: 960, height: 1280 });

const samples: Sample[] = [
  face('face-01.jpg', 'JPEG, 720×960', () => syntheticFace({ seed: 1 })),
  face('face-02.jpg', 'JPEG, 480×640', () => syntheticFace({ seed: 2, width: 480, height: 640 })),
  face('face-03.jpg', 'JPEG, 960×1280', face03),
  {
    file: 'face-03-copy.jpg',
    what: 'exact byte copy of `face-03.jpg` under another name',
    outcome: { kind: 'copy', of: 'face-03.jpg' },
    bytes: face03,
  },
  face('face-04.png', 'PNG, 600×800', () =>
    syntheticFace({ seed: 4, width: 600, height: 800, format: 'png', grain: 0 }),
  ),
  face('face-05.webp', 'WebP, 720×960', () => syntheticFace({ seed: 5, format: 'webp' })),
  face('face-06-landscape.jpg', 'JPEG, 1280×960 landscape', () =>
    syntheticFace({ seed: 6, width: 1280, height: 960 }),
  ),
  face(
    'face-07-exif-rotated.jpg',
    'JPEG stored sideways (960×720) with EXIF orientation 6, as phones write; upright 720×960',
    () => syntheticFace({ seed: 7, exifOrientation: 6 }),
  ),
  face('face-08-transparent.png', 'PNG with a transparent background (flattened onto white), 480×640', () =>
    syntheticFace({ seed: 8, width: 480, height: 640, format: 'png', grain: 0, background: 'transparent' }),
  ),
  face('face-09.webp', 'WebP, 960×1280', () =>
    syntheticFace({ seed: 9, width: 960, height: 1280, format: 'webp' }),
  ),
  face('face-10-cmyk.jpg', 'CMYK JPEG, as print workflows write (converted to sRGB), 480×640', () =>
    syntheticFace({ seed: 10, width: 480, height: 640, colourspace: 'cmyk' }),
  ),
  face('face-11-greyscale.jpg', 'greyscale JPEG, 640×640', () =>
    syntheticFace({ seed: 11, width: 640, height: 640, colourspace: 'b-w' }),
  ),
  face('face-12-16bit.png', '16-bit PNG (converted to 8-bit), 480×640', () =>
    syntheticFace({ seed: 12, width: 480, height: 640, format: 'png', grain: 0, colourspace: 'rgb16' }),
  ),
  bad('bad-empty.jpg', 'zero bytes', ['EMPTY', 'empty'], () => Buffer.alloc(0)),
  bad('bad-not-an-image.jpg', 'plain text with an image name', ['UNSUPPORTED_FORMAT', 'text'], () =>
    Buffer.from('This is a note, not a selfie. Its name ends in .jpg all the same.\n'),
  ),
  bad(
    'bad-html-error-page.jpg',
    'an HTML error page saved under an image name',
    ['UNSUPPORTED_FORMAT', 'html'],
    () =>
      Buffer.from(
        '<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body>Forbidden</body></html>\n',
      ),
  ),
  bad(
    'bad-truncated.jpg',
    'a face JPEG cut off at 60% (interrupted upload)',
    ['UNDECODABLE', 'jpeg'],
    async () => truncated(await syntheticFace({ seed: 13, width: 480, height: 640 })),
  ),
  bad(
    'bad-heic-photo.heic',
    'the start of an iPhone HEIC photo (`ftyp` brand `heic`)',
    ['UNSUPPORTED_FORMAT', 'heic'],
    () => heicHeader(),
  ),
  bad('bad-animated.gif', 'an animated GIF of two faces', ['UNSUPPORTED_FORMAT', 'gif'], () =>
    animatedGif(14),
  ),
  bad(
    'bad-vector-with-data-uri.svg',
    'an SVG face embedding a `data:` URI image',
    ['UNSUPPORTED_FORMAT', 'svg'],
    () => svgWithDataUri(15),
  ),
  bad('bad-scanned-document.pdf', 'a PDF header', ['UNSUPPORTED_FORMAT', 'pdf'], () =>
    Buffer.from('%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n'),
  ),
  bad('bad-tiny-1x1.png', 'a 1×1 PNG', ['TOO_SMALL', 'png'], () => tinyPng(1, 1)),
  bad(
    'bad-pixel-bomb-20000x20000.png',
    'a valid 48 KB PNG that declares 20000×20000 pixels (decompression bomb)',
    ['TOO_MANY_PIXELS', 'png'],
    () => pngPixelBomb(),
  ),
];

function describeOutcome(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'face':
      return 'VERIFIED or NOT_VERIFIED: passes preflight; the sandbox decides from the bytes';
    case 'copy':
      return `reuses the outcome of \`${outcome.of}\` (\`duplicateOf\`), not paid twice`;
    case 'rejected':
      return `REJECTED: \`${outcome.reason}\` (detected \`${outcome.detected}\`)`;
  }
}

function readme(sizes: Map<string, number>): string {
  const rows = samples.map(
    (s) =>
      `| \`${s.file}\` | ${s.what} | ${(sizes.get(s.file) ?? 0).toLocaleString('en-US')} | ${describeOutcome(s.outcome)} |`,
  );
  return `# Sample selfies

Synthetic faces drawn as SVG and rendered by sharp (no photographs of real people), plus bad
inputs whose names say what they are. Generated by \`npx tsx test/support/generate-samples.ts\`
(deterministic); \`test/preflight/samples.test.ts\` checks that this table, the files and
preflight agree.

Try them with \`npm start\` (\`run samples/\`). Faces end VERIFIED or NOT_VERIFIED: the sandbox
derives its simulated scores from the bytes, so which one a face gets is the sandbox's choice, not
a property of the drawing (REVIEW if score thresholds are configured). Bad inputs end REJECTED in
preflight with the reason shown and never reach the paid API. The copy has the same SHA-256 as
its original, so it reuses that outcome instead of paying again.

An upload over the byte limit (5 MiB by default) is not included, to keep this folder small;
the preflight tests cover it.

| File | What it is | Bytes | Expected outcome |
|---|---|---|---|
${rows.join('\n')}
`;
}

async function main(): Promise<void> {
  await mkdir(samplesDir, { recursive: true });
  const wanted = new Set([...samples.map((s) => s.file), 'README.md']);
  for (const existing of await readdir(samplesDir)) {
    if (!wanted.has(existing)) await rm(path.join(samplesDir, existing));
  }
  const sizes = new Map<string, number>();
  for (const sample of samples) {
    const bytes = await sample.bytes();
    await writeFile(path.join(samplesDir, sample.file), bytes);
    sizes.set(sample.file, bytes.length);
  }
  await writeFile(path.join(samplesDir, 'README.md'), readme(sizes));
  const total = [...sizes.values()].reduce((sum, n) => sum + n, 0);
  console.log(
    `Wrote ${samples.length} samples (${(total / 1024).toFixed(0)} KiB) and README.md to ${samplesDir}`,
  );
}

await main();
