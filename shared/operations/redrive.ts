import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { verifySelfieMessageSchema } from '../messages.ts';
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
