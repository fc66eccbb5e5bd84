import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { conditionalWrite } from './conditional.ts';
import { keys } from './records.ts';

/**
 * What a cap applies to: one batch (`run`/`up --max-paid-calls`) or one UTC day (the stack's
 * `maxPaidCallsPerDay`). A deployment configures at most one of each.
 */
export type BudgetScope = { kind: 'batch'; batchId: string } | { kind: 'day'; day: string };

export function budgetScopeKey(scope: BudgetScope): string {
  return scope.kind === 'batch' ? `BATCH#${scope.batchId}` : `DAY#${scope.day}`;
}

export interface BudgetState {
  scope: string;
  /** Calls that may have cost money: paid plus uncertain (reserved before each call). */
  spent: number;
  /** An operator's raised cap (`budget` command); the configured cap applies when it is higher. */
  raisedLimit?: number;
}

/**
 * The spend cap. Before any call that may be charged, a worker reserves one unit: the check and the
 * count are one conditional write, so concurrent workers (any number, on AWS or locally) never
 * overshoot the cap. A call whose answer says nothing was debited gives its unit back.
 */
export class SpendBudget {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** Reserves one unit under `configuredLimit` (or the operator's raised limit, whichever is higher). */
  async reserve(scope: BudgetScope, configuredLimit: number): Promise<boolean> {
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(scope),
          UpdateExpression: 'SET #scope = :scope ADD spent :one',
          ConditionExpression: 'attribute_not_exists(spent) OR spent < :limit OR spent < raisedLimit',
          ExpressionAttributeNames: { '#scope': 'scope' },
          ExpressionAttributeValues: {
            ':scope': budgetScopeKey(scope),
            ':one': 1,
            ':limit': configuredLimit,
          },
        }),
      ),
    );
  }

  /** Gives a reserved unit back: the call it was for was not made, or its answer said nothing was debited. */
  async refund(scope: BudgetScope): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(scope),
          UpdateExpression: 'ADD spent :minusOne',
          ConditionExpression: 'spent > :zero',
          ExpressionAttributeValues: { ':minusOne': -1, ':zero': 0 },
        }),
      )
      .catch((error: unknown) => {
        if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
      });
  }

  /** An operator raises (or sets) the cap for a scope. */
  async raise(scope: BudgetScope, limit: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.key(scope),
        UpdateExpression: 'SET #scope = :scope, raisedLimit = :limit',
        ExpressionAttributeNames: { '#scope': 'scope' },
        ExpressionAttributeValues: { ':scope': budgetScopeKey(scope), ':limit': limit },
      }),
    );
  }

  async read(scope: BudgetScope): Promise<BudgetState> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: this.key(scope), ConsistentRead: true }),
    );
    return {
      scope: budgetScopeKey(scope),
      spent: Number(out.Item?.spent ?? 0),
      ...(out.Item?.raisedLimit === undefined ? {} : { raisedLimit: Number(out.Item.raisedLimit) }),
    };
  }

  private key(scope: BudgetScope) {
    return { pk: keys.budget(budgetScopeKey(scope)), sk: keys.budgetSk };
  }
}
