import { describe, expect, it } from 'vitest';
import { defaultPreflightLimits, preflightLimitsFrom } from '../../shared/preflight/limits.ts';

describe('preflight limits', () => {
  it('has documented defaults', () => {
    // Prepare / Act / Assess
    expect(defaultPreflightLimits).toEqual({
      maxBytes: 5 * 1024 * 1024,
      maxPixels: 40_000_000,
      minWidth: 100,
      minHeight: 100,
      maxLongSide: 1280,
      jpegQuality: 90,
    });
  });

  it('ignores undefined overrides, as an unset environment variable delivers them', () => {
    // Prepare / Act
    const limits = preflightLimitsFrom({
      maxBytes: undefined,
      maxPixels: 10_000_000,
      maxLongSide: undefined,
    });

    // Assess
    expect(limits).toEqual({ ...defaultPreflightLimits, maxPixels: 10_000_000 });
  });

  it('lets minSide set both minimums, and explicit minimums win over it', () => {
    // Prepare / Act
    const both = preflightLimitsFrom({ minSide: 600 });
    const mixed = preflightLimitsFrom({ minSide: 600, minHeight: 800 });

    // Assess
    expect([both.minWidth, both.minHeight]).toEqual([600, 600]);
    expect([mixed.minWidth, mixed.minHeight]).toEqual([600, 800]);
  });

  it('refuses invalid limits, naming each bad field', () => {
    // Prepare / Act / Assess
    expect(() => preflightLimitsFrom({ maxBytes: -1 })).toThrow(/maxBytes/);
    expect(() => preflightLimitsFrom({ jpegQuality: 101 })).toThrow(/jpegQuality/);
    expect(() => preflightLimitsFrom({ maxPixels: 1.5 })).toThrow(/maxPixels/);
    expect(() => preflightLimitsFrom({ minSide: 2000 })).toThrow(/maxLongSide/);
  });

  it('does not let a caller change the shared defaults', () => {
    // Prepare / Act / Assess
    expect(Object.isFrozen(defaultPreflightLimits)).toBe(true);
  });
});
