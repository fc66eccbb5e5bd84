import { createHash } from 'node:crypto';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { keys, type SelfieResult, selfieResultSchema, withoutNulls } from '../../shared/results/records.ts';
import { type ReviewRecord, type ReviewVerdict, reviewOf } from './review-record.ts';

/** Decisions a reviewer may settle. VERIFIED needs nobody; REJECTED never reached the vendor. */
export const REVIEWABLE_DECISIONS = ['REVIEW', 'NOT_VERIFIED', 'FAILED'] as const;
export type ReviewableDecision = (typeof REVIEWABLE_DECISIONS)[number];

/** The batch summary's count of reviewed selfies of one decision: awaiting = that decision's count minus it. */
export const reviewedCounter = (decision: ReviewableDecision) => `reviewed${decision}`;

export type VerdictOutcome =
  | { kind: 'recorded'; review: ReviewRecord; result: SelfieResult }
  | { kind: 'already-reviewed'; review: ReviewRecord }
  | { kind: 'not-reviewable'; state: string }
  | { kind: 'missing' };

export interface VerdictInput {
  selfieId: string;
  verdict: ReviewVerdict;
  note?: string;
  reviewer: string;
  at: string;
}

/**
 * A reviewer's verdict, written by `liveness-batch review` with the operator's credentials. This
 * module is not loaded by any Lambda: the pipeline never writes reviews.
 *
 * One transaction, so a verdict is all or nothing:
 * - the result item gains a `review` attribute only if it has none and is in a reviewable decision,
 *   so two reviewers can never both decide one selfie; its decision, scores and attempts are untouched;
 * - a `HISTORY#<at>#REVIEW` item records who decided what, when, and the pipeline's decision then;
 * - the batch summary counts the review, so "reviewed vs awaiting review" needs no scan.
 * The client request token makes an SDK retry of a committed transaction succeed instead of
 * reporting the reviewer's own verdict as someone else's.
 */
export class ReviewVerdicts {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getResult(selfieId: string): Promise<SelfieResult | undefined> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: keys.selfie(selfieId), sk: keys.result },
        ConsistentRead: true,
      }),
    );
    return out.Item ? selfieResultSchema.parse(withoutNulls(out.Item)) : undefined;
  }

  async record(input: VerdictInput): Promise<VerdictOutcome> {
    const current = await this.getResult(input.selfieId);
    if (!current) return { kind: 'missing' };
    const earlier = reviewOf(current);
    if (earlier) return { kind: 'already-reviewed', review: earlier };
    const decision = current.decision;
    if (current.state !== decision || !REVIEWABLE_DECISIONS.includes(decision as ReviewableDecision)) {
      return { kind: 'not-reviewable', state: current.state };
    }
    const review: ReviewRecord = {
      verdict: input.verdict,
      ...(input.note ? { note: input.note } : {}),
      reviewer: input.reviewer,
      at: input.at,
    };
    try {
      await this.db.send(
        new TransactWriteCommand({
          ClientRequestToken: createHash('sha256')
            .update(`${input.selfieId}\n${input.reviewer}\n${input.at}`)
            .digest('hex')
            .slice(0, 36),
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: keys.selfie(input.selfieId), sk: keys.result },
                UpdateExpression: 'SET review = :review',
                // decidedAt pins the decision read above: a redrive in between changes it.
                ConditionExpression:
                  'attribute_exists(pk) AND attribute_not_exists(review) AND #state = :decision AND decidedAt = :decidedAt',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: {
                  ':review': review,
                  ':decision': decision,
                  ':decidedAt': current.decidedAt ?? null,
                },
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  pk: keys.selfie(input.selfieId),
                  sk: keys.history(input.at, 'REVIEW'),
                  selfieId: input.selfieId,
                  what: 'REVIEW',
                  batchId: current.batchId,
                  decision,
                  ...review,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: keys.batch(current.batchId), sk: keys.summary },
                UpdateExpression: 'ADD reviewed :one, #counter :one',
                ExpressionAttributeNames: { '#counter': reviewedCounter(decision as ReviewableDecision) },
                ExpressionAttributeValues: { ':one': 1 },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Someone else was first (or the selfie changed): say who, from what the table holds now.
      const now = await this.getResult(input.selfieId);
      if (!now) return { kind: 'missing' };
      const first = reviewOf(now);
      return first
        ? { kind: 'already-reviewed', review: first }
        : { kind: 'not-reviewable', state: now.state };
    }
    return { kind: 'recorded', review, result: { ...current, review } };
  }
}

function isConditionFailure(error: unknown): boolean {
  if (error instanceof TransactionCanceledException) {
    return (error.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed');
  }
  return (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/** Reviewed vs awaiting review, from a batch summary's counters (no scan). */
export function reviewCounts(summary: Record<string, unknown>): { reviewed: number; awaiting: number } {
  const count = (name: string) => (typeof summary[name] === 'number' ? (summary[name] as number) : 0);
  const reviewed = REVIEWABLE_DECISIONS.reduce((n, d) => n + count(reviewedCounter(d)), 0);
  // Awaiting: REVIEW selfies nobody has decided yet (NOT_VERIFIED and FAILED are optional to review).
  return { reviewed, awaiting: Math.max(0, count('REVIEW') - count(reviewedCounter('REVIEW'))) };
}
