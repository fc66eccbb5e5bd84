import { describe, expect, it } from 'vitest';
import { sniffImageFormat } from '../../shared/preflight/sniff-format.ts';

function ftyp(major: string, ...compatible: string[]): Buffer {
  const box = Buffer.alloc(16 + 4 * compatible.length);
  box.writeUInt32BE(box.length, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(major, 8, 'latin1');
  compatible.forEach((brand, i) => {
    box.write(brand, 16 + 4 * i, 'latin1');
  });
  return box;
}

describe('format sniffing from magic bytes', () => {
  it.each([
    ['JPEG', Buffer.from([0xff, 0xd8, 0xff, 0xe1, 0, 0]), 'jpeg', true],
    ['PNG', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]), 'png', true],
    ['WebP', Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1'), 'webp', true],
    ['PNG signature cut short', Buffer.from([0x89, 0x50, 0x4e, 0x47]), 'unknown', false],
    ['RIFF WAVE', Buffer.from('RIFF\x10\x00\x00\x00WAVEfmt ', 'latin1'), 'riff', false],
    ['HEIC', ftyp('heic', 'mif1', 'heic'), 'heic', false],
    ['generic HEIF with HEVC', ftyp('mif1', 'mif1', 'heic'), 'heic', false],
    ['generic HEIF with AV1', ftyp('mif1', 'mif1', 'avif'), 'avif', false],
    ['generic HEIF', ftyp('mif1', 'mif1'), 'heif', false],
    ['AVIF', ftyp('avif', 'mif1', 'miaf'), 'avif', false],
    ['MP4', ftyp('isom', 'isom', 'mp41'), 'mp4', false],
    ['QuickTime', ftyp('qt  '), 'quicktime', false],
    ['GIF87a', Buffer.from('GIF87a\x01\x00', 'latin1'), 'gif', false],
    ['TIFF little-endian', Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0]), 'tiff', false],
    ['TIFF big-endian', Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8]), 'tiff', false],
    ['PDF', Buffer.from('%PDF-1.4\n'), 'pdf', false],
    [
      'SVG with a BOM and whitespace',
      Buffer.from('\uFEFF  \n<svg xmlns="http://www.w3.org/2000/svg"/>'),
      'svg',
      false,
    ],
    ['SVG after a doctype', Buffer.from('<?xml version="1.0"?><!DOCTYPE svg><svg/>'), 'svg', false],
    ['other XML', Buffer.from('<?xml version="1.0"?><note/>'), 'xml', false],
    ['gzip (SVGZ)', Buffer.from([0x1f, 0x8b, 0x08, 0x00]), 'gzip', false],
    ['UTF-8 text', Buffer.from('Grüße, not a photo'), 'text', false],
    ['JSON', Buffer.from('{"selfie":"nope"}'), 'text', false],
    ['empty', Buffer.alloc(0), 'empty', false],
    ['binary noise', Buffer.from([0x00, 0x01, 0x02, 0x03, 0xfe]), 'unknown', false],
  ])('%s is %s', (_label, bytes, format, accepted) => {
    // Prepare / Act
    const sniffed = sniffImageFormat(bytes);

    // Assess
    expect(sniffed.format).toBe(format);
    expect(sniffed.accepted).toBe(accepted);
  });

  it('keeps control characters from a hostile brand out of the evidence', () => {
    // Prepare
    const box = ftyp('x\n\x1bz');

    // Act
    const sniffed = sniffImageFormat(box);

    // Assess
    expect(sniffed.format).toBe('iso-bmff');
    expect(sniffed.evidence).toContain("'x??z'");
  });
});
