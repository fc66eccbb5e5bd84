import type { Decision } from '../../shared/decision.ts';
import { type OutcomeEventDetailV1, outcomeEventId } from '../../shared/events/outcome-event.ts';

/** A valid (version 1) outcome detail; tests override what they are about. */
export function outcomeDetail(
  overrides: Partial<OutcomeEventDetailV1> & { decision?: Decision } = {},
): OutcomeEventDetailV1 {
  return {
    schemaVersion: 1,
    eventId: outcomeEventId('selfie-bucket/uploads/batch-7/alice.jpg', '2025-03-01T10:00:02.512Z'),
    selfieId: 'selfie-bucket/uploads/batch-7/alice.jpg',
    bucket: 'selfie-bucket',
    key: 'uploads/batch-7/alice.jpg',
    batchId: 'batch-7',
    decision: 'VERIFIED',
    reason: null,
    liveScore: 0.97,
    popScore: 0.95,
    vendorStatus: 'VERIFIED',
    transactionReference: 'txn-alice-1',
    debitStatus: 'DEBITED',
    duplicateOf: null,
    attempts: 1,
    paidCalls: 1,
    uncertainCalls: 0,
    receivedAt: '2025-03-01T10:00:00.000Z',
    decidedAt: '2025-03-01T10:00:02.512Z',
    ...overrides,
  };
}
