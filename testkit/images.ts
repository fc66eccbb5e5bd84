/**
 * Synthetic test images: selfie-like faces drawn as SVG and rendered by sharp (no photographs of
 * real people), and a corpus of hostile uploads for preflight. Everything is deterministic: the
 * same arguments give the same bytes, so samples/ regenerates without churn and each seed is a
 * distinct image for the duplicate-reuse logic.
 *
 * Used by the preflight tests, the end-to-end test, the reliability suite and the benchmarks.
 */
import zlib from 'node:zlib';
import sharp from 'sharp';
import { defaultPreflightLimits, type PreflightLimits } from '../shared/preflight/limits.ts';
import type { PreflightRejectionReason } from '../shared/preflight/result.ts';

export type SyntheticFormat = 'jpeg' | 'png' | 'webp';

export interface SyntheticFaceOptions {
  /** Varies skin, hair, eyes, background, pose and grain; each seed gives different bytes. */
  seed: number;
  /** Upright width in pixels (default 720). */
  width?: number;
  /** Upright height in pixels (default 960, a front camera's 3:4 portrait). */
  height?: number;
  format?: SyntheticFormat;
  /** Encoder quality for JPEG and WebP (default 90 and 85). */
  quality?: number;
  /**
   * Sensor-like grain, 0 (flat, compresses very well) to 1 (default). Grain makes JPEG sizes and
   * decode costs resemble a photo's; use 0 for PNG when size matters.
   */
  grain?: number;
  /** 'transparent' leaves the background as alpha (PNG/WebP) to exercise flattening. */
  background?: 'opaque' | 'transparent';
  /**
   * Store the pixels turned and tag the file with this EXIF orientation (3, 6 or 8), as phones do:
   * the face is upright only once the orientation is applied. The stored width and height are
   * swapped for 6 and 8.
   */
  exifOrientation?: 3 | 6 | 8;
  /** Colour space of the encoded file: 'cmyk' (JPEG only), 'b-w' (greyscale) or 'rgb16' (16-bit PNG). */
  colourspace?: 'srgb' | 'cmyk' | 'b-w' | 'rgb16';
}

/** mulberry32: a tiny seeded PRNG, good enough to vary drawings reproducibly. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

const skinTones = ['#f6d3b3', '#eac09a', '#d9a57b', '#c68a5f', '#a86b45', '#8a5234', '#6b3e26', '#4f2c1b'];
const hairColours = ['#1c1410', '#3b2417', '#5a3a22', '#8c6239', '#b8884e', '#d9b77a', '#7a7a7a', '#a52a2a'];
const irisColours = ['#3b2a1a', '#5b3a1e', '#2e5e8c', '#4a7a4a', '#6b6b3a', '#1f1f1f'];
const shirtColours = ['#2d4a7a', '#7a2d2d', '#2d7a4a', '#444444', '#d0d0d0', '#7a5a2d', '#5a2d7a'];
const backdrops = [
  ['#dfe7ee', '#aebdca'],
  ['#efe9df', '#cbbfa9'],
  ['#e3efe3', '#a8c2a8'],
  ['#f2f2f2', '#c9c9c9'],
  ['#e8e0ef', '#b9a8c9'],
  ['#f1e4d8', '#d1b49a'],
] as const;

/** The face as SVG markup, upright, at its final pixel size. */
export function syntheticFaceSvg(seed: number, width: number, height: number, transparent = false): string {
  const random = seededRandom(seed);
  const between = (low: number, high: number) => low + random() * (high - low);
  const unit = Math.min(width, height);
  const [backTop, backBottom] = pick(random, backdrops);
  const skin = pick(random, skinTones);
  const hair = pick(random, hairColours);
  const iris = pick(random, irisColours);
  const shirt = pick(random, shirtColours);

  const cx = width / 2 + between(-0.05, 0.05) * width;
  const cy = height * between(0.42, 0.48);
  const rx = unit * between(0.2, 0.26);
  const ry = rx * between(1.22, 1.38);
  const tilt = between(-6, 6);
  const eyeY = cy - ry * 0.12;
  const eyeDx = rx * between(0.36, 0.44);
  const eyeRx = rx * between(0.16, 0.2);
  const eyeRy = eyeRx * between(0.5, 0.65);
  const irisR = eyeRy * 0.9;
  const browY = eyeY - eyeRy * between(1.8, 2.4);
  const browW = eyeRx * 1.2;
  const mouthY = cy + ry * between(0.45, 0.55);
  const mouthW = rx * between(0.35, 0.5);
  const smile = ry * between(-0.02, 0.12);
  const hairTop = cy - ry * between(1.05, 1.2);
  const glasses = random() < 0.25;
  const lips = '#a0524a';
  const line = Math.max(1, unit * 0.008);

  const eye = (x: number) => `
    <ellipse cx="${x}" cy="${eyeY}" rx="${eyeRx}" ry="${eyeRy}" fill="#fbfbf8"/>
    <circle cx="${x + between(-0.2, 0.2) * eyeRx}" cy="${eyeY}" r="${irisR}" fill="${iris}"/>
    <circle cx="${x}" cy="${eyeY}" r="${irisR * 0.45}" fill="#0a0a0a"/>
    <circle cx="${x + irisR * 0.3}" cy="${eyeY - irisR * 0.3}" r="${irisR * 0.18}" fill="#ffffff"/>`;
  const brow = (x: number) =>
    `<path d="M ${x - browW / 2} ${browY + line} Q ${x} ${browY - eyeRy * 0.5} ${x + browW / 2} ${browY + line}"
      stroke="${hair}" stroke-width="${line * 2.2}" fill="none" stroke-linecap="round"/>`;
  const lens = (x: number) =>
    `<circle cx="${x}" cy="${eyeY}" r="${eyeRx * 1.45}" fill="none" stroke="#222" stroke-width="${line * 1.2}"/>`;

  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
  <defs>
    <linearGradient id="backdrop" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="${backTop}"/><stop offset="1" stop-color="${backBottom}"/>
    </linearGradient>
    <radialGradient id="shade" cx="0.4" cy="0.35" r="0.75">
      <stop offset="0.6" stop-color="#000" stop-opacity="0"/><stop offset="1" stop-color="#000" stop-opacity="0.18"/>
    </radialGradient>
  </defs>
  ${transparent ? '' : `<rect width="${width}" height="${height}" fill="url(#backdrop)"/>`}
  <ellipse cx="${cx}" cy="${height + unit * 0.08}" rx="${unit * 0.48}" ry="${unit * 0.32}" fill="${shirt}"/>
  <rect x="${cx - rx * 0.38}" y="${cy + ry * 0.6}" width="${rx * 0.76}" height="${ry * 0.9}" fill="${skin}"/>
  <g transform="rotate(${tilt} ${cx} ${cy})">
    <ellipse cx="${cx}" cy="${hairTop + ry * 0.75}" rx="${rx * 1.12}" ry="${ry * 0.85}" fill="${hair}"/>
    <ellipse cx="${cx - rx}" cy="${eyeY + ry * 0.1}" rx="${rx * 0.13}" ry="${ry * 0.2}" fill="${skin}"/>
    <ellipse cx="${cx + rx}" cy="${eyeY + ry * 0.1}" rx="${rx * 0.13}" ry="${ry * 0.2}" fill="${skin}"/>
    <ellipse cx="${cx}" cy="${cy}" rx="${rx}" ry="${ry}" fill="${skin}"/>
    <ellipse cx="${cx}" cy="${cy}" rx="${rx}" ry="${ry}" fill="url(#shade)"/>
    <path d="M ${cx - rx} ${cy - ry * 0.35} Q ${cx} ${hairTop - ry * 0.1} ${cx + rx} ${cy - ry * 0.35}
      Q ${cx + rx * between(0.2, 0.6)} ${cy - ry * 0.8} ${cx} ${cy - ry * 0.78} Q ${cx - rx * 0.5} ${cy - ry * 0.8} ${cx - rx} ${cy - ry * 0.35} Z"
      fill="${hair}"/>
    ${eye(cx - eyeDx)}${eye(cx + eyeDx)}
    ${brow(cx - eyeDx)}${brow(cx + eyeDx)}
    <path d="M ${cx} ${eyeY + eyeRy} L ${cx - rx * 0.12} ${cy + ry * 0.25} Q ${cx} ${cy + ry * 0.3} ${cx + rx * 0.1} ${cy + ry * 0.25}"
      stroke="#000" stroke-opacity="0.25" stroke-width="${line}" fill="none" stroke-linejoin="round"/>
    <path d="M ${cx - mouthW} ${mouthY} Q ${cx} ${mouthY + smile + ry * 0.08} ${cx + mouthW} ${mouthY}
      Q ${cx} ${mouthY + smile * 0.3} ${cx - mouthW} ${mouthY} Z" fill="${lips}"/>
    ${glasses ? `${lens(cx - eyeDx)}${lens(cx + eyeDx)}<path d="M ${cx - eyeDx + eyeRx * 1.45} ${eyeY} L ${cx + eyeDx - eyeRx * 1.45} ${eyeY}" stroke="#222" stroke-width="${line}"/>` : ''}
  </g>
</svg>`;
}

/** A seeded square noise tile around mid-grey: soft-light blending it adds grain without shifting colours. */
function grainTile(seed: number, strength: number, side: number): Buffer {
  const random = seededRandom(seed ^ 0x9e3779b9);
  const tile = Buffer.alloc(side * side * 3);
  const amplitude = 40 * strength;
  for (let i = 0; i < tile.length; i++) tile[i] = Math.round(128 + (random() - 0.5) * amplitude);
  return tile;
}

/** Stored rotation that EXIF `orientation` undoes when applied. */
const storedRotation = { 3: 180, 6: 270, 8: 90 } as const;

/** A selfie-like synthetic face, rendered by sharp from SVG, encoded as JPEG (default), PNG or WebP. */
export async function syntheticFace(options: SyntheticFaceOptions): Promise<Buffer> {
  const {
    seed,
    width = 720,
    height = 960,
    format = 'jpeg',
    grain = 1,
    background = 'opaque',
    exifOrientation,
    colourspace = 'srgb',
  } = options;
  const svg = syntheticFaceSvg(seed, width, height, background === 'transparent');
  // Render to raw pixels first so rotation and grain apply to an image of known size.
  const rendered = await sharp(Buffer.from(svg)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  let image = sharp(rendered.data, { raw: rendered.info });
  if (grain > 0) {
    const side = Math.min(128, width, height);
    image = sharp(
      await image
        .composite([
          {
            input: grainTile(seed, grain, side),
            raw: { width: side, height: side, channels: 3 },
            tile: true,
            blend: 'soft-light',
          },
        ])
        .raw()
        .toBuffer(),
      { raw: rendered.info },
    );
  }
  if (background === 'opaque') image = image.removeAlpha();
  if (exifOrientation !== undefined) {
    image = image.rotate(storedRotation[exifOrientation]).withMetadata({ orientation: exifOrientation });
  }
  if (colourspace !== 'srgb') image = image.toColourspace(colourspace);
  if (format === 'png') return image.png({ compressionLevel: 9 }).toBuffer();
  if (format === 'webp') return image.webp({ quality: options.quality ?? 85 }).toBuffer();
  return image.jpeg({ quality: options.quality ?? 90 }).toBuffer();
}

/** A face JPEG of an exact size, for benchmarks (grain on, so decode cost resembles a photo's). */
export function jpegOfSize(width: number, height: number, seed = 1): Promise<Buffer> {
  return syntheticFace({ seed, width, height, format: 'jpeg' });
}

/** A grey PNG of any size whose pixels are never needed: it exists to be refused. */
export async function tinyPng(width = 1, height = 1): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

/**
 * A real decompression bomb: a valid 1-bit greyscale PNG of width × height (default 20000 ×
 * 20000 = 400 MP, about 1.2 GB once decoded to RGB) whose all-zero rows deflate to about 50 KB.
 */
export function pngPixelBomb(width = 20_000, height = 20_000): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth
  header[9] = 0; // greyscale
  const rows = Buffer.alloc(height * (1 + Math.ceil(width / 8)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', zlib.deflateSync(rows, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The first box of an iPhone photo: ISO-BMFF `ftyp` with brand 'heic' (all preflight needs to see). */
export function heicHeader(): Buffer {
  const box = Buffer.alloc(24);
  box.writeUInt32BE(24, 0);
  box.write('ftyp', 4, 'latin1');
  box.write('heic', 8, 'latin1');
  box.writeUInt32BE(0, 12);
  box.write('mif1', 16, 'latin1');
  box.write('heic', 20, 'latin1');
  // A few bytes of a following 'meta' box, as a real file would have.
  return Buffer.concat([box, Buffer.from([0, 0, 0, 0x22, 0x6d, 0x65, 0x74, 0x61, 0, 0, 0, 0])]);
}

/** A 2×2 24-bit BMP, built by hand (sharp does not write BMP). */
export function tinyBmp(): Buffer {
  const rowBytes = 8; // 2 pixels × 3 bytes, padded to 4
  const pixelBytes = rowBytes * 2;
  const bmp = Buffer.alloc(54 + pixelBytes);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(bmp.length, 2);
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(2, 18);
  bmp.writeInt32LE(2, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  bmp.writeUInt32LE(pixelBytes, 34);
  bmp.fill(0xc0, 54);
  return bmp;
}

/** Cuts a file short, as an interrupted upload does. */
export function truncated(bytes: Buffer, keepFraction = 0.6): Buffer {
  return Buffer.from(bytes.subarray(0, Math.floor(bytes.length * keepFraction)));
}

/** An animated GIF of two face frames. */
export async function animatedGif(seed = 1, side = 160): Promise<Buffer> {
  const frames = await Promise.all(
    [seed, seed + 1].map((s) =>
      syntheticFace({ seed: s, width: side, height: side, format: 'png', grain: 0 }),
    ),
  );
  return sharp(frames, { join: { animated: true } })
    .gif({ delay: [400, 400], loop: 0 })
    .toBuffer();
}

/** SVG that draws a face and embeds a PNG through a `data:` URI, which sharp would fetch and render. */
export async function svgWithDataUri(seed = 1): Promise<Buffer> {
  const embedded = await tinyPng(8, 8);
  const face = syntheticFaceSvg(seed, 400, 400);
  const image = `<image href="data:image/png;base64,${embedded.toString('base64')}" width="40" height="40"/>`;
  return Buffer.from(face.replace('</svg>', `${image}</svg>`));
}

export interface CorpusEntry {
  /** Short, unique, says what the file is. */
  name: string;
  bytes: Buffer;
  /** What preflight must say: 'ok' or the rejection reason. */
  expect: PreflightRejectionReason | 'ok';
  /** What preflight must name as the detected format. */
  detectedFormat: string;
}

/**
 * Good and hostile uploads with the verdict preflight must reach for each. The byte-limit entry
 * is one byte over `limits.maxBytes`, so pass the limits you test with.
 */
export async function hostileCorpus(
  limits: PreflightLimits = defaultPreflightLimits,
): Promise<CorpusEntry[]> {
  const face = await syntheticFace({ seed: 101, width: 480, height: 640 });
  const facePng = await syntheticFace({ seed: 102, width: 480, height: 640, format: 'png', grain: 0 });
  const entry = (
    name: string,
    bytes: Buffer,
    expect: CorpusEntry['expect'],
    detectedFormat: string,
  ): CorpusEntry => ({ name, bytes, expect, detectedFormat });
  const renderOnly = (format: 'gif' | 'tiff' | 'avif') => sharp(facePng).toFormat(format).toBuffer();

  return [
    entry('empty', Buffer.alloc(0), 'EMPTY', 'empty'),
    entry(
      'plain-text',
      Buffer.from('This is not an image, just a note someone saved as selfie.jpg\n'),
      'UNSUPPORTED_FORMAT',
      'text',
    ),
    entry(
      'html-error-page',
      Buffer.from('<!DOCTYPE html><html><body><h1>403 Forbidden</h1></body></html>'),
      'UNSUPPORTED_FORMAT',
      'html',
    ),
    entry('truncated-jpeg', truncated(face), 'UNDECODABLE', 'jpeg'),
    entry('truncated-png', truncated(facePng), 'UNDECODABLE', 'png'),
    entry(
      'jpeg-signature-then-garbage',
      Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2048, 0x5a)]),
      'UNDECODABLE',
      'jpeg',
    ),
    entry('heic-ftyp-header', heicHeader(), 'UNSUPPORTED_FORMAT', 'heic'),
    entry('avif', await renderOnly('avif'), 'UNSUPPORTED_FORMAT', 'avif'),
    entry('gif', await renderOnly('gif'), 'UNSUPPORTED_FORMAT', 'gif'),
    entry('animated-gif', await animatedGif(), 'UNSUPPORTED_FORMAT', 'gif'),
    entry('tiff', await renderOnly('tiff'), 'UNSUPPORTED_FORMAT', 'tiff'),
    entry('bmp', tinyBmp(), 'UNSUPPORTED_FORMAT', 'bmp'),
    entry('svg', Buffer.from(syntheticFaceSvg(7, 400, 400)), 'UNSUPPORTED_FORMAT', 'svg'),
    entry('svg-with-data-uri', await svgWithDataUri(), 'UNSUPPORTED_FORMAT', 'svg'),
    entry(
      'xml-prolog-svg',
      Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${syntheticFaceSvg(8, 300, 300)}`),
      'UNSUPPORTED_FORMAT',
      'svg',
    ),
    entry(
      'pdf-header',
      Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n', 'latin1'),
      'UNSUPPORTED_FORMAT',
      'pdf',
    ),
    entry(
      'unknown-binary',
      Buffer.concat([
        Buffer.from([0x13, 0x37, 0x00, 0x42]),
        Buffer.from(Array.from({ length: 508 }, (_, i) => (i * 37 + 11) % 256)),
      ]),
      'UNSUPPORTED_FORMAT',
      'unknown',
    ),
    entry('tiny-1x1-png', await tinyPng(1, 1), 'TOO_SMALL', 'png'),
    entry(
      'narrow-jpeg',
      await syntheticFace({ seed: 103, width: limits.minWidth - 1, height: 400 }),
      'TOO_SMALL',
      'jpeg',
    ),
    entry('png-pixel-bomb-20000x20000', pngPixelBomb(), 'TOO_MANY_PIXELS', 'png'),
    entry(
      'jpeg-over-byte-limit',
      // A real JPEG with trailing bytes after its end marker, as some cameras write.
      Buffer.concat([face, Buffer.alloc(limits.maxBytes + 1 - face.length, 0)]),
      'TOO_LARGE',
      'jpeg',
    ),
    entry('jpeg', face, 'ok', 'jpeg'),
    entry('png', facePng, 'ok', 'png'),
    entry('webp', await syntheticFace({ seed: 104, width: 480, height: 640, format: 'webp' }), 'ok', 'webp'),
    entry(
      'jpeg-exif-orientation-6',
      await syntheticFace({ seed: 105, width: 480, height: 640, exifOrientation: 6 }),
      'ok',
      'jpeg',
    ),
    entry(
      'jpeg-cmyk',
      await syntheticFace({ seed: 106, width: 480, height: 640, colourspace: 'cmyk' }),
      'ok',
      'jpeg',
    ),
    entry(
      'jpeg-greyscale',
      await syntheticFace({ seed: 107, width: 480, height: 640, colourspace: 'b-w' }),
      'ok',
      'jpeg',
    ),
    entry(
      'png-16-bit',
      await syntheticFace({
        seed: 108,
        width: 480,
        height: 640,
        format: 'png',
        grain: 0,
        colourspace: 'rgb16',
      }),
      'ok',
      'png',
    ),
    entry(
      'png-alpha',
      await syntheticFace({
        seed: 109,
        width: 480,
        height: 640,
        format: 'png',
        grain: 0,
        background: 'transparent',
      }),
      'ok',
      'png',
    ),
    entry('jpeg-3000x2000', await jpegOfSize(3000, 2000, 110), 'ok', 'jpeg'),
  ];
}
