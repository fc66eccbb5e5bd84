import { z } from 'zod';
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
 * The message body. Characters outside the Basic Multilingual Plane (emoji in a file name) are
 * written as JSON \u escapes: SQS accepts them raw, but the local emulator refuses them, and the
 * escaped form parses back to the same key everywhere.
 */
export function serializeVerifySelfieMessage(message: VerifySelfieMessage): string {
  return JSON.stringify(verifySelfieMessageSchema.parse(message)).replace(
    /[\u{10000}-\u{10FFFF}]/gu,
    (char) => {
      const code = char.codePointAt(0) ?? 0;
      const high = Math.floor((code - 0x10000) / 0x400) + 0xd800;
      const low = ((code - 0x10000) % 0x400) + 0xdc00;
      return `\\u${high.toString(16)}\\u${low.toString(16)}`;
    },
  );
}
