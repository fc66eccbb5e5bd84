import { createHash } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Decision } from '../decision.ts';
import type { SelfieRef } from '../selfie.ts';
import { formatReason, type Reason } from '../verification/reasons.ts';
import { conditionalWrite, transactWithConflictRetry, writeOr } from './conditional.ts';
import {
  type BatchSummary,
  batchSummarySchema,
  keys,
  type SelfieResult,
  selfieResultSchema,
  withoutNulls,
} from './records.ts';

export interface NewSelfie extends SelfieRef {
  selfieId: string;
  batchId: string;
  receivedAt: string;
}

/** Calls made for one selfie over all its deliveries, and what they may have cost. */
export interface CallTotals {
  calls: number;
  paid: number;
  uncertain: number;
}

export const NO_CALLS: CallTotals = { calls: 0, paid: 0, uncertain: 0 };

/** The delivery that writes, and the lease it holds (see `acquireLease`). */
export interface LeaseHolder {
  selfieId: string;
  batchId: string;
  leaseId: string;
}

/** What a terminal transition writes. */
export interface DecisionRecord {
  decision: Decision;
  reason: Reason;
  decidedAt: string;
  /** Every call and charge for this selfie so far; the batch summary gets what it has not counted yet. */
  totals: CallTotals;
  /** What the batch summary already holds for this selfie (the result's `summarized`, read with the lease). */
  summarized: CallTotals;
  sha256?: string;
  preflight?: SelfieResult['preflight'];
  vendorStatus?: string;
  vendorResponseCode?: string;
  vendorResponse?: Record<string, unknown>;
  liveScore?: number | null;
  popScore?: number | null;
  debitStatus?: string | null;
  transactionReference?: string;
  duplicateOf?: string;
  lastError?: Reason;
  /** Set when this selfie owns the image's content claim and its outcome may be reused until then. */
  reuseUntilEpochSeconds?: number;
  /** The caller's IDs from the upload's metadata; the subject is also the bySubject index key. */
  subjectId?: string;
  correlationId?: string;
}

/**
 * The SET clauses for the caller's IDs, only when present: an index key attribute may be absent but
 * never null, so a selfie without a subject stays out of the bySubject index.
 */
function selfieIdsUpdate(
  record: Pick<DecisionRecord, 'subjectId' | 'correlationId' | 'decidedAt'>,
  selfieId: string,
  values: Record<string, unknown>,
): string[] {
  const clauses: string[] = [];
  if (record.subjectId) {
    Object.assign(values, {
      ':subject': record.subjectId,
      ':g4pk': keys.subject(record.subjectId),
      ':g4sk': keys.decisionSk(record.decidedAt, selfieId),
    });
    clauses.push(', subjectId = :subject, gsi4pk = :g4pk, gsi4sk = :g4sk');
  }
  if (record.correlationId) {
    values[':correlation'] = record.correlationId;
    clauses.push(', correlationId = :correlation');
  }
  return clauses;
}

/**
 * Recorded and never sent to the work queue: the selfies enqueue sends (again) when their object is
 * uploaded (again). Every other undecided selfie was sent, and only a lost message keeps it waiting.
 */
export function awaitsEnqueue(result: Pick<SelfieResult, 'state' | 'enqueuedAt'>): boolean {
  return result.state === 'RECEIVED' && result.enqueuedAt === undefined;
}

export type LeaseResult =
  | { status: 'acquired'; before: SelfieResult; earlierLease: boolean }
  /** No result item: the message came before (or without) its record. */
  | { status: 'missing' }
  | { status: 'terminal'; decision: string }
  | { status: 'leased' }
  | { status: 'held' };

const STATE = { '#state': 'state' };
const IN_FLIGHT = { ':received': 'RECEIVED', ':processing': 'PROCESSING', ':held': 'HELD' };
const NOT_TERMINAL = '#state IN (:received, :processing, :held)';
/**
 * Money rule: a write that ends a delivery or decides a selfie is made by the delivery holding the
 * lease, or when nobody holds one (none taken, or it ran out). A delivery that lost its lease to
 * another one can never end or decide the selfie that other delivery is paying for.
 */
const LEASE_HELD_OR_FREE = '(leaseId = :lease OR attribute_not_exists(leaseUntil) OR leaseUntil < :nowMs)';

/** What every delivery that ends without a decision writes: the calls so far, why, and the lease given back. */
const DELIVERY_END =
  'updatedAt = :at, lastError = :err, lastErrorCode = :code, leaseUntil = :zero, attempts = :calls, paidCalls = :paid, uncertainCalls = :uncertain';

function deliveryEndValues(at: string, totals: CallTotals, why: Reason) {
  return {
    ':at': at,
    ':err': formatReason(why),
    ':code': why.code,
    ':zero': 0,
    ':calls': totals.calls,
    ':paid': totals.paid,
    ':uncertain': totals.uncertain,
  };
}

function leaseValues(holder: LeaseHolder, at: string) {
  return { ':lease': holder.leaseId, ':nowMs': Date.parse(at) };
}

function selfieKey(selfieId: string) {
  return { pk: keys.selfie(selfieId), sk: keys.result };
}

function totalsOf(result: Pick<SelfieResult, 'attempts' | 'paidCalls' | 'uncertainCalls'>): CallTotals {
  return { calls: result.attempts, paid: result.paidCalls, uncertain: result.uncertainCalls };
}

/** The summary of what a selfie's counted calls were when it was read. */
export function countedSoFar(result: SelfieResult): { totals: CallTotals; summarized: CallTotals } {
  return { totals: totalsOf(result), summarized: result.summarized ?? NO_CALLS };
}

/**
 * A selfie's life in the results table: received, leased, unfinished or held, decided. Every
 * transition is a conditional write, so whatever SQS or S3 redeliver, a selfie reaches a decision
 * once and its batch counts move once. Attempts, content claims and spend live in their own modules.
 */
export class SelfieLifecycle {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** Records an upload as RECEIVED. Returns false when the selfie was already known. */
  async recordReceived(selfie: NewSelfie): Promise<boolean> {
    const item = {
      ...selfieKey(selfie.selfieId),
      selfieId: selfie.selfieId,
      bucket: selfie.bucket,
      key: selfie.key,
      versionId: selfie.versionId,
      batchId: selfie.batchId,
      state: 'RECEIVED',
      receivedAt: selfie.receivedAt,
      updatedAt: selfie.receivedAt,
      attempts: 0,
      paidCalls: 0,
      uncertainCalls: 0,
      receiveCount: 0,
      gsi1pk: keys.batch(selfie.batchId),
      gsi1sk: keys.batchIndexSk('RECEIVED', selfie.selfieId),
    };
    return conditionalWrite(() =>
      this.transact({
        TransactItems: [
          { Put: { TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } },
          {
            Update: {
              TableName: this.tableName,
              Key: { pk: keys.batch(selfie.batchId), sk: keys.summary },
              UpdateExpression:
                'SET batchId = :batch, firstReceivedAt = if_not_exists(firstReceivedAt, :at) ADD #total :one',
              ExpressionAttributeNames: { '#total': 'total' },
              ExpressionAttributeValues: { ':batch': selfie.batchId, ':at': selfie.receivedAt, ':one': 1 },
            },
          },
        ],
      }),
    );
  }

  /** True when the selfie is recorded but no invocation has sent it to the work queue yet. */
  async needsEnqueue(selfieId: string): Promise<boolean> {
    const result = await this.getResult(selfieId);
    return result !== undefined && awaitsEnqueue(result);
  }

  /**
   * Notes that the work queue took the selfie's message. Only an undecided selfie is touched: a late
   * write to a decided item would put it on the table's stream again and publish its outcome twice.
   */
  async markEnqueued(selfieId: string, at: string): Promise<boolean> {
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: selfieKey(selfieId),
          UpdateExpression: 'SET enqueuedAt = :at',
          ConditionExpression: `${NOT_TERMINAL} AND attribute_not_exists(enqueuedAt)`,
          ExpressionAttributeNames: STATE,
          ExpressionAttributeValues: { ...IN_FLIGHT, ':at': at },
        }),
      ),
    );
  }

  async getResult(selfieId: string): Promise<SelfieResult | undefined> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: selfieKey(selfieId), ConsistentRead: true }),
    );
    return out.Item ? selfieResultSchema.parse(withoutNulls(out.Item)) : undefined;
  }

  async getBatchSummary(batchId: string): Promise<BatchSummary | undefined> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: keys.batch(batchId), sk: keys.summary },
        ConsistentRead: true,
      }),
    );
    return out.Item ? batchSummarySchema.parse(withoutNulls(out.Item)) : undefined;
  }

  /**
   * Moves a selfie into PROCESSING under a lease, so two deliveries of the same selfie (SQS is
   * at-least-once) never call the vendor side by side. A crashed holder's lease runs out by itself.
   * No read comes before it: a refused write returns the item as it is (or nothing: `missing`), which
   * says why. The byBatch sort key stays where it is (a selfie in flight is filed under RECEIVED, see
   * `keys.batchIndexSk`): moving it would be a delete plus a put in that index on every delivery.
   *
   * `earlierLease` says whether any delivery held a lease before this one. Attempts are only ever
   * written under a lease, and no write removes `leaseId`, so without an earlier lease there are no
   * attempts to resume and the caller can skip reading them (the common, first-delivery path).
   */
  async acquireLease(
    selfieId: string,
    lease: { id: string; until: number; receiveCount: number; at: string },
  ): Promise<LeaseResult> {
    let before: Record<string, unknown> | undefined;
    let refused: Record<string, unknown> | undefined;
    const written = await writeOr(
      async () => {
        try {
          const out = await this.db.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: selfieKey(selfieId),
              ReturnValues: 'ALL_OLD',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              UpdateExpression:
                'SET #state = :processing, receiveCount = :rc, updatedAt = :at, leaseId = :lease, leaseUntil = :until',
              ConditionExpression:
                '#state IN (:received, :processing) AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseId = :lease)',
              ExpressionAttributeNames: STATE,
              ExpressionAttributeValues: {
                ':received': 'RECEIVED',
                ':processing': 'PROCESSING',
                ':rc': lease.receiveCount,
                ':at': lease.at,
                ':lease': lease.id,
                ':until': lease.until,
                ':now': Date.parse(lease.at),
              },
            }),
          );
          before = out.Attributes;
        } catch (error) {
          const item = (error as { Item?: Record<string, AttributeValue> }).Item;
          if (item) refused = unmarshall(item);
          throw error;
        }
      },
      async (): Promise<LeaseResult> => {
        // Without the refused item (none there, or a DynamoDB that does not return it), read it.
        const current = refused
          ? selfieResultSchema.parse(withoutNulls(refused))
          : await this.getResult(selfieId);
        if (!current) return { status: 'missing' };
        if (current.state === 'HELD') return { status: 'held' };
        return current.state === 'RECEIVED' || current.state === 'PROCESSING'
          ? { status: 'leased' }
          : { status: 'terminal', decision: current.state };
      },
    );
    if (written !== true) return written;
    const old = before ?? {};
    return {
      status: 'acquired',
      before: selfieResultSchema.parse(withoutNulls(old)),
      earlierLease: old.leaseId !== undefined,
    };
  }

  /**
   * Ends a delivery's lease early: after an error in this process, or when a host knows the
   * previous holder is dead (the local cloud after a restart). Without `leaseId`, any lease.
   */
  async releaseLease(selfieId: string, leaseId?: string): Promise<boolean> {
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: selfieKey(selfieId),
          UpdateExpression: 'SET leaseUntil = :zero',
          ConditionExpression: leaseId ? `${NOT_TERMINAL} AND leaseId = :lease` : NOT_TERMINAL,
          ExpressionAttributeNames: STATE,
          ExpressionAttributeValues: { ...IN_FLIGHT, ':zero': 0, ...(leaseId ? { ':lease': leaseId } : {}) },
        }),
      ),
    );
  }

  /**
   * Ends a delivery that did not finish the selfie: the calls so far and why, and the lease given back.
   * False when this delivery no longer held the lease (another delivery has the selfie now).
   */
  async recordUnfinished(holder: LeaseHolder, at: string, totals: CallTotals, why: Reason): Promise<boolean> {
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: selfieKey(holder.selfieId),
          UpdateExpression: `SET ${DELIVERY_END}`,
          ConditionExpression: `${NOT_TERMINAL} AND ${LEASE_HELD_OR_FREE}`,
          ExpressionAttributeNames: STATE,
          ExpressionAttributeValues: {
            ...IN_FLIGHT,
            ...leaseValues(holder, at),
            ...deliveryEndValues(at, totals, why),
          },
        }),
      ),
    );
  }

  /**
   * Parks a selfie as HELD because the spend cap is reached: not failed, not lost, counted in the batch
   * summary so progress and audits show it. `releaseHold` (or a raised cap on the next look) brings it back.
   */
  async hold(holder: LeaseHolder, at: string, totals: CallTotals, why: Reason): Promise<boolean> {
    return conditionalWrite(() =>
      this.transact({
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: selfieKey(holder.selfieId),
              UpdateExpression: `SET #state = :held, gsi1sk = :g1sk, ${DELIVERY_END}`,
              ConditionExpression: `#state IN (:received, :processing) AND ${LEASE_HELD_OR_FREE}`,
              ExpressionAttributeNames: STATE,
              ExpressionAttributeValues: {
                ':received': 'RECEIVED',
                ':processing': 'PROCESSING',
                ':held': 'HELD',
                ...leaseValues(holder, at),
                ':g1sk': keys.batchIndexSk('HELD', holder.selfieId),
                ...deliveryEndValues(at, totals, why),
              },
            },
          },
          this.summaryUpdate(holder.batchId, 'ADD #held :one', { '#held': 'HELD' }, { ':one': 1 }),
        ],
      }),
    );
  }

  /** HELD back to RECEIVED (a worker found budget again, or an operator raised the cap). */
  async releaseHold(selfie: { selfieId: string; batchId: string }, at: string): Promise<boolean> {
    return conditionalWrite(() =>
      this.transact({
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: selfieKey(selfie.selfieId),
              UpdateExpression: 'SET #state = :received, gsi1sk = :g1sk, updatedAt = :at',
              ConditionExpression: '#state = :held',
              ExpressionAttributeNames: STATE,
              ExpressionAttributeValues: {
                ':received': 'RECEIVED',
                ':held': 'HELD',
                ':g1sk': keys.batchIndexSk('RECEIVED', selfie.selfieId),
                ':at': at,
              },
            },
          },
          this.summaryUpdate(selfie.batchId, 'ADD #held :minusOne', { '#held': 'HELD' }, { ':minusOne': -1 }),
        ],
      }),
    );
  }

  /**
   * The one terminal transition: the result, the batch counts and (when this selfie owns the image's
   * content claim) the reusable outcome move together, or not at all. Idempotent across SDK retries:
   * the token is derived from the selfie and the delivery's lease, so a retried request that had
   * already committed succeeds again instead of reading as "already decided".
   * Returns false when the selfie was already decided or another delivery holds its lease.
   */
  async recordDecision(holder: LeaseHolder, record: DecisionRecord): Promise<boolean> {
    const { decision, decidedAt, totals, summarized } = record;
    const claimed = record.sha256 !== undefined && record.reuseUntilEpochSeconds !== undefined;
    const retries = Math.max(0, totals.calls - 1) - Math.max(0, summarized.calls - 1);
    const values: Record<string, unknown> = {};
    const idClauses = selfieIdsUpdate(record, holder.selfieId, values);
    const transactItems: NonNullable<TransactWriteCommandInput['TransactItems']> = [
      {
        Update: {
          TableName: this.tableName,
          Key: selfieKey(holder.selfieId),
          UpdateExpression: [
            'SET #state = :decision, decision = :decision, reason = :reason, reasonCode = :code, decidedAt = :decidedAt,',
            'updatedAt = :decidedAt, gsi1sk = :g1sk, gsi2pk = :g2pk, gsi2sk = :g2sk, vendorStatus = :vendorStatus,',
            'vendorResponseCode = :vendorCode, vendorResponse = :vendorResponse, liveScore = :live, popScore = :pop,',
            'debitStatus = :debit, transactionReference = :ref, duplicateOf = :dup, lastError = :lastError,',
            'lastErrorCode = :lastErrorCode, sha256 = :sha, preflight = :pf, attempts = :calls, paidCalls = :paid,',
            'uncertainCalls = :uncertain, summarized = :totals, leaseUntil = :zero',
            ...idClauses,
          ].join(' '),
          ConditionExpression: `${NOT_TERMINAL} AND ${LEASE_HELD_OR_FREE}`,
          ExpressionAttributeNames: STATE,
          ExpressionAttributeValues: {
            ...IN_FLIGHT,
            ...leaseValues(holder, decidedAt),
            ':decision': decision,
            ':reason': formatReason(record.reason),
            ':code': record.reason.code,
            ':decidedAt': decidedAt,
            ':g1sk': keys.batchIndexSk(decision, holder.selfieId),
            ':g2pk': keys.decisionDay(decision, decidedAt),
            ':g2sk': keys.decisionSk(decidedAt, holder.selfieId),
            ':vendorStatus': record.vendorStatus ?? null,
            ':vendorCode': record.vendorResponseCode ?? null,
            ':vendorResponse': record.vendorResponse ?? null,
            ':live': record.liveScore ?? null,
            ':pop': record.popScore ?? null,
            ':debit': record.debitStatus ?? null,
            ':ref': record.transactionReference ?? null,
            ':dup': record.duplicateOf ?? null,
            ':lastError': record.lastError ? formatReason(record.lastError) : null,
            ':lastErrorCode': record.lastError?.code ?? null,
            ':sha': record.sha256 ?? null,
            ':pf': record.preflight ?? null,
            ':calls': totals.calls,
            ':paid': totals.paid,
            ':uncertain': totals.uncertain,
            ':totals': totals,
            ':zero': 0,
            ...values,
          },
        },
      },
      this.summaryUpdate(
        holder.batchId,
        'SET lastDecidedAt = :at ADD #decision :one, paidCalls :paid, uncertainCalls :uncertain, retries :retries, duplicatesReused :dup',
        { '#decision': decision },
        {
          ':at': decidedAt,
          ':one': 1,
          ':paid': totals.paid - summarized.paid,
          ':uncertain': totals.uncertain - summarized.uncertain,
          ':retries': retries,
          ':dup': record.duplicateOf ? 1 : 0,
        },
      ),
    ];
    if (claimed) {
      transactItems.push({
        Update: {
          TableName: this.tableName,
          Key: { pk: keys.content(record.sha256 as string), sk: keys.contentSk },
          UpdateExpression: 'SET claimState = :decided, decidedAt = :at, expiresAt = :exp',
          ConditionExpression: 'ownerSelfieId = :owner',
          ExpressionAttributeValues: {
            ':decided': 'DECIDED',
            ':at': decidedAt,
            ':exp': record.reuseUntilEpochSeconds,
            ':owner': holder.selfieId,
          },
        },
      });
    }
    const token = createHash('sha256')
      .update(`${holder.selfieId}\n${holder.leaseId}\n${claimed ? 'claim' : 'plain'}`)
      .digest('hex')
      .slice(0, 36);
    return conditionalWrite(() => this.transact({ TransactItems: transactItems, ClientRequestToken: token }));
  }

  private summaryUpdate(
    batchId: string,
    expression: string,
    names: Record<string, string>,
    values: Record<string, unknown>,
  ) {
    const withBatch = expression.startsWith('SET ')
      ? expression.replace('SET ', 'SET batchId = :batch, ')
      : `SET batchId = :batch ${expression}`;
    return {
      Update: {
        TableName: this.tableName,
        Key: { pk: keys.batch(batchId), sk: keys.summary },
        UpdateExpression: withBatch,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ':batch': batchId, ...values },
      },
    };
  }

  private transact(input: TransactWriteCommandInput) {
    return transactWithConflictRetry(() => this.db.send(new TransactWriteCommand(input)));
  }
}
