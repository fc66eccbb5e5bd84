import { setTimeout as sleep } from 'node:timers/promises';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TRANSACTION_CONFLICT_RETRY } from '../verification/policy.ts';

/** True when a write (single or transactional) was refused by one of its conditions. */
export function isConditionFailure(error: unknown): boolean {
  if (error instanceof TransactionCanceledException) {
    return (error.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed');
  }
  return (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/** True when DynamoDB cancelled a transaction only because another one touched the same item. */
export function isTransactionConflict(error: unknown): boolean {
  if (!(error instanceof TransactionCanceledException)) return false;
  const codes = (error.CancellationReasons ?? []).map((r) => r.Code ?? 'None');
  return codes.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed');
}

/**
 * A conditional write, or this fallback: resolves `true` when the write went through and to the
 * fallback's value when its condition refused it. Any other error is thrown as it came.
 */
export async function writeOr<T>(
  write: () => Promise<unknown>,
  fallback: () => T | Promise<T>,
): Promise<true | T> {
  try {
    await write();
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return fallback();
    throw error;
  }
}

/** A conditional write whose refusal is an answer, not an error: true when written. */
export function conditionalWrite(write: () => Promise<unknown>): Promise<boolean> {
  return writeOr(write, () => false);
}

/**
 * Runs a transaction, retrying it when DynamoDB cancels it for a conflict with a concurrent one (the
 * batch summary item is shared by every selfie of a batch). The SDK does not retry those itself.
 */
export async function transactWithConflictRetry<T>(
  send: () => Promise<T>,
  random: () => number = Math.random,
): Promise<T> {
  const { attempts, baseMs, maxMs } = TRANSACTION_CONFLICT_RETRY;
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (!isTransactionConflict(error) || attempt >= attempts) throw error;
      await sleep(Math.floor(random() * Math.min(maxMs, baseMs * 2 ** attempt)));
    }
  }
}
