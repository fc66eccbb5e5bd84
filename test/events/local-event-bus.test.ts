import { spawn } from 'node:child_process';
import { pbkdf2 } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateQueueCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outcomeRules } from '../../infra/event-rules.ts';
import { jsonlArchive, LocalEventBus, sqsTarget } from '../../local-cloud/event-bus.ts';
import { createSqsClient } from '../../shared/aws-clients.ts';
import type { Decision } from '../../shared/decision.ts';
import type { EventEnvelope } from '../../shared/events/envelope.ts';
import { outcomeEventEnvelopeSchema, toPutEventsEntry } from '../../shared/events/outcome-event.ts';
import { emulatorEndpoints, uniqueName } from '../support/emulators.ts';
import { outcomeDetail } from './support.ts';

const pbkdf2Async = promisify(pbkdf2);

let sqs: SQSClient;
let folder: string;

beforeAll(async () => {
  sqs = createSqsClient(emulatorEndpoints());
  folder = await mkdtemp(join(tmpdir(), 'event-bus-'));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

async function createQueue(prefix: string): Promise<string> {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName(prefix) }));
  if (!created.QueueUrl) throw new Error('no queue url');
  return created.QueueUrl;
}

async function drain(queueUrl: string): Promise<EventEnvelope[]> {
  const bodies: EventEnvelope[] = [];
  for (;;) {
    const received = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (!received.Messages?.length) return bodies;
    bodies.push(...received.Messages.map((message) => JSON.parse(message.Body ?? '{}')));
  }
}

async function readArchive(file: string): Promise<EventEnvelope[]> {
  const content = await readFile(file, 'utf8');
  return content
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/** A bus wired like the local cloud: real SQS queues in fauxqs, a JSONL archive on disk. */
async function localCloudBus() {
  const reviewQueueUrl = await createQueue('review');
  const opsQueueUrl = await createQueue('ops');
  const archiveFile = join(folder, uniqueName('run'), 'events', 'events.jsonl');
  const bus = new LocalEventBus({
    rules: outcomeRules,
    targets: { reviewQueue: sqsTarget(sqs, reviewQueueUrl), opsQueue: sqsTarget(sqs, opsQueueUrl) },
    archive: jsonlArchive(archiveFile),
    account: '123456789012',
    region: 'eu-west-1',
  });
  return { bus, reviewQueueUrl, opsQueueUrl, archiveFile };
}

function outcome(name: string, decision: Decision) {
  return toPutEventsEntry(outcomeDetail({ selfieId: `bucket/uploads/b1/${name}.jpg`, decision }), 'local');
}

describe('LocalEventBus with the shipped rules, SQS targets in fauxqs and a JSONL archive', () => {
  it('routes NOT_VERIFIED to review only, FAILED to ops only, VERIFIED to neither, and archives all three', async () => {
    // Prepare
    const { bus, reviewQueueUrl, opsQueueUrl, archiveFile } = await localCloudBus();

    // Act
    const result = await bus.putEvents([
      outcome('alice', 'NOT_VERIFIED'),
      outcome('bob', 'FAILED'),
      outcome('carol', 'VERIFIED'),
    ]);

    // Assess
    expect(result.failedEntryCount).toBe(0);
    const [review, ops, archived] = await Promise.all([
      drain(reviewQueueUrl),
      drain(opsQueueUrl),
      readArchive(archiveFile),
    ]);
    expect(review.map((event) => event.detail.decision)).toEqual(['NOT_VERIFIED']);
    expect(ops.map((event) => event.detail.decision)).toEqual(['FAILED']);
    expect(archived.map((event) => event.detail.decision)).toEqual(['NOT_VERIFIED', 'FAILED', 'VERIFIED']);
    expect(archived.map((event) => event.id)).toEqual(result.entries.map((entry) => entry.eventId));
  });

  it('delivers envelopes shaped exactly like AWS: schema-valid, time to the second', async () => {
    // Prepare
    const { bus, reviewQueueUrl } = await localCloudBus();

    // Act
    await bus.putEvents([outcome('dave', 'REVIEW')]);

    // Assess
    const [delivered] = await drain(reviewQueueUrl);
    const envelope = outcomeEventEnvelopeSchema.parse(delivered);
    expect(envelope).toMatchObject({
      version: '0',
      account: '123456789012',
      region: 'eu-west-1',
      resources: [],
    });
    expect(envelope.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('archives a re-published outcome once, also after a restart', async () => {
    // Prepare
    const { bus, archiveFile } = await localCloudBus();
    await bus.putEvents([outcome('erin', 'FAILED')]);

    // Act: the same outcome again, then from a new bus on the same file (a restarted host)
    await bus.putEvents([outcome('erin', 'FAILED')]);
    const restarted = new LocalEventBus({
      rules: outcomeRules,
      targets: { reviewQueue: async () => {}, opsQueue: async () => {} },
      archive: jsonlArchive(archiveFile),
    });
    await restarted.putEvents([outcome('erin', 'FAILED'), outcome('frank', 'VERIFIED')]);

    // Assess
    const archived = await readArchive(archiveFile);
    expect(archived.map((event) => event.detail.selfieId)).toEqual([
      'bucket/uploads/b1/erin.jpg',
      'bucket/uploads/b1/frank.jpg',
    ]);
  });

  it('fails a malformed entry alone and delivers the others', async () => {
    // Prepare
    const { bus, opsQueueUrl, archiveFile } = await localCloudBus();

    // Act
    const result = await bus.putEvents([
      { Source: 'liveness-batch', DetailType: 'Selfie Verification Outcome', Detail: '{not json' },
      outcome('gina', 'REJECTED'),
      { Source: 'liveness-batch', Detail: '{}' },
      { Source: 'liveness-batch', DetailType: 'Selfie Verification Outcome', Detail: '["an array"]' },
    ]);

    // Assess
    expect(result.failedEntryCount).toBe(3);
    expect(result.entries.map((entry) => entry.errorCode)).toEqual([
      'MalformedDetail',
      undefined,
      'InvalidArgument',
      'MalformedDetail',
    ]);
    expect(result.entries[1]?.eventId).toEqual(expect.any(String));
    expect((await drain(opsQueueUrl)).map((event) => event.detail.selfieId)).toEqual([
      'bucket/uploads/b1/gina.jpg',
    ]);
    expect(await readArchive(archiveFile)).toHaveLength(1);
  });

  it('rejects a call with more than 10 entries, as PutEvents does', async () => {
    const { bus } = await localCloudBus();
    const eleven = Array.from({ length: 11 }, (_, index) => outcome(`p${index}`, 'VERIFIED'));
    await expect(bus.putEvents(eleven)).rejects.toThrow(/1 to 10 entries/);
  });

  it('fails the entry when a target cannot take it, so the publisher resends it', async () => {
    // Prepare
    const bus = new LocalEventBus({
      rules: outcomeRules,
      targets: {
        reviewQueue: async () => {
          throw new Error('queue unavailable');
        },
        opsQueue: async () => {},
      },
      archive: async () => {},
    });

    // Act
    const result = await bus.putEvents([outcome('hana', 'REVIEW'), outcome('ivan', 'FAILED')]);

    // Assess
    expect(result.failedEntryCount).toBe(1);
    expect(result.entries[0]).toEqual({ errorCode: 'InternalFailure', errorMessage: 'queue unavailable' });
  });

  it('refuses a rule whose pattern is not valid when it starts', () => {
    expect(
      () =>
        new LocalEventBus({
          rules: [
            { id: 'bad', description: 'leaf not an array', target: 'opsQueue', pattern: { source: 'x' } },
          ],
          targets: { reviewQueue: async () => {}, opsQueue: async () => {} },
          archive: async () => {},
        }),
    ).toThrow(/source: a field must hold an array/);
  });
});

describe('jsonlArchive on disk', () => {
  it('keeps the call order of concurrent appends and creates the folder', async () => {
    // Prepare
    const file = join(folder, uniqueName('order'), 'nested', 'events.jsonl');
    const archive = jsonlArchive(file);
    const envelopes = Array.from({ length: 50 }, (_, index) => ({
      ...envelopeFor(`s${index}`),
      id: `e${index}`,
    }));

    // Act
    await Promise.all(envelopes.map((envelope) => archive(envelope)));

    // Assess
    expect((await readArchive(file)).map((event) => event.id)).toEqual(
      envelopes.map((envelope) => envelope.id),
    );
  });

  it('appends at once while the threadpool is busy (sharp decodes phone photos on it)', async () => {
    // Prepare: the archive has loaded its keys; then every libuv threadpool thread is kept busy.
    const file = join(folder, `${uniqueName('pool')}.jsonl`);
    const archive = jsonlArchive(file);
    await archive(envelopeFor('first'));
    const order: string[] = [];
    const busy = Array.from({ length: 16 }, () =>
      pbkdf2Async('password', 'salt', 200_000, 32, 'sha256').then(() => order.push('threadpool job')),
    );

    // Act
    await archive(envelopeFor('second'));
    order.push('archived');
    await Promise.all(busy);

    // Assess: the append did not queue behind the threadpool's jobs.
    expect(order[0]).toBe('archived');
    expect((await readArchive(file)).map((event) => event.detail.selfieId)).toEqual(['first', 'second']);
  });

  it('drops a line torn by a killed process, keeps the rest, and archives that outcome again', async () => {
    // Prepare: one whole line and half of the next, as a SIGKILL mid-append leaves them
    const file = join(folder, `${uniqueName('torn')}.jsonl`);
    const whole = JSON.stringify(envelopeFor('kept'));
    const torn = JSON.stringify(envelopeFor('torn')).slice(0, 40);
    await writeFile(file, `${whole}\n${torn}`);

    // Act
    const archive = jsonlArchive(file);
    await archive(envelopeFor('kept'));
    await archive(envelopeFor('torn'));

    // Assess
    expect((await readArchive(file)).map((event) => event.detail.selfieId)).toEqual(['kept', 'torn']);
  });

  it('keeps one event per selfie and decision, and events without a selfieId by id', async () => {
    // Prepare
    const file = join(folder, `${uniqueName('keys')}.jsonl`);
    const archive = jsonlArchive(file);

    // Act
    await archive(envelopeFor('s1', 'FAILED'));
    await archive(envelopeFor('s1', 'FAILED'));
    await archive(envelopeFor('s1', 'VERIFIED'));
    await archive({ ...envelopeFor('x'), id: 'other-1', detail: { note: 'no selfie' } });
    await archive({ ...envelopeFor('x'), id: 'other-2', detail: { note: 'no selfie' } });

    // Assess
    expect((await readArchive(file)).map((event) => event.id)).toEqual(['s1', 's1', 'other-1', 'other-2']);
  });
});

function envelopeFor(selfieId: string, decision: Decision = 'VERIFIED'): EventEnvelope {
  return {
    version: '0',
    id: selfieId,
    'detail-type': 'Selfie Verification Outcome',
    source: 'liveness-batch',
    account: '000000000000',
    time: '2025-03-01T10:00:03Z',
    region: 'us-east-1',
    resources: [],
    detail: { ...outcomeDetail({ selfieId, decision }) },
  };
}

describe('jsonlArchive under SIGKILL', () => {
  it('loses at most the line in flight when the writer is killed', async () => {
    // Prepare: a child process appends as fast as it can and reports each append that resolved
    const file = join(folder, `${uniqueName('killed')}.jsonl`);
    const moduleUrl = new URL('../../local-cloud/event-bus.ts', import.meta.url).href;
    const script = `
      const { jsonlArchive } = await import(${JSON.stringify(moduleUrl)});
      const archive = jsonlArchive(${JSON.stringify(file)});
      for (let i = 0; ; i++) {
        await archive({ version: '0', id: 'e' + i, detail: { selfieId: 's' + i, decision: 'VERIFIED', pad: 'x'.repeat(2000) } });
        process.stdout.write(i + '\\n');
      }`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let confirmed = -1;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const last = chunk.toString().trim().split('\n').at(-1);
        confirmed = Number(last);
        if (confirmed >= 200) resolve();
      });
    });

    // Act
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const archive = jsonlArchive(file);
    await archive(envelopeFor('after-restart'));

    // Assess: every confirmed append survived, in order, and the file is valid JSONL again
    const ids = (await readArchive(file)).map((event) => event.id);
    expect(ids.at(-1)).toBe('after-restart');
    const before = ids.slice(0, -1);
    expect(before.length).toBeGreaterThanOrEqual(confirmed + 1);
    expect(before).toEqual(before.map((_, index) => `e${index}`));
  });
});
