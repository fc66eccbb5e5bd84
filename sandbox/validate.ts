import sharp from 'sharp';

export type ImageFormat = 'jpeg' | 'png' | 'webp';

const BASE64_ALPHABET = /^[A-Za-z0-9+/]*={0,2}$/;
const NOT_BASE64 = /[^A-Za-z0-9+/=]/;

/**
 * Strict base64 as the contract asks: the standard alphabet, padded, no whitespace, no data-URL prefix.
 * Returns the bytes, or a description of what is wrong (never echoing the input).
 */
export function decodeStrictBase64(
  selfie: string,
): { ok: true; bytes: Buffer } | { ok: false; problem: string } {
  if (selfie.length === 0) return { ok: false, problem: 'selfie is empty' };
  if (/^data:/i.test(selfie)) {
    return {
      ok: false,
      problem: 'selfie must be plain base64 without a data-URL prefix ("data:image/...;base64,")',
    };
  }
  if (!BASE64_ALPHABET.test(selfie)) {
    const position = selfie.search(NOT_BASE64);
    return {
      ok: false,
      problem:
        position >= 0
          ? `selfie is not valid base64: the character at position ${position} is outside the base64 alphabet`
          : 'selfie is not valid base64: "=" padding may only appear at the end',
    };
  }
  if (selfie.length % 4 !== 0) {
    return {
      ok: false,
      problem: 'selfie is not valid base64: its length is not a multiple of 4 (missing padding?)',
    };
  }
  return { ok: true, bytes: Buffer.from(selfie, 'base64') };
}

/** By magic bytes only; decoding is checked separately. */
export function detectImageFormat(bytes: Buffer): ImageFormat | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (
    bytes.length >= 8 &&
    bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  ) {
    return 'png';
  }
  if (
    bytes.length >= 12 &&
    bytes.toString('latin1', 0, 4) === 'RIFF' &&
    bytes.toString('latin1', 8, 12) === 'WEBP'
  ) {
    return 'webp';
  }
  return null;
}

/**
 * Whether the image decodes, cheaply: an 8-pixel thumbnail lets JPEG shrink on load, yet a truncated or
 * corrupt file still fails (`failOn: 'error'`). A full `stats()` costs ~20x more on a phone-sized selfie.
 */
export async function decodeProblem(bytes: Buffer): Promise<string | null> {
  try {
    await sharp(bytes, { failOn: 'error' }).resize(8, 8, { fit: 'inside' }).raw().toBuffer();
    return null;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return (message.split('\n')[0] ?? 'decode failed').slice(0, 120);
  }
}
