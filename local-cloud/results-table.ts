import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { resultsTableDefinition as def } from '../infra/table-definition.ts';

/** The results table as the CDK stack configures it: on-demand, stream NEW_IMAGE, the same keys and indexes. */
export function resultsTableInput(tableName: string): CreateTableCommandInput {
  const indexNames = Object.keys(def.indexes) as (keyof typeof def.indexes)[];
  const attributes = new Set<string>([def.partitionKey, def.sortKey]);
  for (const name of indexNames) {
    attributes.add(def.indexes[name].partitionKey);
    attributes.add(def.indexes[name].sortKey);
  }
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
    KeySchema: [
      { AttributeName: def.partitionKey, KeyType: 'HASH' },
      { AttributeName: def.sortKey, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: indexNames.map((IndexName) => ({
      IndexName,
      KeySchema: [
        { AttributeName: def.indexes[IndexName].partitionKey, KeyType: 'HASH' },
        { AttributeName: def.indexes[IndexName].sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    })),
    StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
  };
}

/**
 * Creates the table unless it exists (a file-backed DynamoDB Local keeps it across runs). A table made
 * by an older version gets the indexes it lacks, as a stack update would add them on AWS.
 */
export async function ensureResultsTable(
  db: DynamoDBDocumentClient | DynamoDBClient,
  tableName: string,
): Promise<void> {
  const client = db as DynamoDBClient;
  try {
    await client.send(new CreateTableCommand(resultsTableInput(tableName)));
    return;
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  const described = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const existing = new Set((described.Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  const wanted = resultsTableInput(tableName);
  for (const index of wanted.GlobalSecondaryIndexes ?? []) {
    if (existing.has(index.IndexName)) continue;
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: wanted.AttributeDefinitions,
        GlobalSecondaryIndexUpdates: [{ Create: index }],
      }),
    );
  }
}
