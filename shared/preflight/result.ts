import type { AcceptedFormat, DetectedFormat } from './sniff-format.ts';

export type PreflightRejectionReason =
  | 'EMPTY'
  | 'TOO_LARGE'
  | 'UNSUPPORTED_FORMAT'
  | 'TOO_MANY_PIXELS'
  | 'TOO_SMALL'
  | 'UNDECODABLE';

export interface PreflightRejection {
  reason: PreflightRejectionReason;
  /** What the bytes turned out to be, e.g. 'heic', 'gif', 'svg', 'pdf', 'text', 'empty', 'jpeg', 'unknown'. */
  detectedFormat: DetectedFormat;
  /** For people: names what was found and the limit it broke. Never contains image bytes. */
  message: string;
}

export interface PreflightAccepted {
  ok: true;
  /** The image to send: EXIF orientation applied, alpha flattened onto white, sRGB, 8-bit, metadata stripped. */
  jpeg: Buffer;
  /** SHA-256 (hex) of the ORIGINAL bytes, so identical uploads can reuse one outcome. */
  sha256: string;
  format: AcceptedFormat;
  /** As stored in the file, before orientation; `orientation` is the EXIF tag when there is one. */
  original: { width: number; height: number; bytes: number; orientation?: number };
  final: { width: number; height: number; bytes: number };
}

export interface PreflightRejected {
  ok: false;
  sha256: string;
  rejection: PreflightRejection;
}

export type PreflightResult = PreflightAccepted | PreflightRejected;

export function describeBytes(bytes: number): string {
  const exact = `${bytes.toLocaleString('en-US')} bytes`;
  if (bytes < 1024) return exact;
  const units =
    bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  return `${units} (${exact})`;
}

export function describeMegapixels(pixels: number): string {
  return `${(pixels / 1_000_000).toFixed(1)} MP`;
}

/**
 * A decoder's error as safe message text: one line, printable ASCII, bounded. libvips messages
 * name the problem ("premature end of JPEG image"), never pixel data, but the bound keeps it so.
 */
export function describeDecoderError(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const line = raw.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}
