import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  messageForResult,
  serializeVerifySelfieMessage,
  verifySelfieMessageSchema,
} from '../shared/messages.ts';
import type { SelfieResult } from '../shared/results/records.ts';
import type { AuditQueries, DecisionRange } from './audit-queries.ts';
import type { OperatorHistory } from './selfie-history.ts';

/** What happened to one DLQ message. */
export interface RedrivenMessage {
  messageId: string;
  selfieId?: string;
  /**
   * reopened: its FAILED result went back to RECEIVED; already-open: reopened by an earlier, interrupted
   * redrive; decided: it has another decision (the worker will skip it); no-record: the worker records it;
   * unreadable: the body is not a work message (moved anyway: the operator asked for every message).
   */
  result: 'reopened' | 'already-open' | 'decided' | 'no-record' | 'unreadable';
}

export interface RedriveSummary {
  dryRun: boolean;
  /** Messages moved to the work queue (0 in a dry run). */
  moved: number;
  messages: RedrivenMessage[];
}

export interface RedriveOptions {
  sqs: SQSClient;
  deadLetterQueueUrl: string;
  workQueueUrl: string;
  history: OperatorHistory;
  dryRun: boolean;
  now?: () => Date;
  /** Seconds a received DLQ message stays hidden while it is moved (or counted, in a dry run). */
  visibilityTimeoutSeconds?: number;
  onMessage?: (message: RedrivenMessage) => void;
}

function selfieIdIn(body: string | undefined): string | undefined {
  try {
    return verifySelfieMessageSchema.parse(JSON.parse(body ?? '')).selfieId;
  } catch {
    return undefined;
  }
}

/**
 * Moves every DLQ message back to the work queue with its body and attributes unchanged, reopening its
 * FAILED result first: a FAILED result is terminal, and the worker would otherwise skip the message as
 * already decided. Per message: reopen, send, then delete from the DLQ, so an interruption leaves the
 * message in the DLQ (a later redrive finds its result already open and moves it) rather than losing it.
 *
 * SQS's own StartMessageMoveTask moves messages without this step, so it is not used.
 * A dry run receives each message once to list it, then makes them all visible again.
 */
export async function redriveDeadLetters(options: RedriveOptions): Promise<RedriveSummary> {
  const { sqs, history } = options;
  const now = options.now ?? (() => new Date());
  const visibility = options.visibilityTimeoutSeconds ?? 120;
  const summary: RedriveSummary = { dryRun: options.dryRun, moved: 0, messages: [] };
  const heldForDryRun: Message[] = [];
  const seen = new Set<string>();
  try {
    for (;;) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.deadLetterQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: visibility,
          MessageAttributeNames: ['All'],
        }),
      );
      const messages = (out.Messages ?? []).filter((m) => !seen.has(m.MessageId ?? ''));
      if (messages.length === 0) break;
      for (const message of messages) {
        seen.add(message.MessageId ?? '');
        const selfieId = selfieIdIn(message.Body);
        if (options.dryRun) {
          heldForDryRun.push(message);
          const result = selfieId ? await classify(history, selfieId) : 'unreadable';
          report({ messageId: message.MessageId ?? '', ...(selfieId ? { selfieId } : {}), result });
          continue;
        }
        let result: RedrivenMessage['result'] = 'unreadable';
        if (selfieId) {
          const reopened = await history.reopenForRedrive(selfieId, now().toISOString());
          result =
            reopened === 'reopened'
              ? 'reopened'
              : reopened === 'missing'
                ? 'no-record'
                : reopened.state === 'RECEIVED' || reopened.state === 'PROCESSING'
                  ? 'already-open'
                  : 'decided';
        }
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: options.workQueueUrl,
            MessageBody: message.Body ?? '',
            ...(message.MessageAttributes && Object.keys(message.MessageAttributes).length > 0
              ? { MessageAttributes: message.MessageAttributes }
              : {}),
          }),
        );
        await sqs.send(
          new DeleteMessageCommand({
            QueueUrl: options.deadLetterQueueUrl,
            ReceiptHandle: message.ReceiptHandle ?? '',
          }),
        );
        summary.moved += 1;
        report({ messageId: message.MessageId ?? '', ...(selfieId ? { selfieId } : {}), result });
      }
    }
  } finally {
    for (let start = 0; start < heldForDryRun.length; start += 10) {
      const group = heldForDryRun.slice(start, start + 10);
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: options.deadLetterQueueUrl,
          Entries: group.map((m, i) => ({
            Id: String(i),
            ReceiptHandle: m.ReceiptHandle ?? '',
            VisibilityTimeout: 0,
          })),
        }),
      );
    }
  }
  return summary;

  function report(message: RedrivenMessage) {
    summary.messages.push(message);
    options.onMessage?.(message);
  }
}

async function classify(history: OperatorHistory, selfieId: string): Promise<RedrivenMessage['result']> {
  const result = await history.getResult(selfieId);
  if (!result) return 'no-record';
  if (result.state === 'FAILED') return 'reopened';
  return result.state === 'RECEIVED' || result.state === 'PROCESSING' || result.state === 'HELD'
    ? 'already-open'
    : 'decided';
}

/** What happened to one FAILED result. */
export interface RedrivenResult {
  selfieId: string;
  batchId: string;
  /** The FAILED decision's reason, as recorded. */
  reason?: string;
  /**
   * reopened: FAILED -> RECEIVED and its message sent to the work queue (in a dry run: would be);
   * requeued: reopened by an earlier redrive whose send did not happen, sent now (a duplicate message is
   * harmless: the worker's lease and terminal check let one delivery decide); changed: no longer FAILED
   * when reopened (another redrive or the worker got there first), left alone.
   */
  result: 'reopened' | 'requeued' | 'changed';
}

export interface FailedRedriveSummary {
  dryRun: boolean;
  /** Messages sent to the work queue (0 in a dry run). */
  queued: number;
  results: RedrivenResult[];
}

export interface FailedRedriveOptions {
  sqs: SQSClient;
  workQueueUrl: string;
  queries: AuditQueries;
  history: OperatorHistory;
  /** One batch (index byBatch), or FAILED decisions over a date range (index byDecisionDate). Never a scan. */
  select: { batchId: string } | { range: DecisionRange };
  dryRun: boolean;
  now?: () => Date;
  onResult?: (result: RedrivenResult) => void;
}

/**
 * `redrive --failed`: reopens FAILED results and queues them again, whether or not their message is
 * still in the DLQ (the DLQ keeps messages 14 days; a selfie can also end FAILED without reaching it).
 * Per result: reopen (FAILED -> RECEIVED, batch FAILED -1, a REDRIVE history item, one transaction),
 * then send its work message. Reopened first, because the worker skips a message whose result is
 * still FAILED. If the send fails the result stays RECEIVED without a message: the error names it,
 * and `redrive --failed --batch B` sends it again (it re-queues RECEIVED results an earlier redrive
 * reopened). A dry run only lists.
 */
export async function redriveFailedResults(options: FailedRedriveOptions): Promise<FailedRedriveSummary> {
  const { sqs, history, queries } = options;
  const now = options.now ?? (() => new Date());
  const summary: FailedRedriveSummary = { dryRun: options.dryRun, queued: 0, results: [] };
  const handled = new Set<string>();
  // History sort keys hold the time: keep them distinct within one run.
  let lastAt = 0;
  const historyTime = () => {
    lastAt = Math.max(now().getTime(), lastAt + 1);
    return new Date(lastAt).toISOString();
  };
  const failedPages =
    'batchId' in options.select
      ? queries.batchPages(options.select.batchId, 'FAILED')
      : queries.decisionPages('FAILED', options.select.range);
  for await (const page of failedPages) {
    for (const failed of page) {
      if (options.dryRun) {
        report(failed, 'reopened');
        continue;
      }
      const reopened = await history.reopenForRedrive(failed.selfieId, historyTime());
      if (reopened !== 'reopened') {
        report(failed, 'changed');
        continue;
      }
      await send(failed);
      report(failed, 'reopened');
    }
  }
  if ('batchId' in options.select) {
    for await (const page of queries.batchPages(options.select.batchId, 'RECEIVED')) {
      // Not the ones this run just reopened and sent: only those an earlier run left unsent.
      for (const open of page.filter((r) => r.redrivenAt !== undefined && !handled.has(r.selfieId))) {
        if (!options.dryRun) await send(open);
        report(open, 'requeued');
      }
    }
  }
  return summary;

  async function send(result: SelfieResult) {
    try {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: options.workQueueUrl,
          MessageBody: serializeVerifySelfieMessage(messageForResult(result)),
        }),
      );
    } catch (error) {
      throw new Error(
        `${result.selfieId} was reopened (now RECEIVED) but its work message could not be sent ` +
          `(${error instanceof Error ? error.message : String(error)}). Fix the cause, then run ` +
          `\`liveness-batch redrive --failed --batch ${result.batchId}\`: it sends reopened results again.`,
      );
    }
    summary.queued += 1;
  }

  function report(result: SelfieResult, what: RedrivenResult['result']) {
    handled.add(result.selfieId);
    const redriven: RedrivenResult = {
      selfieId: result.selfieId,
      batchId: result.batchId,
      ...(result.reason ? { reason: result.reason } : {}),
      result: what,
    };
    summary.results.push(redriven);
    options.onResult?.(redriven);
  }
}
