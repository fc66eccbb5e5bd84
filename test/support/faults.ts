import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** A write as the results table sees it: the command's name and its input. */
export interface SeenWrite {
  command: string;
  input: Record<string, unknown>;
}

/**
 * Injects faults into a real DynamoDB client (the emulator still serves everything else): the first
 * `times` requests that `matches` picks fail. `after: true` lets the request reach the table first and
 * loses only its response, the way a dropped connection does. With `sdkRetries` the error is marked
 * transient, so the SDK's own retry sends the same request again; without, the caller sees it.
 * Returns how many faults were injected so far.
 */
export function injectWriteFaults(
  db: DynamoDBDocumentClient,
  matches: (write: SeenWrite) => boolean,
  options: { times: number; after?: boolean; sdkRetries?: boolean },
): () => number {
  let injected = 0;
  const name = `test-fault-${Math.random().toString(36).slice(2)}`;
  db.middlewareStack.add(
    (next, context) => async (args) => {
      const write = { command: String(context.commandName), input: args.input as Record<string, unknown> };
      if (injected >= options.times || !matches(write)) return next(args);
      injected += 1;
      if (options.after) await next(args);
      throw Object.assign(new Error(`injected fault in ${write.command}`), {
        name: 'InjectedNetworkFault',
        $metadata: {},
        // `$retryable` marks the error as transient for the SDK's retry strategy.
        ...(options.sdkRetries ? { $retryable: {} } : {}),
      });
    },
    { step: 'finalizeRequest', name, priority: 'low' },
  );
  return () => injected;
}

/** The update expression of a write, for matching. */
export function expressionOf(write: SeenWrite): string {
  const items = (write.input.TransactItems as Array<Record<string, { UpdateExpression?: string }>>) ?? [];
  return [
    String(write.input.UpdateExpression ?? ''),
    ...items.map((i) => String(i.Update?.UpdateExpression ?? '')),
  ].join('\n');
}
