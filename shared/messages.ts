import { z } from 'zod';
import type { SelfieResult } from './results/records.ts';
import { selfieRefSchema } from './selfie.ts';

/** The work queue's message body: one selfie to verify. */
export const verifySelfieMessageSchema = selfieRefSchema.extend({
  selfieId: z.string().min(1),
  batchId: z.string().min(1),
  /** When the upload was seen (ISO 8601). */
  receivedAt: z.string().min(1),
  /**
   * How many times this selfie has waited (a twin in progress, a paused vendor, the spend cap). A wait
   * is sent as a new message, so it never counts against the queue's maxReceiveCount.
   */
  waits: z.number().int().nonnegative().optional(),
});
export type VerifySelfieMessage = z.infer<typeof verifySelfieMessageSchema>;

export function parseVerifySelfieMessage(body: string): VerifySelfieMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new Error('Work queue message is not JSON');
  }
  return verifySelfieMessageSchema.parse(json);
}

/**
 * Every character SQS refuses in a message body. SQS accepts only #x9 | #xA | #xD | #x20-#xD7FF |
 * #xE000-#xFFFD | #x10000-#x10FFFF; the local emulator refuses #x10000-#x10FFFF too. JSON.stringify
 * already escapes C0 controls and lone surrogates, but not U+FFFE/U+FFFF (legal in an S3 key) nor
 * characters outside the Basic Multilingual Plane (emoji in a file name), so those are matched here.
 */
const REFUSED_BY_SQS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/gu;

/** `\uXXXX` JSON escapes of one character (a surrogate pair above U+FFFF): the same string once parsed. */
function jsonEscape(char: string): string {
  let escaped = '';
  for (let i = 0; i < char.length; i++) escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return escaped;
}

/**
 * JSON of `value` that SQS accepts whatever strings it holds: every character SQS refuses is written
 * as a \u escape, and the text parses back to the same value. For any body sent to SQS that carries
 * S3 keys (work messages, outcome events sent to queues).
 */
export function toSqsSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(REFUSED_BY_SQS, jsonEscape);
}

/** The work-queue message body, SQS-safe (see `toSqsSafeJson`) so any S3 key can be queued. */
export function serializeVerifySelfieMessage(message: VerifySelfieMessage): string {
  return toSqsSafeJson(verifySelfieMessageSchema.parse(message));
}

/** The work-queue message of a result: what enqueue sent for it, rebuilt from the table. */
export function messageForResult(result: SelfieResult): VerifySelfieMessage {
  return {
    selfieId: result.selfieId,
    bucket: result.bucket,
    key: result.key,
    ...(result.versionId ? { versionId: result.versionId } : {}),
    batchId: result.batchId,
    receivedAt: result.receivedAt,
  };
}
