import { describe, expect, it } from 'vitest';
import { outcomeRules } from '../../infra/event-rules.ts';
import { matchesEventPattern } from '../../local-cloud/pattern-matcher.ts';
import { DECISIONS, type Decision } from '../../shared/decision.ts';
import {
  outcomeEventDetailSchema,
  outcomeEventEnvelopeSchema,
  toEventEnvelope,
  toPutEventsEntry,
} from '../../shared/events/outcome-event.ts';
import { outcomeDetail } from './support.ts';

const context = {
  id: 'evt-1',
  time: '2025-03-01T10:00:03.456Z',
  account: '123456789012',
  region: 'eu-west-1',
};

describe('outcome event', () => {
  it('builds the PutEvents entry both hosts send', () => {
    // Prepare
    const detail = outcomeDetail({ decision: 'REVIEW', reason: 'scores disagree with vendor status' });

    // Act
    const entry = toPutEventsEntry(detail, 'liveness-outcomes');

    // Assess
    expect(entry).toEqual({
      Source: 'liveness-batch',
      DetailType: 'Selfie Verification Outcome',
      Detail: JSON.stringify(detail),
      EventBusName: 'liveness-outcomes',
      Resources: [],
    });
  });

  it('builds the envelope EventBridge delivers, keys in AWS order and time to the second', () => {
    // Prepare
    const detail = outcomeDetail();

    // Act
    const envelope = toEventEnvelope(detail, context);

    // Assess
    expect(Object.keys(envelope)).toEqual([
      'version',
      'id',
      'detail-type',
      'source',
      'account',
      'time',
      'region',
      'resources',
      'detail',
    ]);
    expect(envelope).toMatchObject({
      version: '0',
      id: 'evt-1',
      'detail-type': 'Selfie Verification Outcome',
      source: 'liveness-batch',
      account: '123456789012',
      time: '2025-03-01T10:00:03Z',
      region: 'eu-west-1',
      resources: [],
      detail,
    });
    expect(outcomeEventEnvelopeSchema.parse(envelope)).toEqual(envelope);
  });

  it('never carries fields the schema does not name, such as image data', () => {
    // Prepare
    const record = { ...outcomeDetail(), imageBase64: '/9j/4AAQSkZJRg==', apiKey: 'secret' };

    // Act
    const entry = toPutEventsEntry(record, 'bus');

    // Assess
    expect(JSON.parse(entry.Detail ?? '{}')).toEqual(outcomeDetail());
  });

  it.each([
    ['an unknown decision', { decision: 'MAYBE' }],
    ['a missing schemaVersion', { schemaVersion: undefined }],
    ['a second schema version', { schemaVersion: 2 }],
    ['a score given as a string', { liveScore: '0.9' }],
    ['a time that is not ISO', { decidedAt: 'yesterday' }],
    ['fractional attempts', { attempts: 1.5 }],
  ])('rejects %s', (_name, override) => {
    const candidate = { ...outcomeDetail(), ...override };
    expect(outcomeEventDetailSchema.safeParse(candidate).success).toBe(false);
  });

  it('accepts nulls where the vendor gave nothing (preflight rejection)', () => {
    const rejected = outcomeDetail({
      decision: 'REJECTED',
      reason: 'not an image',
      liveScore: null,
      popScore: null,
      vendorStatus: null,
      transactionReference: null,
      debitStatus: null,
      attempts: 0,
    });
    expect(outcomeEventDetailSchema.parse(rejected)).toEqual(rejected);
  });
});

describe('shipped outcome rules on real envelopes', () => {
  const routes: Record<Decision, string[]> = {
    VERIFIED: [],
    NOT_VERIFIED: ['reviewQueue'],
    REVIEW: ['reviewQueue'],
    REJECTED: ['opsQueue'],
    FAILED: ['opsQueue'],
  };

  it.each(DECISIONS)('routes %s as designed', (decision) => {
    // Prepare
    const envelope = toEventEnvelope(outcomeDetail({ decision }), context);

    // Act
    const targets = outcomeRules
      .filter((rule) => matchesEventPattern(rule.pattern, envelope))
      .map((r) => r.target);

    // Assess
    expect(targets).toEqual(routes[decision]);
  });

  it('matches no event from another source', () => {
    const envelope = { ...toEventEnvelope(outcomeDetail({ decision: 'FAILED' }), context), source: 'other' };
    expect(outcomeRules.some((rule) => matchesEventPattern(rule.pattern, envelope))).toBe(false);
  });
});
