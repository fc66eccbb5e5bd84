import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { preflightLimitsFrom } from '../../shared/preflight/limits.ts';
import { preflightSelfie } from '../../shared/preflight/preflight-selfie.ts';
import type { PreflightResult } from '../../shared/preflight/result.ts';
import { jpegOfSize, pngPixelBomb, syntheticFace, truncated } from '../../testkit/images.ts';

function accepted(result: PreflightResult) {
  if (!result.ok)
    throw new Error(`expected acceptance, got ${result.rejection.reason}: ${result.rejection.message}`);
  return result;
}

function rejection(result: PreflightResult) {
  if (result.ok) throw new Error('expected a rejection, got acceptance');
  return result.rejection;
}

/** Overwrites a PNG's first IDAT payload, so any decoder that reaches the pixels fails. */
function corruptPixelData(png: Buffer): Buffer {
  const copy = Buffer.from(png);
  const idat = copy.indexOf('IDAT', 8, 'latin1');
  const length = copy.readUInt32BE(idat - 4);
  copy.fill(0xaa, idat + 4, idat + 4 + length);
  return copy;
}

describe('preflight refuses a decompression bomb from its header', () => {
  it('says TOO_MANY_PIXELS for a bomb whose pixel data is garbage, so no decoder ran', async () => {
    // Prepare: the same corruption in a small PNG is caught by the decoder (the control).
    const bomb = corruptPixelData(pngPixelBomb(20_000, 20_000));
    const control = corruptPixelData(
      await syntheticFace({ seed: 1, width: 200, height: 200, format: 'png', grain: 0 }),
    );

    // Act
    const bombResult = rejection(await preflightSelfie(bomb));
    const controlResult = rejection(await preflightSelfie(control));

    // Assess: had the bomb reached a decoder it would have been UNDECODABLE like the control.
    expect(controlResult.reason).toBe('UNDECODABLE');
    expect(bombResult.reason).toBe('TOO_MANY_PIXELS');
    expect(bombResult.detectedFormat).toBe('png');
    expect(bombResult.message).toContain('20000×20000 = 400.0 MP');
    expect(bombResult.message).toContain('before decoding any pixel');
    expect(bomb.length).toBeLessThan(100_000);
  });

  it('applies a configured pixel limit to an ordinary photo-sized JPEG', async () => {
    // Prepare
    const photo = await jpegOfSize(3000, 2000, 2);

    // Act
    const result = rejection(await preflightSelfie(photo, preflightLimitsFrom({ maxPixels: 5_000_000 })));

    // Assess
    expect(result.reason).toBe('TOO_MANY_PIXELS');
    expect(result.message).toContain('3000×2000 = 6.0 MP');
    expect(result.message).toContain('5.0 MP');
  });
});

describe('preflight decodes for real', () => {
  it('catches a truncated large JPEG even when the decoder shrinks on load', async () => {
    // Prepare: 3000×2000 is shrunk by libjpeg while decoding, a different path from a small file.
    const cut = truncated(await jpegOfSize(3000, 2000, 3), 0.8);

    // Act
    const result = rejection(await preflightSelfie(cut));

    // Assess
    expect(result.reason).toBe('UNDECODABLE');
    expect(result.detectedFormat).toBe('jpeg');
    expect(result.message).toContain('premature end of JPEG image');
  });

  it('accepts trailing bytes after a JPEG end marker, as some cameras write them', async () => {
    // Prepare
    const face = await syntheticFace({ seed: 4, width: 480, height: 640 });
    const padded = Buffer.concat([face, Buffer.alloc(1024, 0)]);

    // Act
    const result = accepted(await preflightSelfie(padded));

    // Assess
    expect(result.final).toMatchObject({ width: 480, height: 640 });
  });
});

describe('preflight output', () => {
  it('takes a Uint8Array, as the S3 SDK returns bodies, with the same hash as the Buffer', async () => {
    // Prepare
    const face = await syntheticFace({ seed: 9, width: 480, height: 640 });
    const view = new Uint8Array(face.buffer, face.byteOffset, face.byteLength);

    // Act
    const [fromBuffer, fromView] = await Promise.all([preflightSelfie(face), preflightSelfie(view)]);

    // Assess
    expect(accepted(fromView).sha256).toBe(accepted(fromBuffer).sha256);
    expect(accepted(fromView).jpeg.equals(accepted(fromBuffer).jpeg)).toBe(true);
  });

  it('rotates an EXIF orientation 6 file to the same picture as the upright original', async () => {
    // Prepare
    const upright = await syntheticFace({ seed: 5, width: 480, height: 640 });
    const sideways = await syntheticFace({ seed: 5, width: 480, height: 640, exifOrientation: 6 });

    // Act
    const [a, b] = await Promise.all([preflightSelfie(upright), preflightSelfie(sideways)]);
    const [pixelsA, pixelsB] = await Promise.all(
      [accepted(a).jpeg, accepted(b).jpeg].map((jpeg) => sharp(jpeg).greyscale().raw().toBuffer()),
    );

    // Assess: same size, and the pixels differ only by JPEG noise (a wrong turn differs by far more).
    expect(accepted(b).original).toMatchObject({ width: 640, height: 480, orientation: 6 });
    expect([accepted(b).final.width, accepted(b).final.height]).toEqual([480, 640]);
    if (!pixelsA || !pixelsB) throw new Error('decode failed');
    let difference = 0;
    for (let i = 0; i < pixelsA.length; i++) difference += Math.abs((pixelsA[i] ?? 0) - (pixelsB[i] ?? 0));
    expect(difference / pixelsA.length).toBeLessThan(4);
  });

  it('shrinks to a configured long side, keeping the aspect ratio', async () => {
    // Prepare
    const face = await syntheticFace({ seed: 6, width: 900, height: 1200, format: 'webp' });

    // Act
    const result = accepted(await preflightSelfie(face, preflightLimitsFrom({ maxLongSide: 600 })));

    // Assess
    expect(result.format).toBe('webp');
    expect([result.final.width, result.final.height]).toEqual([450, 600]);
  });

  it('uses the configured JPEG quality', async () => {
    // Prepare
    const face = await syntheticFace({ seed: 7, width: 720, height: 960 });

    // Act
    const low = accepted(await preflightSelfie(face, preflightLimitsFrom({ jpegQuality: 40 })));
    const high = accepted(await preflightSelfie(face, preflightLimitsFrom({ jpegQuality: 95 })));

    // Assess
    expect(low.final.bytes).toBeLessThan(high.final.bytes);
  });

  it('rejects a face under a raised minimum side, such as the 600×600 one peer asks for', async () => {
    // Prepare
    const face = await syntheticFace({ seed: 8, width: 480, height: 640 });

    // Act
    const result = rejection(await preflightSelfie(face, preflightLimitsFrom({ minSide: 600 })));

    // Assess
    expect(result.reason).toBe('TOO_SMALL');
    expect(result.message).toContain('480×640 px, under the minimum of 600×600 px');
  });

  it('rejects a file one byte over a configured byte limit before looking further', async () => {
    // Prepare: an unsupported format, to show the size check comes first.
    const gif = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#888' } })
      .gif()
      .toBuffer();

    // Act
    const result = rejection(await preflightSelfie(gif, preflightLimitsFrom({ maxBytes: gif.length - 1 })));

    // Assess
    expect(result.reason).toBe('TOO_LARGE');
    expect(result.detectedFormat).toBe('gif');
  });
});
