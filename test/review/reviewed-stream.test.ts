import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { jsonlArchive } from '../../local-cloud/event-bus.ts';
import { buildEnvelope } from '../../shared/events/envelope.ts';
import { outcomeOf } from '../../shared/publish/publish-outcomes.ts';

const decided = {
  pk: 'SELFIE#s3://b/uploads/x/a.jpg',
  sk: 'RESULT',
  selfieId: 's3://b/uploads/x/a.jpg',
  bucket: 'b',
  key: 'uploads/x/a.jpg',
  batchId: 'x',
  state: 'REVIEW',
  decision: 'REVIEW',
  receivedAt: '2026-12-01T10:00:00.000Z',
  updatedAt: '2026-12-01T10:00:05.000Z',
  decidedAt: '2026-12-01T10:00:05.000Z',
  attempts: 1,
  paidCalls: 1,
};
const review = { verdict: 'APPROVED', reviewer: 'alice', at: '2026-12-01T11:00:00.000Z' };

const record = (item: Record<string, unknown>): DynamoDBRecord => ({
  eventName: 'MODIFY',
  dynamodb: { NewImage: marshall(item) as never, SequenceNumber: '1', StreamViewType: 'NEW_IMAGE' },
});

describe('the publish handler and reviewed results', () => {
  it('publishes a decision once: the write that adds a review is not a second outcome', () => {
    expect(outcomeOf(record(decided))?.decision).toBe('REVIEW');
    expect(outcomeOf(record({ ...decided, review }))).toBeUndefined();
  });

  it('publishes a decision made after the review (a redriven FAILED selfie decided again)', () => {
    const redecided = {
      ...decided,
      state: 'VERIFIED',
      decision: 'VERIFIED',
      decidedAt: '2026-12-01T12:00:00.000Z',
    };
    expect(outcomeOf(record({ ...redecided, review }))?.decision).toBe('VERIFIED');
  });
});

describe('the local archive and review events', () => {
  it('keeps a review event beside the outcome of the same selfie and decision, and each only once', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'archive-'));
    const file = join(dir, 'events.jsonl');
    const archive = jsonlArchive(file);
    const context = { time: new Date(), account: '000000000000', region: 'us-east-1' };
    const detail = { selfieId: decided.selfieId, decision: 'REVIEW' };
    const outcome = buildEnvelope(
      { source: 'liveness-batch', detailType: 'Selfie Verification Outcome', detail },
      { ...context, id: 'e1' },
    );
    const reviewed = buildEnvelope(
      {
        source: 'liveness-batch',
        detailType: 'Selfie Review Outcome',
        detail: { ...detail, verdict: 'APPROVED' },
      },
      { ...context, id: 'e2' },
    );
    try {
      // Act
      for (const envelope of [outcome, reviewed, outcome, reviewed]) await archive(envelope);

      // Assess
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      expect(lines.map((l) => JSON.parse(l).id)).toEqual(['e1', 'e2']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
