import { z } from 'zod';
import { selfieRefSchema } from './selfie.ts';

/** The work queue's message body: one selfie to verify. */
export const verifySelfieMessageSchema = selfieRefSchema.extend({
  selfieId: z.string().min(1),
  batchId: z.string().min(1),
  /** When the upload was seen (ISO 8601). */
  receivedAt: z.string().min(1),
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
