/**
 * Names an upload's format from its first bytes (magic numbers), never from its file name.
 * This runs before any decoder sees the bytes: sharp sniffs formats itself and would happily
 * render SVG (including `data:` URIs), TIFF, GIF or AVIF, so only the three formats the
 * vendor's peers accept get past this point.
 */

export type AcceptedFormat = 'jpeg' | 'png' | 'webp';

export type DetectedFormat =
  | AcceptedFormat
  | 'empty'
  | 'heic'
  | 'heif'
  | 'avif'
  | 'mp4'
  | 'quicktime'
  | 'iso-bmff'
  | 'gif'
  | 'tiff'
  | 'bmp'
  | 'ico'
  | 'psd'
  | 'jpeg2000'
  | 'jpegxl'
  | 'riff'
  | 'svg'
  | 'xml'
  | 'html'
  | 'pdf'
  | 'zip'
  | 'gzip'
  | 'text'
  | 'unknown';

export interface SniffedFormat {
  format: DetectedFormat;
  /** True only for JPEG, PNG and WebP. */
  accepted: boolean;
  /** What in the bytes gave it away, for messages; never more than a magic number. */
  evidence: string;
}

const acceptedFormats: ReadonlySet<DetectedFormat> = new Set<DetectedFormat>(['jpeg', 'png', 'webp']);

export function isAcceptedFormat(format: DetectedFormat): format is AcceptedFormat {
  return acceptedFormats.has(format);
}

function startsWith(bytes: Buffer, signature: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) return false;
  return signature.every((byte, i) => bytes[offset + i] === byte);
}

function asciiAt(bytes: Buffer, offset: number, length: number): string {
  if (bytes.length < offset + length) return '';
  return bytes.toString('latin1', offset, offset + length);
}

/** A brand or tag as printable ASCII, so a hostile file cannot put control characters in a message. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

function found(format: DetectedFormat, evidence: string): SniffedFormat {
  return { format, accepted: isAcceptedFormat(format), evidence };
}

const heicBrands = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs']);
const avifBrands = new Set(['avif', 'avis']);
const heifBrands = new Set(['mif1', 'msf1', 'mif2']);

/** ISO base media (HEIC, HEIF, AVIF, MP4, MOV): a `ftyp` box first, then major and compatible brands. */
function sniffIsoBmff(bytes: Buffer): SniffedFormat | undefined {
  if (asciiAt(bytes, 4, 4) !== 'ftyp') return undefined;
  const boxSize = bytes.readUInt32BE(0);
  const end = Math.min(bytes.length, Math.max(boxSize, 16), 256);
  const major = asciiAt(bytes, 8, 4);
  const brands = [major];
  for (let offset = 16; offset + 4 <= end; offset += 4) brands.push(asciiAt(bytes, offset, 4));
  const evidence = `an ISO-BMFF 'ftyp' box with major brand '${printable(major)}'`;
  if (heicBrands.has(major)) return found('heic', evidence);
  if (avifBrands.has(major)) return found('avif', evidence);
  if (heifBrands.has(major)) {
    // Generic HEIF: the compatible brands say whether the pictures are HEVC or AV1.
    if (brands.some((b) => avifBrands.has(b)))
      return found('avif', `${evidence} and an AV1 compatible brand`);
    if (brands.some((b) => heicBrands.has(b)))
      return found('heic', `${evidence} and an HEVC compatible brand`);
    return found('heif', evidence);
  }
  if (major === 'qt  ') return found('quicktime', evidence);
  if (/^(isom|iso\d|mp4\d|mp71|avc1|M4V |M4A |3gp\d|dash)$/.test(major)) return found('mp4', evidence);
  return found('iso-bmff', evidence);
}

/** Markup: SVG (which sharp renders, `data:` URIs included), other XML, or HTML (a saved error page). */
function sniffMarkup(bytes: Buffer): SniffedFormat | undefined {
  const head = bytes
    .toString('utf8', 0, Math.min(bytes.length, 4096))
    .replace(/^\uFEFF/, '')
    .trimStart()
    .toLowerCase();
  if (!head.startsWith('<')) return undefined;
  if (head.includes('<svg'))
    return found('svg', 'an <svg> element, vector markup that a renderer would draw');
  if (head.startsWith('<!doctype html') || head.startsWith('<html'))
    return found('html', 'an HTML document, often a saved error page');
  if (head.startsWith('<?xml')) return found('xml', 'an XML declaration');
  return undefined;
}

const textControlBytes = new Set([0x09, 0x0a, 0x0c, 0x0d]);

/** Valid UTF-8 with no NUL or stray control characters in the first kilobyte. */
function looksLikeText(bytes: Buffer): boolean {
  const sample = bytes.subarray(0, 1024);
  for (const byte of sample) {
    if ((byte < 0x20 && !textControlBytes.has(byte)) || byte === 0x7f) return false;
  }
  try {
    // `stream: true` tolerates a multi-byte character cut at the end of the sample.
    new TextDecoder('utf-8', { fatal: true }).decode(sample, { stream: true });
    return true;
  } catch {
    return false;
  }
}

export function sniffImageFormat(bytes: Buffer): SniffedFormat {
  if (bytes.length === 0) return found('empty', 'no bytes at all');
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return found('jpeg', 'the JPEG signature FF D8 FF');
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    return found('png', 'the PNG signature 89 50 4E 47 0D 0A 1A 0A');
  if (asciiAt(bytes, 0, 4) === 'RIFF') {
    const kind = asciiAt(bytes, 8, 4);
    if (kind === 'WEBP') return found('webp', "a RIFF container of type 'WEBP'");
    return found('riff', `a RIFF container of type '${printable(kind)}', audio or video rather than WebP`);
  }
  const iso = sniffIsoBmff(bytes);
  if (iso) return iso;
  if (asciiAt(bytes, 0, 6) === 'GIF87a' || asciiAt(bytes, 0, 6) === 'GIF89a')
    return found('gif', `the GIF signature '${asciiAt(bytes, 0, 6)}'`);
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]))
    return found('tiff', "a TIFF byte-order mark 'II*' or 'MM*'");
  if (startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b]))
    return found('tiff', 'a BigTIFF byte-order mark');
  if (asciiAt(bytes, 0, 5) === '%PDF-') return found('pdf', "the PDF signature '%PDF-'");
  if (asciiAt(bytes, 0, 2) === 'BM' && bytes.length >= 14) return found('bmp', "the BMP signature 'BM'");
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00])) return found('ico', 'the ICO signature 00 00 01 00');
  if (asciiAt(bytes, 0, 4) === '8BPS') return found('psd', "the Photoshop signature '8BPS'");
  if (
    startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) ||
    startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])
  )
    return found('jpeg2000', 'a JPEG 2000 signature');
  if (startsWith(bytes, [0xff, 0x0a]) || startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20]))
    return found('jpegxl', 'a JPEG XL signature');
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return found('zip', "the ZIP signature 'PK'");
  if (startsWith(bytes, [0x1f, 0x8b]))
    return found('gzip', 'the gzip signature 1F 8B, compressed data such as SVGZ');
  const markup = sniffMarkup(bytes);
  if (markup) return markup;
  if (looksLikeText(bytes)) return found('text', 'plain text with no image signature');
  const firstBytes = bytes
    .subarray(0, 4)
    .toString('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1 ');
  return found('unknown', `binary data starting ${firstBytes}, which matches no known image signature`);
}
