import type {
  PutEventsCommand,
  PutEventsCommandOutput,
  PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { describe, expect, it, vi } from 'vitest';
import { toPutEventsEntry } from '../../shared/events/outcome-event.ts';
import { EventBridgePublisher, publishAll } from '../../shared/events/publisher.ts';
import { outcomeDetail } from './support.ts';

function entries(count: number): PutEventsRequestEntry[] {
  return Array.from({ length: count }, (_, index) =>
    toPutEventsEntry(outcomeDetail({ selfieId: `selfie-${index}` }), 'bus'),
  );
}

function selfieIds(sent: readonly PutEventsRequestEntry[] | undefined): string[] {
  return (sent ?? []).map((entry) => JSON.parse(entry.Detail ?? '{}').selfieId);
}

type Answer = (sent: PutEventsRequestEntry[]) => PutEventsCommandOutput['Entries'];

/** A fake EventBridge client: EventBridge has no emulator here, so its `send` is a vi.fn. */
function fakeClient(answer: Answer = (sent) => sent.map((_, index) => ({ EventId: `id-${index}` }))) {
  const send = vi.fn(async (command: PutEventsCommand): Promise<PutEventsCommandOutput> => {
    const answered = answer(command.input.Entries ?? []) ?? [];
    return {
      $metadata: {},
      FailedEntryCount: answered.filter((result) => result.ErrorCode).length,
      Entries: answered,
    };
  });
  const sentBatches = () => send.mock.calls.map(([command]) => command.input.Entries ?? []);
  return {
    client: { send } as unknown as ConstructorParameters<typeof EventBridgePublisher>[0],
    send,
    sentBatches,
  };
}

const throttled = { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' };

describe('EventBridgePublisher and publishAll (EventBridge client mocked: no emulator exists)', () => {
  it('maps the PutEvents answer entry by entry, in input order (EventBridge client mocked: no emulator exists)', async () => {
    // Prepare
    const { client } = fakeClient((sent) =>
      sent.map((_, i) => (i === 1 ? throttled : { EventId: `id-${i}` })),
    );

    // Act
    const result = await new EventBridgePublisher(client).putEvents(entries(3));

    // Assess
    expect(result).toEqual({
      failedEntryCount: 1,
      entries: [
        { eventId: 'id-0' },
        { errorCode: 'ThrottlingException', errorMessage: 'Rate exceeded' },
        { eventId: 'id-2' },
      ],
    });
  });

  it('sends in groups of 10, the PutEvents limit (EventBridge client mocked: no emulator exists)', async () => {
    // Prepare
    const { client, sentBatches } = fakeClient();

    // Act
    const unpublished = await publishAll(new EventBridgePublisher(client), entries(23), {
      maxResendRounds: 3,
    });

    // Assess
    expect(unpublished).toEqual([]);
    expect(sentBatches().map((batch) => batch.length)).toEqual([10, 10, 3]);
    expect(sentBatches().flatMap(selfieIds)).toEqual(selfieIds(entries(23)));
  });

  it('resends only the failed entries (EventBridge client mocked: no emulator exists)', async () => {
    // Prepare: selfie-3 and selfie-12 are throttled once
    const throttledOnce = new Set(['selfie-3', 'selfie-12']);
    const { client, sentBatches } = fakeClient((sent) =>
      selfieIds(sent).map((id, i) => (throttledOnce.delete(id) ? throttled : { EventId: `id-${id}-${i}` })),
    );

    // Act
    const unpublished = await publishAll(new EventBridgePublisher(client), entries(15), {
      maxResendRounds: 2,
      resendDelayMs: 0,
    });

    // Assess
    expect(unpublished).toEqual([]);
    expect(sentBatches().map(selfieIds)).toEqual([
      selfieIds(entries(10)),
      selfieIds(entries(15).slice(10)),
      ['selfie-3', 'selfie-12'],
    ]);
  });

  it('gives up after the resend rounds and returns what still failed (EventBridge client mocked: no emulator exists)', async () => {
    // Prepare: selfie-1 always fails
    const { client, send } = fakeClient((sent) =>
      selfieIds(sent).map((id) =>
        id === 'selfie-1' ? { ErrorCode: 'InternalFailure', ErrorMessage: 'boom' } : { EventId: `id-${id}` },
      ),
    );
    const sent = entries(4);

    // Act
    const unpublished = await publishAll(new EventBridgePublisher(client), sent, {
      maxResendRounds: 2,
      resendDelayMs: 0,
    });

    // Assess: first send + 2 resend rounds
    expect(send).toHaveBeenCalledTimes(3);
    expect(unpublished).toEqual([
      { index: 1, entry: sent[1], errorCode: 'InternalFailure', errorMessage: 'boom' },
    ]);
  });

  it('counts a call that throws as a failure of each entry it carried (EventBridge client mocked: no emulator exists)', async () => {
    // Prepare
    const { client, send } = fakeClient();
    send.mockRejectedValueOnce(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }));
    const sent = entries(12);

    // Act
    const unpublished = await publishAll(new EventBridgePublisher(client), sent, {
      maxResendRounds: 1,
      resendDelayMs: 0,
    });

    // Assess: the first group failed, was resent, and went through
    expect(unpublished).toEqual([]);
    expect(send).toHaveBeenCalledTimes(3);
    expect(selfieIds(send.mock.calls[2]?.[0].input.Entries)).toEqual(selfieIds(sent.slice(0, 10)));
  });

  it('with no resend rounds, returns failures with their input index (EventBridge client mocked: no emulator exists)', async () => {
    // Prepare
    const { client } = fakeClient((sent) => sent.map(() => throttled));
    const sent = entries(2);

    // Act
    const unpublished = await publishAll(new EventBridgePublisher(client), sent, { maxResendRounds: 0 });

    // Assess
    expect(unpublished.map(({ index, errorCode }) => ({ index, errorCode }))).toEqual([
      { index: 0, errorCode: 'ThrottlingException' },
      { index: 1, errorCode: 'ThrottlingException' },
    ]);
  });
});
