import { type DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { conditionalWrite } from './conditional.ts';
import { type AttemptCharge, type AttemptItem, attemptItemSchema, keys, withoutNulls } from './records.ts';

export interface EndedAttempt {
  selfieId: string;
  attempt: number;
  endedAt: string;
  outcome: Exclude<AttemptItem['outcome'], 'open'>;
  charge: AttemptCharge;
  httpStatus?: number;
  responseCode?: string;
  debitStatus?: string | null;
  detail?: string;
  verdict?: AttemptItem['verdict'];
}

/**
 * The vendor calls made for each selfie, one item per call: written before the call (write-ahead, so a
 * crash can never hide a call that may have cost money) and ended with what the call cost.
 */
export class AttemptLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async list(selfieId: string): Promise<AttemptItem[]> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.selfie(selfieId), ':prefix': keys.attemptPrefix },
        ConsistentRead: true,
      }),
    );
    return (out.Items ?? []).map((item) => attemptItemSchema.parse(withoutNulls(item)));
  }

  /**
   * Write-ahead: the attempt exists before the paid call is made. Returns false if this attempt
   * number was already written (a crashed delivery), in which case its reference must be reused.
   */
  async begin(attempt: {
    selfieId: string;
    attempt: number;
    transactionReference: string;
    /** The bytes sent (see `AttemptItem.sha256`). */
    sha256?: string;
    startedAt: string;
  }): Promise<boolean> {
    return conditionalWrite(() =>
      this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: keys.selfie(attempt.selfieId),
            sk: keys.attempt(attempt.attempt),
            ...attempt,
            outcome: 'open',
            gsi3pk: keys.reference(attempt.transactionReference),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  /** Ends an open attempt with its outcome and charge. Ending it twice with the same answer is harmless. */
  async end(attempt: EndedAttempt): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: keys.selfie(attempt.selfieId), sk: keys.attempt(attempt.attempt) },
        UpdateExpression:
          'SET outcome = :outcome, charge = :charge, endedAt = :ended, httpStatus = :http, responseCode = :code, debitStatus = :debit, detail = :detail, verdict = :verdict',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: {
          ':outcome': attempt.outcome,
          ':charge': attempt.charge,
          ':ended': attempt.endedAt,
          ':http': attempt.httpStatus ?? null,
          ':code': attempt.responseCode ?? null,
          ':debit': attempt.debitStatus ?? null,
          ':detail': attempt.detail ?? null,
          ':verdict': attempt.verdict ?? null,
        },
      }),
    );
  }
}
