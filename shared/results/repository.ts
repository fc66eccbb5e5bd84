import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type Decision, isTerminal } from '../decision.ts';
import type { SelfieRef } from '../selfie.ts';
import {
  type AttemptItem,
  attemptItemSchema,
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

/** What a terminal transition writes. */
export interface DecisionRecord {
  decision: Decision;
  reason: string;
  decidedAt: string;
  vendorStatus?: string;
  vendorResponseCode?: string;
  vendorResponse?: Record<string, unknown>;
  liveScore?: number | null;
  popScore?: number | null;
  debitStatus?: string | null;
  transactionReference?: string;
  duplicateOf?: string;
  /** Vendor calls made in this delivery, and how many of them may have cost money. */
  callsThisDelivery: number;
  paidCallsThisDelivery: number;
  lastError?: string;
  /** The caller's IDs from the upload's metadata; the subject is also the bySubject index key. */
  subjectId?: string;
  correlationId?: string;
}

export interface EndedAttempt {
  selfieId: string;
  attempt: number;
  endedAt: string;
  outcome: Exclude<AttemptItem['outcome'], 'open'>;
  httpStatus?: number;
  responseCode?: string;
  detail?: string;
  verdict?: AttemptItem['verdict'];
}

export type ContentClaim =
  | { kind: 'claimed' }
  | { kind: 'reuse'; owner: SelfieResult }
  | { kind: 'busy'; ownerSelfieId: string };

const IN_FLIGHT = { ':received': 'RECEIVED', ':processing': 'PROCESSING' };
const NOT_TERMINAL = '#state IN (:received, :processing)';

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

function isConditionFailure(error: unknown): boolean {
  if (error instanceof TransactionCanceledException) {
    return (error.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed');
  }
  return (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/**
 * The pipeline's writes to the results table. Every state transition is a conditional write, so
 * whatever SQS or S3 redeliver, a selfie reaches a decision once and its batch counts move once.
 */
export class ResultsRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** Records an upload as RECEIVED. Returns false when the selfie was already known. */
  async recordReceived(selfie: NewSelfie): Promise<boolean> {
    const item = {
      pk: keys.selfie(selfie.selfieId),
      sk: keys.result,
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
      receiveCount: 0,
      gsi1pk: keys.batch(selfie.batchId),
      gsi1sk: keys.batchIndexSk('RECEIVED', selfie.selfieId),
    };
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: { TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' },
            },
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
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** True when the selfie is recorded but no invocation has sent it to the work queue yet. */
  async needsEnqueue(selfieId: string): Promise<boolean> {
    const result = await this.getResult(selfieId);
    return result !== undefined && result.state === 'RECEIVED' && result.enqueuedAt === undefined;
  }

  async markEnqueued(selfieId: string, at: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: keys.selfie(selfieId), sk: keys.result },
        UpdateExpression: 'SET enqueuedAt = if_not_exists(enqueuedAt, :at)',
        ExpressionAttributeValues: { ':at': at },
      }),
    );
  }

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

  /**
   * Moves a selfie into PROCESSING under a lease, so two deliveries of the same selfie (SQS is
   * at-least-once) never call the vendor side by side. A crashed holder's lease runs out by itself.
   *
   * `earlierLease` says whether any delivery held a lease before this one. Attempts are only ever
   * written under a lease, and no write removes `leaseId`, so without an earlier lease there are no
   * attempts to resume and the caller can skip reading them (the common, first-delivery path).
   */
  async acquireProcessing(
    selfieId: string,
    lease: {
      id: string;
      until: number;
      receiveCount: number;
      at: string;
      sha256: string;
      preflight: SelfieResult['preflight'];
    },
  ): Promise<
    | { status: 'acquired'; result: SelfieResult; earlierLease: boolean }
    | { status: 'terminal' }
    | { status: 'leased' }
  > {
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: keys.selfie(selfieId), sk: keys.result },
          ReturnValues: 'ALL_OLD',
          UpdateExpression: [
            'SET #state = :processing, receiveCount = :rc, updatedAt = :at, gsi1sk = :g1sk, sha256 = :sha,',
            'preflight = :pf, leaseId = :lease, leaseUntil = :until',
          ].join(' '),
          ConditionExpression: `${NOT_TERMINAL} AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseId = :lease)`,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ...IN_FLIGHT,
            ':rc': lease.receiveCount,
            ':at': lease.at,
            ':g1sk': keys.batchIndexSk('PROCESSING', selfieId),
            ':sha': lease.sha256,
            ':pf': lease.preflight ?? null,
            ':lease': lease.id,
            ':until': lease.until,
            ':now': Date.parse(lease.at),
          },
        }),
      );
      // The item as it was before this lease: the calls and charges already counted for it.
      const before = out.Attributes ?? {};
      return {
        status: 'acquired',
        result: selfieResultSchema.parse(withoutNulls(before)),
        earlierLease: before.leaseId !== undefined,
      };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const current = await this.getResult(selfieId);
      return current && !isTerminal(current.state) ? { status: 'leased' } : { status: 'terminal' };
    }
  }

  /**
   * Ends a delivery's lease early: after an error in this process, or when a host knows the
   * previous holder is dead (the local cloud after a restart). Without `leaseId`, any lease.
   */
  async releaseLease(selfieId: string, leaseId?: string): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: keys.selfie(selfieId), sk: keys.result },
          UpdateExpression: 'SET leaseUntil = :zero',
          ConditionExpression: leaseId ? `${NOT_TERMINAL} AND leaseId = :lease` : NOT_TERMINAL,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ...IN_FLIGHT, ':zero': 0, ...(leaseId ? { ':lease': leaseId } : {}) },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }

  async listAttempts(selfieId: string): Promise<AttemptItem[]> {
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
  async beginAttempt(attempt: {
    selfieId: string;
    attempt: number;
    transactionReference: string;
    startedAt: string;
  }) {
    try {
      await this.db.send(
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
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async endAttempt(attempt: EndedAttempt) {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: keys.selfie(attempt.selfieId), sk: keys.attempt(attempt.attempt) },
        UpdateExpression:
          'SET outcome = :outcome, endedAt = :ended, httpStatus = :http, responseCode = :code, detail = :detail, verdict = :verdict',
        ExpressionAttributeValues: {
          ':outcome': attempt.outcome,
          ':ended': attempt.endedAt,
          ':http': attempt.httpStatus ?? null,
          ':code': attempt.responseCode ?? null,
          ':detail': attempt.detail ?? null,
          ':verdict': attempt.verdict ?? null,
        },
      }),
    );
  }

  /** Notes an unfinished delivery (retry later) on the result, for operators and the last-receive FAILED. */
  async recordUnfinished(
    selfieId: string,
    details: { at: string; calls: number; paidCalls: number; lastError: string },
  ): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: keys.selfie(selfieId), sk: keys.result },
        UpdateExpression:
          'SET updatedAt = :at, lastError = :err, leaseUntil = :zero ADD attempts :calls, paidCalls :paid',
        ConditionExpression: NOT_TERMINAL,
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ...IN_FLIGHT,
          ':at': details.at,
          ':err': details.lastError,
          ':zero': 0,
          ':calls': details.calls,
          ':paid': details.paidCalls,
        },
      }),
    );
  }

  /**
   * The one terminal transition: the result, the batch counts and (when this selfie owns the image's
   * content claim) the reusable outcome move together, or not at all.
   * Returns false when the selfie had already reached a decision.
   */
  async recordDecision(
    selfie: { selfieId: string; batchId: string; sha256?: string },
    record: DecisionRecord,
    reuseUntilEpochSeconds?: number,
  ): Promise<boolean> {
    const { decision, decidedAt } = record;
    const set: Record<string, unknown> = {
      ':decision': decision,
      ':reason': record.reason,
      ':decidedAt': decidedAt,
      ':g1sk': keys.batchIndexSk(decision, selfie.selfieId),
      ':g2pk': keys.decisionDay(decision, decidedAt),
      ':g2sk': keys.decisionSk(decidedAt, selfie.selfieId),
      ':vendorStatus': record.vendorStatus ?? null,
      ':vendorCode': record.vendorResponseCode ?? null,
      ':vendorResponse': record.vendorResponse ?? null,
      ':live': record.liveScore ?? null,
      ':pop': record.popScore ?? null,
      ':debit': record.debitStatus ?? null,
      ':ref': record.transactionReference ?? null,
      ':dup': record.duplicateOf ?? null,
      ':lastError': record.lastError ?? null,
      ':calls': record.callsThisDelivery,
      ':paid': record.paidCallsThisDelivery,
    };
    const retries = Math.max(0, record.callsThisDelivery - 1);
    const transactItems: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> =
      [
        {
          Update: {
            TableName: this.tableName,
            Key: { pk: keys.selfie(selfie.selfieId), sk: keys.result },
            UpdateExpression: [
              'SET #state = :decision, decision = :decision, reason = :reason, decidedAt = :decidedAt, updatedAt = :decidedAt,',
              'gsi1sk = :g1sk, gsi2pk = :g2pk, gsi2sk = :g2sk, vendorStatus = :vendorStatus, vendorResponseCode = :vendorCode,',
              'vendorResponse = :vendorResponse, liveScore = :live, popScore = :pop, debitStatus = :debit,',
              'transactionReference = :ref, duplicateOf = :dup, lastError = :lastError',
              ...selfieIdsUpdate(record, selfie.selfieId, set),
              'ADD attempts :calls, paidCalls :paid',
            ].join(' '),
            ConditionExpression: NOT_TERMINAL,
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ...IN_FLIGHT, ...set },
          },
        },
        {
          Update: {
            TableName: this.tableName,
            Key: { pk: keys.batch(selfie.batchId), sk: keys.summary },
            UpdateExpression: `SET batchId = :batch, lastDecidedAt = :at ADD #decision :one, paidCalls :paid, retries :retries, duplicatesReused :dup`,
            ExpressionAttributeNames: { '#decision': decision },
            ExpressionAttributeValues: {
              ':batch': selfie.batchId,
              ':at': decidedAt,
              ':one': 1,
              ':paid': record.paidCallsThisDelivery,
              ':retries': retries,
              ':dup': record.duplicateOf ? 1 : 0,
            },
          },
        },
      ];
    if (selfie.sha256 && reuseUntilEpochSeconds !== undefined) {
      transactItems.push({
        Update: {
          TableName: this.tableName,
          Key: { pk: keys.content(selfie.sha256), sk: keys.contentSk },
          UpdateExpression: 'SET claimState = :decided, decidedAt = :at, expiresAt = :exp',
          ConditionExpression: 'ownerSelfieId = :owner',
          ExpressionAttributeValues: {
            ':decided': 'DECIDED',
            ':at': decidedAt,
            ':exp': reuseUntilEpochSeconds,
            ':owner': selfie.selfieId,
          },
        },
      });
    }
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: transactItems }));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * Claims the right to pay for these image bytes, or finds an earlier outcome to reuse.
   * A claim expires (claimExpiresAt) so a crashed owner never blocks identical images forever.
   */
  async claimContent(
    sha256: string,
    selfieId: string,
    now: Date,
    claimTtlSeconds: number,
  ): Promise<ContentClaim> {
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const key = { pk: keys.content(sha256), sk: keys.contentSk };
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...key,
            sha256,
            ownerSelfieId: selfieId,
            claimState: 'CLAIMED',
            claimedAt: now.toISOString(),
            expiresAt: nowSeconds + claimTtlSeconds,
          },
          ConditionExpression:
            'attribute_not_exists(pk) OR ownerSelfieId = :me OR expiresAt < :now OR claimState = :released',
          ExpressionAttributeValues: { ':me': selfieId, ':now': nowSeconds, ':released': 'RELEASED' },
        }),
      );
      return { kind: 'claimed' };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const existing = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    const ownerSelfieId = String(existing.Item?.ownerSelfieId ?? '');
    if (existing.Item?.claimState === 'DECIDED') {
      const owner = await this.getResult(ownerSelfieId);
      if (owner?.decision) return { kind: 'reuse', owner };
    }
    return { kind: 'busy', ownerSelfieId };
  }

  /** Gives up a claim without a reusable outcome (rejected, failed), so an identical image may pay. */
  async releaseContent(sha256: string, selfieId: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: keys.content(sha256), sk: keys.contentSk },
          UpdateExpression: 'SET claimState = :released',
          ConditionExpression: 'ownerSelfieId = :me',
          ExpressionAttributeValues: { ':released': 'RELEASED', ':me': selfieId },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
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
    const current = await this.getResult(selfieId);
    if (!current) return 'missing';
    if (current.state !== 'FAILED') return { kind: 'not-failed', state: current.state };
    try {
      await this.db.send(
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
      );
      return 'reopened';
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const now = await this.getResult(selfieId);
      return now ? { kind: 'not-failed', state: now.state } : 'missing';
    }
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
}
