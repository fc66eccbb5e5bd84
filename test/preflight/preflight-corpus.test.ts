import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultPreflightLimits } from '../../shared/preflight/limits.ts';
import { preflightSelfie } from '../../shared/preflight/preflight-selfie.ts';
import type { PreflightResult } from '../../shared/preflight/result.ts';
import { type CorpusEntry, hostileCorpus } from '../../testkit/images.ts';

let corpus: CorpusEntry[];
const results = new Map<string, PreflightResult>();

beforeAll(async () => {
  corpus = await hostileCorpus();
  for (const entry of corpus) results.set(entry.name, await preflightSelfie(entry.bytes));
});

function resultOf(name: string): PreflightResult {
  const result = results.get(name);
  if (!result) throw new Error(`no corpus entry named ${name}`);
  return result;
}

describe('preflight over the hostile corpus', () => {
  it('covers every rejection reason and every accepted format', () => {
    // Prepare / Act
    const verdicts = new Set(corpus.map((entry) => entry.expect));
    const acceptedFormats = new Set(corpus.filter((e) => e.expect === 'ok').map((e) => e.detectedFormat));

    // Assess
    expect([...verdicts].sort()).toEqual(
      [
        'EMPTY',
        'TOO_LARGE',
        'TOO_MANY_PIXELS',
        'TOO_SMALL',
        'UNDECODABLE',
        'UNSUPPORTED_FORMAT',
        'ok',
      ].sort(),
    );
    expect([...acceptedFormats].sort()).toEqual(['jpeg', 'png', 'webp']);
  });

  it('reaches the expected verdict and detected format for each entry', () => {
    // Prepare
    const expected = corpus.map((e) => [e.name, e.expect, e.detectedFormat]);

    // Act
    const actual = corpus.map((e) => {
      const result = resultOf(e.name);
      return [
        e.name,
        result.ok ? 'ok' : result.rejection.reason,
        result.ok ? result.format : result.rejection.detectedFormat,
      ];
    });

    // Assess
    expect(actual).toEqual(expected);
  });

  it('names the detected format in every rejection message, and the limit where one was broken', () => {
    // Prepare
    const rejections = corpus.flatMap((e) => {
      const result = resultOf(e.name);
      return result.ok ? [] : [result.rejection];
    });

    // Act / Assess
    for (const rejection of rejections) {
      expect(rejection.message.toLowerCase()).toContain(rejection.detectedFormat);
    }
    const byName = (name: string) => {
      const result = resultOf(name);
      if (result.ok) throw new Error(`${name} was accepted`);
      return result.rejection.message;
    };
    expect(byName('jpeg-over-byte-limit')).toContain(defaultPreflightLimits.maxBytes.toLocaleString('en-US'));
    expect(byName('png-pixel-bomb-20000x20000')).toContain('40.0 MP');
    expect(byName('tiny-1x1-png')).toMatch(/1×1 px.*100×100 px/);
    expect(byName('heic-ftyp-header')).toContain("brand 'heic'");
    expect(byName('truncated-jpeg')).toContain('premature end of JPEG image');
  });

  it('never puts the input bytes into a message', () => {
    // Prepare
    const rejected = corpus.filter((e) => e.expect !== 'ok' && e.bytes.length >= 12);

    // Act / Assess
    for (const entry of rejected) {
      const result = resultOf(entry.name);
      if (result.ok) throw new Error(`${entry.name} was accepted`);
      const { message } = result.rejection;
      expect(message.length).toBeLessThan(300);
      expect(message).not.toContain(entry.bytes.subarray(0, 12).toString('base64'));
      expect(message).not.toContain(entry.bytes.subarray(12, 24).toString('base64'));
    }
    const text = resultOf('plain-text');
    if (text.ok) throw new Error('plain text was accepted');
    expect(text.rejection.message).not.toContain('selfie.jpg');
  });

  it('reports the SHA-256 of the original bytes, accepted or rejected', () => {
    // Prepare / Act / Assess
    for (const entry of corpus) {
      expect(resultOf(entry.name).sha256).toBe(createHash('sha256').update(entry.bytes).digest('hex'));
    }
  });

  it('turns every accepted image into a decodable 8-bit sRGB JPEG whose reported size is true', async () => {
    // Prepare
    const accepted = corpus.filter((e) => e.expect === 'ok');

    // Act / Assess
    for (const entry of accepted) {
      const result = resultOf(entry.name);
      if (!result.ok) throw new Error(`${entry.name}: ${result.rejection.message}`);
      const decoded = await sharp(result.jpeg, { failOn: 'warning' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      const header = await sharp(result.jpeg).metadata();
      expect(header.format).toBe('jpeg');
      expect(header.space).toBe('srgb');
      expect(header.depth).toBe('uchar');
      expect(decoded.info.channels).toBe(3);
      expect([decoded.info.width, decoded.info.height]).toEqual([result.final.width, result.final.height]);
      expect(result.final.bytes).toBe(result.jpeg.length);
      expect(result.original.bytes).toBe(entry.bytes.length);
      expect(header.exif).toBeUndefined();
    }
  });

  it('converts CMYK and 16-bit inputs, as their headers said they were', async () => {
    // Prepare
    const cmyk = corpus.find((e) => e.name === 'jpeg-cmyk');
    const deep = corpus.find((e) => e.name === 'png-16-bit');
    if (!cmyk || !deep) throw new Error('corpus lost its CMYK or 16-bit entry');

    // Act
    const [cmykHeader, deepHeader] = await Promise.all([
      sharp(cmyk.bytes).metadata(),
      sharp(deep.bytes).metadata(),
    ]);

    // Assess: the inputs really are what they claim; the output checks above cover the conversion.
    expect([cmykHeader.space, cmykHeader.channels]).toEqual(['cmyk', 4]);
    expect([deepHeader.depth, deepHeader.bitsPerSample]).toEqual(['ushort', 16]);
    expect(resultOf('jpeg-cmyk').ok).toBe(true);
    expect(resultOf('png-16-bit').ok).toBe(true);
  });

  it('applies EXIF orientation 6 before resizing: stored 640×480 comes out upright 480×640', () => {
    // Prepare / Act
    const result = resultOf('jpeg-exif-orientation-6');

    // Assess
    if (!result.ok) throw new Error(result.rejection.message);
    expect(result.original).toMatchObject({ width: 640, height: 480, orientation: 6 });
    expect([result.final.width, result.final.height]).toEqual([480, 640]);
  });

  it('flattens transparency onto white, not black', async () => {
    // Prepare
    const result = resultOf('png-alpha');
    if (!result.ok) throw new Error(result.rejection.message);

    // Act: the top-left corner is background, fully transparent in the input.
    const { data } = await sharp(result.jpeg)
      .extract({ left: 0, top: 0, width: 4, height: 4 })
      .raw()
      .toBuffer({ resolveWithObject: true });

    // Assess
    for (const channel of data) expect(channel).toBeGreaterThan(245);
  });

  it('shrinks the long side to 1280 and never enlarges a smaller image', () => {
    // Prepare / Act
    const large = resultOf('jpeg-3000x2000');
    const small = resultOf('jpeg');

    // Assess
    if (!large.ok || !small.ok) throw new Error('expected both accepted');
    expect([large.final.width, large.final.height]).toEqual([1280, 853]);
    expect(large.final.bytes).toBeLessThan(large.original.bytes);
    expect([small.final.width, small.final.height]).toEqual([small.original.width, small.original.height]);
  });
});
