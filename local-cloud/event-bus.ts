import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdir, readFile, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { OutcomeRule, RuleTarget } from '../infra/event-rules.ts';
import { buildEnvelope, type EventEnvelope } from '../shared/events/envelope.ts';
import {
  type EventPublisher,
  PUT_EVENTS_MAX_ENTRIES,
  type PutEventsResult,
  type PutEventsResultEntry,
} from '../shared/events/publisher.ts';
import { toSqsSafeJson } from '../shared/messages.ts';
import { pipelineSettings } from '../shared/settings.ts';
import { compileEventPattern, type EventMatcher } from './pattern-matcher.ts';

export type EnvelopeHandler = (envelope: EventEnvelope) => Promise<void>;

export interface LocalEventBusOptions {
  /** The same rules the CDK stack deploys. */
  rules: readonly OutcomeRule[];
  targets: Record<RuleTarget, EnvelopeHandler>;
  /** Receives every accepted event, matched or not (EventBridge's archive). */
  archive: EnvelopeHandler;
  /** Default '000000000000'. */
  account?: string;
  /** Default 'us-east-1'. */
  region?: string;
}

/**
 * EventBridge for the local cloud: PutEvents with AWS's per-entry validation, the envelope AWS
 * delivers, and rule matching with the shared pattern matcher.
 *
 * Delivery is synchronous: an entry counts as published only once the archive and every matching
 * target have it. If any of them throws, the entry fails with InternalFailure (a code AWS also
 * returns) and publishAll resends it, so delivery is at least once, as on AWS.
 */
export class LocalEventBus implements EventPublisher {
  private readonly rules: ReadonlyArray<{ rule: OutcomeRule; matches: EventMatcher }>;
  private readonly account: string;
  private readonly region: string;

  constructor(private readonly options: LocalEventBusOptions) {
    // Compiling validates every pattern: a bad rule fails at boot, as PutRule would on AWS.
    this.rules = options.rules.map((rule) => ({ rule, matches: compileEventPattern(rule.pattern) }));
    this.account = options.account ?? '000000000000';
    this.region = options.region ?? 'us-east-1';
  }

  async putEvents(entries: PutEventsRequestEntry[]): Promise<PutEventsResult> {
    if (entries.length === 0 || entries.length > PUT_EVENTS_MAX_ENTRIES) {
      // AWS rejects the whole call (ValidationException) rather than single entries here.
      const error = new Error(
        `PutEvents takes 1 to ${PUT_EVENTS_MAX_ENTRIES} entries, got ${entries.length}`,
      );
      error.name = 'ValidationException';
      throw error;
    }
    const results: PutEventsResultEntry[] = [];
    // One entry at a time keeps the archive in the order the entries were given.
    for (const entry of entries) results.push(await this.putEvent(entry));
    return { failedEntryCount: results.filter((result) => result.errorCode).length, entries: results };
  }

  private async putEvent(entry: PutEventsRequestEntry): Promise<PutEventsResultEntry> {
    const invalid = validateEntry(entry);
    if (invalid) return invalid;
    const envelope = buildEnvelope(
      {
        source: entry.Source as string,
        detailType: entry.DetailType as string,
        detail: JSON.parse(entry.Detail as string) as Record<string, unknown>,
        resources: entry.Resources ?? [],
      },
      { id: randomUUID(), time: entry.Time ?? new Date(), account: this.account, region: this.region },
    );
    try {
      await this.options.archive(envelope);
      const targets = this.rules.filter(({ matches }) => matches(envelope)).map(({ rule }) => rule.target);
      await Promise.all([...new Set(targets)].map((target) => this.options.targets[target](envelope)));
    } catch (error) {
      return {
        errorCode: 'InternalFailure',
        errorMessage: error instanceof Error ? error.message : String(error),
      };
    }
    return { eventId: envelope.id };
  }
}

/** The checks EventBridge makes per entry; a bad entry fails alone, never the whole call. */
function validateEntry(entry: PutEventsRequestEntry): PutEventsResultEntry | undefined {
  for (const field of ['Source', 'DetailType', 'Detail'] as const) {
    if (typeof entry[field] !== 'string' || entry[field] === '') {
      return {
        errorCode: 'InvalidArgument',
        errorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.`,
      };
    }
  }
  let detail: unknown;
  try {
    detail = JSON.parse(entry.Detail as string);
  } catch {
    detail = undefined;
  }
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
    return { errorCode: 'MalformedDetail', errorMessage: 'Detail is malformed.' };
  }
  return undefined;
}

/** Like an EventBridge -> SQS target: the message body is the envelope as JSON. */
export function sqsTarget(sqsClient: Pick<SQSClient, 'send'>, queueUrl: string): EnvelopeHandler {
  return async (envelope) => {
    await sqsClient.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: toSqsSafeJson(envelope) }),
    );
  };
}

/**
 * An archive that appends one event per line to a JSONL file (folder created on first use).
 *
 * Exactly one event per outcome: a local host restarted after a crash may publish the same outcome
 * again, so events are keyed by `detail.selfieId` + `detail.decision` (consumers on AWS dedupe by
 * the same key). Keys already in the file are loaded on first use and repeats are skipped. Events
 * without a selfieId are keyed by their event id, i.e. always appended.
 *
 * Durability: appends are serialised in call order and each line is one write(2) before the
 * promise resolves (made synchronously, so it never waits for the threadpool), so a SIGKILL loses at most the line in flight. A torn last line left by such
 * a kill is cut off when the file is next opened, so that outcome is archived again when re-published.
 */
export function jsonlArchive(filePath: string): EnvelopeHandler {
  let keys: Set<string> | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  return (envelope) => {
    const append = queue.then(async () => {
      // Loaded inside the queue: one load at a time, and a failed load is retried by the next event.
      keys ??= await loadArchivedKeys(filePath);
      const key = archiveKey(envelope);
      if (keys.has(key)) return;
      // Synchronous on purpose: an async append waits for a libuv threadpool thread, and sharp runs
      // its decodes there. With phone photos (~150 ms each) every outcome queued behind them, the
      // bus published ~5 outcomes/s behind ~12 decisions/s, and the local bucket (whose uploads are
      // deleted once their outcome is archived) grew with the batch. One short line costs microseconds.
      appendFileSync(filePath, `${JSON.stringify(envelope)}\n`);
      keys.add(key);
    });
    // A failed append must not block the ones behind it; the caller still sees its own error.
    queue = append.catch(() => undefined);
    return append;
  };
}

/** The archive's identity of an event: one outcome per selfie and decision, one review per selfie. */
export function archiveKey(
  envelope: Pick<EventEnvelope<unknown>, 'id' | 'detail'> & { 'detail-type'?: string },
): string {
  const detail = envelope.detail as { selfieId?: unknown; decision?: unknown } | null;
  if (
    typeof detail?.selfieId === 'string' &&
    envelope['detail-type'] === pipelineSettings.events.reviewDetailType
  ) {
    return `${detail.selfieId}#REVIEWED`;
  }
  if (typeof detail?.selfieId === 'string') return `${detail.selfieId}#${String(detail.decision)}`;
  return `event#${envelope.id}`;
}

async function loadArchivedKeys(filePath: string): Promise<Set<string>> {
  await mkdir(dirname(filePath), { recursive: true });
  let content: string;
  try {
    content = await readFile(filePath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw error;
  }
  const keys = new Set<string>();
  const lines = content.split('\n');
  const tail = lines.pop() ?? '';
  for (const [index, line] of lines.entries()) {
    if (!line.trim()) continue;
    try {
      keys.add(archiveKey(JSON.parse(line) as EventEnvelope<unknown>));
    } catch {
      throw new Error(
        `${filePath}:${index + 1} is not a JSON event; fix or remove that line before restarting`,
      );
    }
  }
  if (tail !== '') {
    // Written by a process killed mid-append: drop the partial line so the file stays valid JSONL.
    await truncate(filePath, Buffer.byteLength(content, 'utf8') - Buffer.byteLength(tail, 'utf8'));
  }
  return keys;
}
