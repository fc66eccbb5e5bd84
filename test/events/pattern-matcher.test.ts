import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  compileEventPattern,
  InvalidEventPatternError,
  matchesEventPattern,
} from '../../local-cloud/pattern-matcher.ts';

const casesFile = z.object({
  cases: z.array(
    z.object({
      group: z.string(),
      name: z.string(),
      pattern: z.record(z.string(), z.unknown()),
      event: z.record(z.string(), z.unknown()),
      expected: z.boolean(),
    }),
  ),
});

/** Cases from the AWS EventBridge user guide (copied from the design folder so CI has them). */
const { cases } = casesFile.parse(
  JSON.parse(readFileSync(new URL('./fixtures/eventbridge-pattern-cases.json', import.meta.url), 'utf8')),
);

describe('matchesEventPattern against the EventBridge user guide cases', () => {
  it('has all 57 documented cases', () => {
    expect(cases).toHaveLength(57);
  });

  it.each(cases.map((testCase, index) => ({ ...testCase, index })))(
    '#$index $group: $name -> $expected',
    ({ pattern, event, expected }) => {
      // Act
      const matched = matchesEventPattern(pattern, event);

      // Assess
      expect(matched).toBe(expected);
    },
  );
});

describe('matchesEventPattern beyond the guide', () => {
  const event = {
    source: 'liveness-batch',
    detail: { decision: 'REVIEW', liveScore: 0.42, reason: null, tags: ['a', 'b'], nested: [[{ k: 'v' }]] },
  };

  it.each([
    ['null matches a null field', { detail: { reason: [null] } }, true],
    ['a string never matches a number', { detail: { liveScore: ['0.42'] } }, false],
    [
      'exists:false matches below a missing parent',
      { detail: { missing: { deeper: [{ exists: false }] } } },
      true,
    ],
    ['exists:true does not match an object', { detail: [{ exists: true }] }, false],
    ['an event array matches if any element matches', { detail: { tags: ['b'] } }, true],
    ['arrays of arrays of objects are flattened', { detail: { nested: { k: ['v'] } } }, true],
    [
      'anything-but on a missing field does not match',
      { detail: { missing: [{ 'anything-but': 'x' }] } },
      false,
    ],
    ['exact OR exists:false in one array', { detail: { missing: ['x', { exists: false }] } }, true],
    [
      'numeric range is inclusive where asked',
      { detail: { liveScore: [{ numeric: ['>=', 0.42, '<', 1] }] } },
      true,
    ],
    ['wildcard with an escaped backslash', { source: [{ wildcard: 'liveness\\\\*' }] }, false],
  ])('%s', (_name, pattern, expected) => {
    expect(matchesEventPattern(pattern, event)).toBe(expected);
  });
});

describe('pattern validation', () => {
  it.each([
    ['a pattern that is not an object', ['source']],
    ['a leaf that is not an array', { source: 'liveness-batch' }],
    ['an empty array', { source: [] }],
    ['an empty object', { detail: {} }],
    ['an unknown operator', { source: [{ startsWith: 'x' }] }],
    ['two operators in one object', { source: [{ prefix: 'a', suffix: 'b' }] }],
    ['exists with a string', { source: [{ exists: 'yes' }] }],
    ['numeric with an unknown operator', { detail: { n: [{ numeric: ['!=', 1] }] } }],
    ['numeric with two lower bounds', { detail: { n: [{ numeric: ['>', 1, '>=', 2] }] } }],
    ['numeric with an inverted range', { detail: { n: [{ numeric: ['>', 5, '<', 1] }] } }],
    ['consecutive wildcards', { source: [{ wildcard: 'a**b' }] }],
    ['an invalid wildcard escape', { source: [{ wildcard: 'a\\b' }] }],
    ['a cidr that is not a block', { detail: { ip: [{ cidr: '10.0.0.0/33' }] } }],
    ['anything-but with a boolean', { source: [{ 'anything-but': true }] }],
    ['$or with one branch', { $or: [{ source: ['a'] }] }],
    ['a nested array', { source: [['a']] }],
  ])('rejects %s with a clear error', (_name, pattern) => {
    expect(() => compileEventPattern(pattern)).toThrow(InvalidEventPatternError);
  });

  it('names the offending field in the error', () => {
    expect(() => compileEventPattern({ detail: { decision: 'FAILED' } })).toThrow(
      /detail\.decision: a field must hold an array of values or a nested object/,
    );
  });
});
