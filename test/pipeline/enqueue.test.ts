import { GetObjectCommand as GetS3Object } from '@aws-sdk/client-s3';
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueUploads, hashedSelfieId, MAX_SELFIE_ID_BYTES } from '../../shared/enqueue/enqueue-uploads.ts';
import { parseVerifySelfieMessage, serializeVerifySelfieMessage } from '../../shared/messages.ts';
import { outcomeOf } from '../../shared/publish/publish-outcomes.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { createPipelineFixture, objectCreatedRecord, type PipelineFixture } from '../support/pipeline.ts';

/**
 * Takes what the work queue holds and deletes it, so no test sees another's messages: the fixture's
 * 1 s visibility timeout would otherwise bring them back for the next test on a busy machine.
 */
async function receiveAll(sqs: SQSClient, queueUrl: string) {
  const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
  const messages = out.Messages ?? [];
  await Promise.all(
    messages.map((m) =>
      sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle })),
    ),
  );
  return messages.map((m) => parseVerifySelfieMessage(m.Body ?? ''));
}

describe('enqueue handler (S3 ObjectCreated → results table + work queue)', () => {
  let pipeline: PipelineFixture;
  beforeAll(async () => {
    pipeline = await createPipelineFixture();
  });
  afterAll(() => pipeline.stop());

  it('decodes keys with spaces, +, %, unicode and emoji exactly once, to the object that was uploaded', async () => {
    // Prepare
    const keys = [
      'uploads/batch one/Zoë + Ana.jpg',
      'uploads/batch one/100% real.png',
      'uploads/batch one/日本 語+x.webp',
      'uploads/batch one/selfie 😀 %2B.jpg',
    ];
    const bytes = await Promise.all(
      keys.map((_, i) => syntheticFace({ seed: 500 + i, width: 200, height: 260 })),
    );
    const records = await Promise.all(keys.map((key, i) => pipeline.upload(key, bytes[i] as Buffer)));

    // Act
    const summary = await pipeline.enqueue(records);
    const messages = await receiveAll(pipeline.sqs, pipeline.workQueue.queueUrl);

    // Assess
    expect(summary.enqueued).toBe(4);
    expect(messages.map((m) => m.key).sort()).toEqual([...keys].sort());
    for (const message of messages) {
      expect(message.batchId).toBe('batch one');
      const object = await pipeline.s3.send(new GetS3Object({ Bucket: message.bucket, Key: message.key }));
      const original = bytes[keys.indexOf(message.key)] as Buffer;
      expect(Buffer.from(await (object.Body?.transformToByteArray() ?? [])).equals(original)).toBe(true);
      expect((await pipeline.repository.getResult(message.selfieId))?.state).toBe('RECEIVED');
    }
  });

  it('ignores folder markers, keys outside the upload prefix and non-create events', async () => {
    // Prepare
    const marker = objectCreatedRecord(pipeline.bucket, 'uploads/empty-folder/', 0);
    const outside = objectCreatedRecord(pipeline.bucket, 'elsewhere/face.jpg', 100);
    const removed = {
      ...objectCreatedRecord(pipeline.bucket, 'uploads/b/face.jpg', 100),
      eventName: 'ObjectRemoved:Delete',
    };

    // Act
    const summary = await pipeline.enqueue([marker, outside, removed]);

    // Assess
    expect(summary).toEqual({ enqueued: 0, alreadyKnown: 0, rejected: 0, ignored: 3 });
    expect(await receiveAll(pipeline.sqs, pipeline.workQueue.queueUrl)).toEqual([]);
  });

  it('does not enqueue a selfie twice when S3 delivers the same event again, and counts it once', async () => {
    // Prepare
    const record = await pipeline.upload(
      'uploads/dup-event/face.jpg',
      await syntheticFace({ seed: 600, width: 200, height: 260 }),
    );

    // Act
    const first = await pipeline.enqueue([record]);
    const second = await pipeline.enqueue([record]);
    // Earlier tests' messages come back after their 1 s visibility timeout: look at this test's only.
    const messages = (await receiveAll(pipeline.sqs, pipeline.workQueue.queueUrl)).filter((m) =>
      m.key.startsWith('uploads/dup-event/'),
    );

    // Assess
    expect(first.enqueued).toBe(1);
    expect(second).toMatchObject({ enqueued: 0, alreadyKnown: 1 });
    expect(messages).toHaveLength(1);
    expect((await pipeline.repository.getBatchSummary('dup-event'))?.total).toBe(1);
  });

  it('resends entries SendMessageBatch reports as failed (SQS client wrapped to fail entries once)', async () => {
    // Prepare: fauxqs never fails single entries, so the real client is wrapped to report two failures once.
    const records = await Promise.all(
      [1, 2, 3].map(async (i) =>
        pipeline.upload(
          `uploads/resend/face-${i}.jpg`,
          await syntheticFace({ seed: 700 + i, width: 200, height: 260 }),
        ),
      ),
    );
    const realSend = pipeline.sqs.send.bind(pipeline.sqs) as (
      command: unknown,
    ) => Promise<Record<string, unknown>>;
    let failedOnce = false;
    const flakySqs = {
      send: async (command: unknown) => {
        if (!failedOnce && command instanceof SendMessageBatchCommand) {
          failedOnce = true;
          const [first, ...rest] = command.input.Entries ?? [];
          const sent = await realSend(
            new SendMessageBatchCommand({ ...command.input, Entries: first ? [first] : [] }),
          );
          return {
            ...sent,
            Failed: rest.map((e) => ({ Id: e.Id, Code: 'InternalError', SenderFault: false })),
          };
        }
        return realSend(command);
      },
    } as unknown as SQSClient;

    // Act
    const summary = await enqueueUploads(records, { ...pipeline.enqueueRuntime, sqs: flakySqs });
    // Earlier tests' messages come back after their visibility timeout: look at this test's only.
    const messages: { key: string }[] = [];
    for (let round = 0; round < 10 && messages.length < 3; round++) {
      const received = await receiveAll(pipeline.sqs, pipeline.workQueue.queueUrl);
      messages.push(...received.filter((m) => m.key.startsWith('uploads/resend/')));
    }

    // Assess
    expect(failedOnce).toBe(true);
    expect(summary.enqueued).toBe(3);
    expect(messages.map((m) => m.key).sort()).toEqual([
      'uploads/resend/face-1.jpg',
      'uploads/resend/face-2.jpg',
      'uploads/resend/face-3.jpg',
    ]);
  });
});

describe('work queue message body', () => {
  it('escapes characters above U+FFFF (which the local SQS emulator refuses) and parses back to the same key', () => {
    // Prepare
    const message = {
      bucket: 'b',
      key: 'uploads/b/selfie 😀 𝒜.jpg',
      selfieId: 's3://b/uploads/b/selfie 😀 𝒜.jpg',
      batchId: 'b',
      receivedAt: '2026-11-26T00:00:00.000Z',
    };

    // Act
    const body = serializeVerifySelfieMessage(message);

    // Assess
    expect(body).not.toMatch(/[\u{10000}-\u{10FFFF}]/u);
    expect(body).toContain('\\ud83d\\ude00');
    expect(parseVerifySelfieMessage(body)).toEqual(message);
  });
});

describe('work queue message body through real SQS (fauxqs)', () => {
  let pipeline: PipelineFixture;
  beforeAll(async () => {
    pipeline = await createPipelineFixture();
  });
  afterAll(() => pipeline.stop());

  it('escapes every character SQS refuses (U+FFFE, U+FFFF, C0 controls, astral) and the received body parses back to the same key', async () => {
    // Prepare: SQS accepts only #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
    const key = 'uploads/odd/a\uFFFEb\uFFFFc\u0000d\u0001e\u001ff\u007fg\u0085h\tj\uE000k\uFFFDl 😀 𝒜.jpg';
    const message = {
      bucket: pipeline.bucket,
      key,
      selfieId: `s3://${pipeline.bucket}/${key}`,
      batchId: 'odd',
      receivedAt: '2026-12-02T00:00:00.000Z',
    };

    // Act
    const body = serializeVerifySelfieMessage(message);
    await pipeline.sqs.send(
      new SendMessageCommand({ QueueUrl: pipeline.workQueue.queueUrl, MessageBody: body }),
    );
    const out = await pipeline.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: pipeline.workQueue.queueUrl, WaitTimeSeconds: 1 }),
    );
    const received = out.Messages?.[0];
    await pipeline.sqs.send(
      new DeleteMessageCommand({
        QueueUrl: pipeline.workQueue.queueUrl,
        ReceiptHandle: received?.ReceiptHandle,
      }),
    );

    // Assess
    expect(body).not.toMatch(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/u);
    expect(received?.Body).toBe(body);
    expect(parseVerifySelfieMessage(received?.Body ?? '')).toEqual(message);
  });

  it('enqueues an upload whose key holds U+FFFE and U+FFFF: the work queue takes its message', async () => {
    // Prepare
    const key = 'uploads/nonchar/face \uFFFE\uFFFF.jpg';
    const record = await pipeline.upload(key, await syntheticFace({ seed: 801, width: 200, height: 260 }));

    // Act
    const summary = await pipeline.enqueue([record]);
    const messages = await receiveAll(pipeline.sqs, pipeline.workQueue.queueUrl);

    // Assess
    expect(summary.enqueued).toBe(1);
    expect(messages.map((m) => m.key)).toContain(key);
  });
});

describe('keys too long for the results table (DynamoDB: 2048-byte partition keys, 1024-byte sort keys)', () => {
  let pipeline: PipelineFixture;
  beforeAll(async () => {
    pipeline = await createPipelineFixture();
  });
  afterAll(() => pipeline.stop());

  /** A key under `uploads/<batch>/` whose selfie id (s3://bucket/key) is exactly `idBytes` long. */
  const keyWithIdOf = (batch: string, idBytes: number, filler = 'a') => {
    const head = `uploads/${batch}/`;
    const room = idBytes - Buffer.byteLength(`s3://${pipeline.bucket}/${head}.jpg`);
    const wide = filler.repeat(Math.floor(room / Buffer.byteLength(filler)));
    return `${head}${wide}${'a'.repeat(room - Buffer.byteLength(wide))}.jpg`;
  };

  it('the longest selfie id the keys hold is 999 bytes: `<decidedAt>#<id>` of byDecisionDate is the longest sort key', () => {
    // Assess
    expect(MAX_SELFIE_ID_BYTES).toBe(1024 - Buffer.byteLength('2026-12-02T00:00:00.000Z#'));
  });

  it('an id one byte over is REJECTED KEY_TOO_LONG at enqueue: recorded under its hash, counted, never queued nor sent to the vendor', async () => {
    // Prepare: 1000 bytes still fits `RECEIVED#<id>`, so before this check it failed only at the decision write.
    const key = keyWithIdOf('long', MAX_SELFIE_ID_BYTES + 1);
    const record = await pipeline.upload(key, await syntheticFace({ seed: 810, width: 200, height: 260 }));
    const fullId = `s3://${pipeline.bucket}/${key}`;

    // Act
    const summary = await pipeline.enqueue([record]);
    const again = await pipeline.enqueue([record]);
    await pipeline.drain();

    // Assess
    expect(summary).toMatchObject({ enqueued: 0, rejected: 1 });
    expect(again).toMatchObject({ enqueued: 0, rejected: 0, alreadyKnown: 1 });
    expect(await pipeline.repository.getResult(fullId)).toBeUndefined();
    const storedId = hashedSelfieId(fullId);
    expect(storedId).toMatch(/^sha256:[0-9a-f]{64}$/);
    const result = await pipeline.repository.getResult(storedId);
    expect(result).toMatchObject({
      state: 'REJECTED',
      decision: 'REJECTED',
      reasonCode: 'KEY_TOO_LONG',
      bucket: pipeline.bucket,
      key,
      batchId: 'long',
      attempts: 0,
      paidCalls: 0,
    });
    expect(result?.reason).toContain(`${MAX_SELFIE_ID_BYTES + 1} bytes`);
    expect(result?.reason).toContain(storedId);
    expect(await pipeline.repository.getBatchSummary('long')).toMatchObject({ total: 1, REJECTED: 1 });
    expect(pipeline.sandbox.ledger()).toEqual([]);
    // The decided item is an outcome like any other: the stream publishes it.
    const outcome = outcomeOf({
      eventName: 'MODIFY',
      dynamodb: { NewImage: marshall(result, { removeUndefinedValues: true }) as never },
    });
    expect(outcome).toMatchObject({ selfieId: storedId, key, decision: 'REJECTED' });
    expect(outcome?.reason).toMatch(/^KEY_TOO_LONG: /);
  });

  it('an id of exactly the limit (multi-byte characters counted in bytes) is queued and decided by the worker', async () => {
    // Prepare: 'é' is two bytes in UTF-8; the id is 999 bytes but far fewer characters.
    const fitting = keyWithIdOf('edge', MAX_SELFIE_ID_BYTES, 'é');
    const record = await pipeline.upload(
      fitting,
      await syntheticFace({ seed: 811, width: 240, height: 320 }),
    );
    const selfieId = `s3://${pipeline.bucket}/${fitting}`;

    // Act
    const summary = await pipeline.enqueue([record]);
    await pipeline.drain();

    // Assess
    expect(Buffer.byteLength(selfieId)).toBe(MAX_SELFIE_ID_BYTES);
    expect(selfieId.length).toBeLessThan(MAX_SELFIE_ID_BYTES);
    expect(summary).toMatchObject({ enqueued: 1, rejected: 0 });
    expect(['VERIFIED', 'NOT_VERIFIED', 'REVIEW']).toContain(
      (await pipeline.repository.getResult(selfieId))?.decision,
    );
  });
});
