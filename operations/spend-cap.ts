import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { messageForResult, serializeVerifySelfieMessage } from '../shared/messages.ts';
import { type BudgetScope, type BudgetState, SpendBudget } from '../shared/results/spend-budget.ts';
import { AuditQueries } from './audit-queries.ts';

export interface SpendCapTarget {
  db: DynamoDBDocumentClient;
  tableName: string;
  sqs?: SQSClient;
  workQueueUrl?: string;
}

/**
 * Sends every HELD selfie of a batch back to the work queue, so it tries its budget again now rather
 * than at its next periodic look. It stays HELD in the table until a worker takes it.
 */
export async function requeueHeldSelfies(target: SpendCapTarget, batchId: string): Promise<number> {
  if (!target.sqs || !target.workQueueUrl) return 0;
  const { sqs, workQueueUrl } = target;
  let requeued = 0;
  for await (const page of new AuditQueries(target.db, target.tableName).batchPages(batchId, 'HELD')) {
    for (let start = 0; start < page.length; start += 10) {
      const group = page.slice(start, start + 10);
      const out = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: workQueueUrl,
          Entries: group.map((result, index) => ({
            Id: String(index),
            MessageBody: serializeVerifySelfieMessage(messageForResult(result)),
          })),
        }),
      );
      if (out.Failed?.length) {
        throw new Error(
          `The work queue refused ${out.Failed.length} held selfie(s): ${out.Failed[0]?.Message ?? ''}`,
        );
      }
      requeued += group.length;
    }
  }
  return requeued;
}

/** Raises a spend cap and re-queues the batch's HELD selfies (with a batch scope) so they resume at once. */
export async function raiseSpendCap(
  target: SpendCapTarget,
  scope: BudgetScope,
  limit: number,
): Promise<{ budget: BudgetState; requeued: number }> {
  const budget = new SpendBudget(target.db, target.tableName);
  await budget.raise(scope, limit);
  const requeued = scope.kind === 'batch' ? await requeueHeldSelfies(target, scope.batchId) : 0;
  return { budget: await budget.read(scope), requeued };
}
