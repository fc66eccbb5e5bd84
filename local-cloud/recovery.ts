import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import {
  messageForResult,
  serializeVerifySelfieMessage,
  type VerifySelfieMessage,
} from '../shared/messages.ts';
import { keys, type SelfieResult, selfieResultSchema } from '../shared/results/records.ts';
import { awaitsEnqueue, SelfieLifecycle } from '../shared/results/selfie-lifecycle.ts';

/**
 * What a host restart must repair. The emulated bucket and queues live in memory while the table is
 * on disk, so after a crash the table still lists selfies that were enqueued but not decided, and
 * their messages are gone. Like a DLQ redrive, the host sends them again, once their objects exist
 * again (a rerun uploads the folder again; enqueue skips selfies it already sent, so nobody else would).
 *
 * A crashed host also leaves PROCESSING leases that would block the next delivery until they run out
 * (up to the worker timeout plus 30 s). The lock on the state folder proves their holder is dead, so
 * they are released at boot, as `recordUnfinished` does when a delivery ends normally.
 */
export class LostWork {
  private readonly waiting = new Map<string, VerifySelfieMessage>();

  private constructor(
    private readonly sqs: SQSClient,
    private readonly workQueueUrl: string,
  ) {}

  static async find(
    db: DynamoDBDocumentClient,
    tableName: string,
    sqs: SQSClient,
    workQueueUrl: string,
  ): Promise<{ lostWork: LostWork; unfinished: number; leasesReleased: number }> {
    const lostWork = new LostWork(sqs, workQueueUrl);
    const repository = new SelfieLifecycle(db, tableName);
    const unfinished = await scanUnfinished(db, tableName);
    let leasesReleased = 0;
    for (const result of unfinished) {
      if (await releaseLease(repository, result)) leasesReleased += 1;
      // Enqueue sends these itself when their objects are uploaded again. A worker can lease a selfie
      // before enqueue's markEnqueued lands, so a PROCESSING or HELD one without enqueuedAt (the host
      // died in between) is sent here: otherwise nobody would.
      if (awaitsEnqueue(result)) continue;
      lostWork.waiting.set(result.selfieId, messageForResult(result));
    }
    return { lostWork, unfinished: unfinished.length, leasesReleased };
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Sends the lost messages of these selfies (whose objects were just uploaded) to the work queue. */
  async requeue(selfieIds: readonly string[]): Promise<number> {
    const messages = selfieIds.flatMap((id) => {
      const message = this.waiting.get(id);
      return message ? [message] : [];
    });
    for (let start = 0; start < messages.length; start += 10) {
      const group = messages.slice(start, start + 10);
      const out = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.workQueueUrl,
          Entries: group.map((m, i) => ({ Id: String(i), MessageBody: serializeVerifySelfieMessage(m) })),
        }),
      );
      const failed = new Set((out.Failed ?? []).map((f) => Number(f.Id)));
      group.forEach((m, i) => {
        if (!failed.has(i)) this.waiting.delete(m.selfieId);
      });
    }
    return messages.length;
  }
}

async function scanUnfinished(db: DynamoDBDocumentClient, tableName: string): Promise<SelfieResult[]> {
  const results: SelfieResult[] = [];
  const pages = paginateScan(
    { client: db },
    {
      TableName: tableName,
      // HELD too: the message that would have looked at its budget again lived in memory.
      FilterExpression: 'sk = :result AND #state IN (:received, :processing, :held)',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: {
        ':result': keys.result,
        ':received': 'RECEIVED',
        ':processing': 'PROCESSING',
        ':held': 'HELD',
      },
      ConsistentRead: true,
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) results.push(selfieResultSchema.parse(item));
  }
  return results;
}

async function releaseLease(repository: SelfieLifecycle, result: SelfieResult): Promise<boolean> {
  const { leaseId, leaseUntil } = result;
  if (leaseId === undefined || leaseUntil === undefined || leaseUntil <= Date.now()) return false;
  return repository.releaseLease(result.selfieId, leaseId);
}
