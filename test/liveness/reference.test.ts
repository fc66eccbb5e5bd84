import { describe, expect, it } from 'vitest';
import { transactionReferenceFor } from '../../shared/liveness/reference.ts';

describe('transactionReferenceFor', () => {
  const selfieId = 'selfies-bucket/uploads/batch-1/Jane Doe - passport.jpg#v3';

  it('is deterministic, short and URL-safe', () => {
    // Act
    const first = transactionReferenceFor(selfieId, 1);
    const again = transactionReferenceFor(selfieId, 1);

    // Assess
    expect(first).toBe(again);
    expect(first).toMatch(/^lb-[0-9a-f]{24}-1$/);
    expect(encodeURIComponent(first)).toBe(first);
    expect(first.length).toBeLessThanOrEqual(40);
  });

  it('differs per attempt and per selfie, and leaks nothing of the key', () => {
    // Act
    const refs = [
      transactionReferenceFor(selfieId, 1),
      transactionReferenceFor(selfieId, 2),
      transactionReferenceFor(`${selfieId}x`, 1),
    ];

    // Assess
    expect(new Set(refs).size).toBe(3);
    for (const ref of refs) expect(ref.toLowerCase()).not.toMatch(/jane|doe|passport|batch|uploads/);
  });

  it('refuses attempt numbers that are not positive integers', () => {
    // Act / Assess
    for (const attempt of [0, -1, 1.5, Number.NaN]) {
      expect(() => transactionReferenceFor(selfieId, attempt)).toThrow(RangeError);
    }
  });
});
