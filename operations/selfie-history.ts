import { type DynamoDBDocumentClient, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { conditionalWrite, transactWithConflictRetry, writeOr } from '../shared/results/conditional.ts';
import { keys, type SelfieResult } from '../shared/results/records.ts';
import { SelfieLifecycle } from '../shared/results/selfie-lifecycle.ts';

/**
 * What operators do to a selfie's record, each with a history item saying who did what and when:
 * redrive, purge of the uploaded object, settling an uncertain charge. Only the CLI loads this; the
 * Lambdas never can change history.
 */
export class OperatorHistory {
  readonly selfies: SelfieLifecycle;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {
    this.selfies = new SelfieLifecycle(db, tableName);
  }

  getResult(selfieId: string): Promise<SelfieResult | undefined> {
    return this.selfies.getResult(selfieId);
  }

  /**
   * An operator's redrive: reopens a FAILED selfie so the worker verifies it again. The result goes
   * back to RECEIVED (decision and its index entries cleared, lease released, attempts and paid calls
   * kept so references continue numbering after the last one sent), the batch's FAILED count goes
   * down by one, and a REDRIVE history item records what the result was, all in one transaction.
   * Returns what it found: only a FAILED result is reopened.
   */
  async reopenForRedrive(
    selfieId: string,
    at: string,
  ): Promise<'reopened' | 'missing' | { kind: 'not-failed'; state: SelfieResult['state'] }> {
    const current = await this.selfies.getResult(selfieId);
    if (!current) return 'missing';
    if (current.state !== 'FAILED') return { kind: 'not-failed', state: current.state };
    const written = await writeOr(
      () =>
        this.transact(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: this.tableName,
                  Key: { pk: keys.selfie(selfieId), sk: keys.result },
                  UpdateExpression: [
                    'SET #state = :received, updatedAt = :at, gsi1sk = :g1sk, leaseUntil = :zero, redrivenAt = :at',
                    'REMOVE decision, reason, decidedAt, gsi2pk, gsi2sk',
                  ].join(' '),
                  // decidedAt pins the FAILED decision read above, so the history item describes it.
                  ConditionExpression: '#state = :failed AND decidedAt = :decidedAt',
                  ExpressionAttributeNames: { '#state': 'state' },
                  ExpressionAttributeValues: {
                    ':received': 'RECEIVED',
                    ':failed': 'FAILED',
                    ':at': at,
                    ':g1sk': keys.batchIndexSk('RECEIVED', selfieId),
                    ':zero': 0,
                    ':decidedAt': current.decidedAt ?? null,
                  },
                },
              },
              {
                Update: {
                  TableName: this.tableName,
                  Key: { pk: keys.batch(current.batchId), sk: keys.summary },
                  UpdateExpression: 'ADD #failed :minusOne, redriven :one',
                  ConditionExpression: '#failed >= :one',
                  ExpressionAttributeNames: { '#failed': 'FAILED' },
                  ExpressionAttributeValues: { ':minusOne': -1, ':one': 1 },
                },
              },
              {
                Put: {
                  TableName: this.tableName,
                  Item: {
                    pk: keys.selfie(selfieId),
                    sk: keys.history(at, 'REDRIVE'),
                    selfieId,
                    at,
                    what: 'REDRIVE',
                    batchId: current.batchId,
                    previousDecision: current.decision,
                    previousReason: current.reason,
                    previousDecidedAt: current.decidedAt,
                    attemptsSoFar: current.attempts,
                    paidCallsSoFar: current.paidCalls,
                  },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ],
          }),
        ),
      async () => {
        const now = await this.selfies.getResult(selfieId);
        return now ? ({ kind: 'not-failed', state: now.state } as const) : ('missing' as const);
      },
    );
    return written === true ? 'reopened' : written;
  }

  /** Records in the selfie's audit history that its uploaded object was deleted (retention purge). */
  async recordPurge(
    selfieId: string,
    at: string,
    object: { bucket: string; key: string; versionId?: string; lastModified: string },
  ): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: keys.selfie(selfieId),
          sk: keys.history(at, 'PURGED'),
          selfieId,
          at,
          what: 'PURGED',
          ...object,
        },
      }),
    );
  }

  /**
   * Settles one uncertain call of a decided selfie against the vendor's statement: the attempt says
   * how it was settled, the selfie's and its batch's counts move from uncertain to paid (or just out
   * of uncertain), and a SETTLED history item records it, all in one transaction. False when the
   * attempt was already settled, is not uncertain, or its selfie is not decided yet.
   */
  async settleUncertainCall(
    call: { selfieId: string; batchId: string; attempt: number; transactionReference: string },
    settledAs: 'paid' | 'not-paid',
    at: string,
    source: string,
  ): Promise<boolean> {
    const paid = settledAs === 'paid' ? 1 : 0;
    return conditionalWrite(() =>
      this.transact(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: keys.selfie(call.selfieId), sk: keys.attempt(call.attempt) },
                UpdateExpression: 'SET settled = :as, settledAt = :at',
                ConditionExpression: 'charge = :uncertain AND attribute_not_exists(settled)',
                ExpressionAttributeValues: { ':as': settledAs, ':at': at, ':uncertain': 'uncertain' },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: keys.selfie(call.selfieId), sk: keys.result },
                UpdateExpression:
                  'SET updatedAt = :at, summarized.uncertain = summarized.uncertain - :one, summarized.paid = summarized.paid + :paid ADD uncertainCalls :minusOne, paidCalls :paid',
                ConditionExpression: 'attribute_exists(decision) AND attribute_exists(summarized)',
                ExpressionAttributeValues: { ':at': at, ':one': 1, ':minusOne': -1, ':paid': paid },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: keys.batch(call.batchId), sk: keys.summary },
                UpdateExpression: 'ADD uncertainCalls :minusOne, paidCalls :paid',
                ExpressionAttributeValues: { ':minusOne': -1, ':paid': paid },
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  pk: keys.selfie(call.selfieId),
                  sk: keys.history(at, `SETTLED#${call.attempt}`),
                  selfieId: call.selfieId,
                  at,
                  what: 'SETTLED',
                  attempt: call.attempt,
                  transactionReference: call.transactionReference,
                  settledAs,
                  source,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      ),
    );
  }

  /**
   * Both operator transactions also write the batch summary item, which every decision of the batch
   * writes too: on AWS a redrive or a settlement during a busy batch can be cancelled for a conflict,
   * and is retried the way the decision transaction is.
   */
  private transact(command: TransactWriteCommand) {
    return transactWithConflictRetry(() => this.db.send(command));
  }
}
