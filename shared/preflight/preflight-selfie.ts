import { createHash } from 'node:crypto';
import sharp, { type Metadata } from 'sharp';
import { defaultPreflightLimits, type PreflightLimits } from './limits.ts';
import {
  describeBytes,
  describeDecoderError,
  describeMegapixels,
  type PreflightRejectionReason,
  type PreflightResult,
} from './result.ts';
import { type DetectedFormat, isAcceptedFormat, sniffImageFormat } from './sniff-format.ts';

// Each selfie is decoded once; libvips' operation cache would only hold memory on a Lambda.
sharp.cache(false);

/**
 * 'error' catches truncated and corrupt pixel data ("premature end of JPEG image") but lets
 * through the harmless libjpeg warnings (extraneous bytes before a marker) that phone files carry.
 */
const failOn = 'error';
/** JPEG, PNG and WebP have at most four channels (CMYK, RGBA); more means a hostile header. */
const maxInputChannels = 4;

/**
 * Checks an upload before any paid call and turns it into the JPEG to send, or says exactly why
 * not. Order matters: byte limit, then magic bytes (nothing unsupported reaches a decoder), then
 * the header (pixel and size limits before decoding), then one real decode that orients,
 * flattens, shrinks and re-encodes.
 */
export async function preflightSelfie(
  upload: Buffer | Uint8Array,
  limits: PreflightLimits = defaultPreflightLimits,
): Promise<PreflightResult> {
  // The S3 SDK hands out Uint8Array; wrap it without copying.
  const bytes = Buffer.isBuffer(upload)
    ? upload
    : Buffer.from(upload.buffer, upload.byteOffset, upload.byteLength);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const reject = (reason: PreflightRejectionReason, detectedFormat: DetectedFormat, message: string) =>
    ({ ok: false, sha256, rejection: { reason, detectedFormat, message } }) as const;

  if (bytes.length === 0) return reject('EMPTY', 'empty', 'The file is empty (0 bytes); there is no image.');

  // Only the first bytes are read here, to name the format in a TOO_LARGE message.
  const sniffed = sniffImageFormat(bytes);
  if (bytes.length > limits.maxBytes) {
    return reject(
      'TOO_LARGE',
      sniffed.format,
      `The ${sniffed.format} file is ${describeBytes(bytes.length)}, over the limit of ${describeBytes(limits.maxBytes)}.`,
    );
  }
  if (!isAcceptedFormat(sniffed.format)) {
    return reject(
      'UNSUPPORTED_FORMAT',
      sniffed.format,
      `The file is ${sniffed.format}: found ${sniffed.evidence}. Only JPEG, PNG and WebP are accepted.`,
    );
  }
  const format = sniffed.format;

  // Header only: no pixel is decoded, so a decompression bomb costs nothing here. The pixel limit
  // is off for this read so the message can say how big the image claims to be.
  let header: Metadata;
  try {
    header = await sharp(bytes, { failOn, limitInputPixels: false }).metadata();
  } catch (error) {
    return reject(
      'UNDECODABLE',
      format,
      `The ${format} header cannot be read: ${describeDecoderError(error)}.`,
    );
  }
  if (header.format !== format) {
    return reject(
      'UNDECODABLE',
      format,
      `The file starts like ${format} but the decoder reads it as ${header.format}; refusing an ambiguous file.`,
    );
  }
  const pixels = header.width * header.height;
  if (pixels > limits.maxPixels) {
    return reject(
      'TOO_MANY_PIXELS',
      format,
      `The ${format} header declares ${header.width}×${header.height} = ${describeMegapixels(pixels)}, over the ` +
        `limit of ${describeMegapixels(limits.maxPixels)}; refused from the header, before decoding any pixel.`,
    );
  }
  const upright = header.autoOrient;
  if (upright.width < limits.minWidth || upright.height < limits.minHeight) {
    return reject(
      'TOO_SMALL',
      format,
      `The ${format} image is ${upright.width}×${upright.height} px, under the minimum of ` +
        `${limits.minWidth}×${limits.minHeight} px.`,
    );
  }

  // The one full decode. The limits are set again in case the header lied to metadata().
  try {
    const { data, info } = await sharp(bytes, {
      failOn,
      limitInputPixels: limits.maxPixels,
      limitInputChannels: maxInputChannels,
      autoOrient: true,
    })
      .flatten({ background: '#ffffff' })
      .resize({
        width: limits.maxLongSide,
        height: limits.maxLongSide,
        fit: 'inside',
        withoutEnlargement: true,
      })
      .toColourspace('srgb')
      .jpeg({ quality: limits.jpegQuality })
      .toBuffer({ resolveWithObject: true });
    return {
      ok: true,
      jpeg: data,
      sha256,
      format,
      original: {
        width: header.width,
        height: header.height,
        bytes: bytes.length,
        ...(header.orientation === undefined ? {} : { orientation: header.orientation }),
      },
      final: { width: info.width, height: info.height, bytes: info.size },
    };
  } catch (error) {
    const detail = describeDecoderError(error);
    if (/pixel limit|channel limit/i.test(detail)) {
      return reject('TOO_MANY_PIXELS', format, `The ${format} image exceeds a decoder limit: ${detail}.`);
    }
    return reject('UNDECODABLE', format, `The ${format} image cannot be decoded: ${detail}.`);
  }
}
