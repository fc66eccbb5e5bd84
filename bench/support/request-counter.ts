/**
 * Counts the AWS requests a piece of code makes, by operation, through SDK middleware; for
 * DynamoDB it also asks for and adds up the capacity units each request consumed (table and
 * indexes), which DynamoDB Local reports as DynamoDB does.
 */
interface ConsumedCapacity {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
  Table?: { CapacityUnits?: number };
  GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
}

interface MiddlewareClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>,
        context: { commandName?: string },
      ) => (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>,
      options: { step: 'initialize'; name: string },
    ): void;
  };
}

const WRITES = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'TransactWriteItemsCommand',
  'BatchWriteItemCommand',
]);

export class RequestCounter {
  readonly requests = new Map<string, number>();
  readUnits = 0;
  writeUnits = 0;
  /** Capacity units by the results-table method that spent them (from the async stack). */
  readonly unitsByMethod = new Map<
    string,
    { requests: number; units: number; table: number; indexes: Map<string, number> }
  >();

  count(service: string, operation: string): void {
    const key = `${service} ${operation.replace(/Command$/, '')}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  total(service: string, operation?: string): number {
    let sum = 0;
    for (const [key, n] of this.requests) {
      if (key.startsWith(`${service} `) && (!operation || key === `${service} ${operation}`)) sum += n;
    }
    return sum;
  }

  instrument(client: unknown, service: string): void {
    (client as MiddlewareClient).middlewareStack.add(
      (next, context) => async (args) => {
        const operation = context.commandName ?? 'unknown';
        this.count(service, operation);
        if (service !== 'DynamoDB') return next(args);
        // Deep enough to reach the public method behind the SDK's and the retry helpers' frames.
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 40;
        const stack = new Error().stack ?? '';
        Error.stackTraceLimit = limit;
        args.input.ReturnConsumedCapacity = 'INDEXES';
        const result = await next(args);
        const consumed = result.output.ConsumedCapacity as ConsumedCapacity | ConsumedCapacity[] | undefined;
        const units = [consumed ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
        if (WRITES.has(operation)) this.writeUnits += units;
        else this.readUnits += units;
        const method = `${callerOf(stack)} (${operation.replace(/Command$/, '')})`;
        const entry = this.unitsByMethod.get(method) ?? {
          requests: 0,
          units: 0,
          table: 0,
          indexes: new Map(),
        };
        entry.requests += 1;
        entry.units += units;
        for (const c of [consumed ?? []].flat()) {
          entry.table += c.Table?.CapacityUnits ?? 0;
          for (const [index, used] of Object.entries(c.GlobalSecondaryIndexes ?? {})) {
            entry.indexes.set(index, (entry.indexes.get(index) ?? 0) + (used.CapacityUnits ?? 0));
          }
        }
        this.unitsByMethod.set(method, entry);
        return result;
      },
      { step: 'initialize', name: `benchRequestCounter${service}` },
    );
  }
}

const REPOSITORY_HELPERS = new Set(['transact', 'summaryUpdate']);

/** The repository method (or other caller) a DynamoDB request came from, read from the async stack. */
function callerOf(stack: string): string {
  // The first public method on the stack: `transact` and `summaryUpdate` are helpers of the public ones.
  const method = [...stack.matchAll(/(SelfieLifecycle|AttemptLog|ContentClaims|SpendBudget)\.(\w+)/g)].find(
    (m) => !REPOSITORY_HELPERS.has(m[2] as string),
  );
  return (
    (method ? `${method[1] === 'SelfieLifecycle' ? '' : `${method[1]}.`}${method[2]}` : undefined) ??
    stack.match(/at (?:async )?(\w+) \(.*(?:local-cloud|operations|infra|shared|cli)\//)?.[1] ??
    'other'
  );
}
