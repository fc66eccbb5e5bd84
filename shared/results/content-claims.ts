import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { conditionalWrite } from './conditional.ts';
import { keys, type SelfieResult, selfieResultSchema, withoutNulls } from './records.ts';

export type ContentClaim =
  | { kind: 'claimed' }
  | { kind: 'reuse'; owner: SelfieResult }
  | { kind: 'busy'; ownerSelfieId: string };

/**
 * Who may pay for a given image's bytes. The first selfie to claim a SHA-256 calls the vendor; an
 * identical image reuses its outcome once decided, or waits while it is being verified.
 */
export class ContentClaims {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /**
   * Claims the right to pay for these image bytes, or finds an earlier outcome to reuse.
   * A claim expires (expiresAt) so a crashed owner never blocks identical images forever.
   */
  async claim(sha256: string, selfieId: string, now: Date, claimTtlSeconds: number): Promise<ContentClaim> {
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const key = { pk: keys.content(sha256), sk: keys.contentSk };
    const claimed = await conditionalWrite(() =>
      this.db.send(
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
      ),
    );
    if (claimed) return { kind: 'claimed' };
    const existing = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    const ownerSelfieId = String(existing.Item?.ownerSelfieId ?? '');
    if (existing.Item?.claimState === 'DECIDED') {
      const owner = await this.db.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: keys.selfie(ownerSelfieId), sk: keys.result },
          ConsistentRead: true,
        }),
      );
      const result = owner.Item ? selfieResultSchema.parse(withoutNulls(owner.Item)) : undefined;
      if (result?.decision) return { kind: 'reuse', owner: result };
    }
    return { kind: 'busy', ownerSelfieId };
  }

  /** Gives up a claim without a reusable outcome (rejected, failed), so an identical image may pay. */
  async release(sha256: string, selfieId: string): Promise<void> {
    await conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: keys.content(sha256), sk: keys.contentSk },
          UpdateExpression: 'SET claimState = :released',
          ConditionExpression: 'ownerSelfieId = :me',
          ExpressionAttributeValues: { ':released': 'RELEASED', ':me': selfieId },
        }),
      ),
    );
  }
}
