import { describe, expect, it } from 'vitest';
import { calibrate } from '../../operations/calibration/calibrate.ts';
import type { LabelledResult } from '../../operations/calibration/labels.ts';
import {
  equalErrorRate,
  errorRates,
  type Label,
  type ScoredSample,
  sweep,
  thresholdFor,
  wilsonInterval,
} from '../../operations/calibration/rates.ts';
import { decide } from '../../shared/decision-policy.ts';
import { seededRandom } from '../../testkit/images.ts';

const scored = (label: Label, ...scores: Array<number | null>): ScoredSample[] =>
  scores.map((score) => ({ label, score }));

describe('wilsonInterval', () => {
  it('matches the published 95% Wilson intervals (Newcombe 1998, table I)', () => {
    // 81/263: 0.2553–0.3662; 15/148: 0.0624–0.1605; 0/20: 0–0.1611; 1/29: 0.0061–0.1718.
    const cases: Array<[number, number, number, number]> = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
    ];
    for (const [k, n, low, high] of cases) {
      const ci = wilsonInterval(k, n);
      expect(ci?.low).toBeCloseTo(low, 4);
      expect(ci?.high).toBeCloseTo(high, 4);
    }
  });

  it('has no interval without presentations', () => {
    expect(wilsonInterval(0, 0)).toBeNull();
  });
});

describe('sweep over a hand-computed set', () => {
  // bona fide live scores 10, 40, 60, 80, 90; attacks 20, 30, 50, 70 and one with no score.
  const samples = [...scored('bona_fide', 10, 40, 60, 80, 90), ...scored('attack', 20, 30, 50, 70, null)];

  it('counts attacks accepted and bona fide rejected at each threshold (accept live >= t)', () => {
    const points = sweep(samples, 'atLeast');
    const at = (t: number) => points.find((p) => p.threshold === t);
    // Thresholds: lowest value, midpoints, one past the highest.
    expect(points.map((p) => p.threshold)).toEqual([10, 15, 25, 35, 45, 55, 65, 75, 85, 91]);
    // t = 10: every scored selfie accepted; the unscored attack is not.
    expect(at(10)?.apcer).toMatchObject({ errors: 4, total: 5, rate: 0.8 });
    expect(at(10)?.bpcer).toMatchObject({ errors: 0, total: 5, rate: 0 });
    // t = 55: attacks accepted 70 (1 of 5); bona fide rejected 10, 40 (2 of 5).
    expect(at(55)?.apcer).toMatchObject({ errors: 1, total: 5, rate: 0.2 });
    expect(at(55)?.bpcer).toMatchObject({ errors: 2, total: 5, rate: 0.4 });
    // t = 75: no attack accepted; bona fide 10, 40, 60 rejected.
    expect(at(75)?.apcer.rate).toBe(0);
    expect(at(75)?.bpcer.rate).toBe(0.6);
    // t = 91: nothing accepted.
    expect(at(91)?.apcer.rate).toBe(0);
    expect(at(91)?.bpcer.rate).toBe(1);
  });

  it('accepts score <= t for a maximum (pop_score)', () => {
    const points = sweep(samples, 'atMost');
    const at = (t: number) => points.find((p) => p.threshold === t);
    expect(points[0]?.threshold).toBe(9);
    // t = 45: attacks 20, 30 accepted (2/5); bona fide 60, 80, 90 rejected (3/5).
    expect(at(45)?.apcer.rate).toBe(0.4);
    expect(at(45)?.bpcer.rate).toBe(0.6);
  });

  it('finds the EER where APCER and BPCER are closest, and the threshold for a target', () => {
    const points = sweep(samples, 'atLeast');
    // t = 45: APCER 2/5 (50, 70), BPCER 2/5 (10, 40): equal.
    expect(equalErrorRate(points)).toEqual({ eer: 0.4, threshold: 45, apcer: 0.4, bpcer: 0.4 });
    // BPCER <= 20%: t in {10, 15, 25, 35} (BPCER 0 or 1/5); the lowest APCER among them is t = 35 (50 and 70: 2/5).
    const forBpcer = thresholdFor(points, { maxBpcer: 0.2 });
    expect(forBpcer?.threshold).toBe(35);
    expect(forBpcer?.apcer.rate).toBe(0.4);
    // APCER 0: t = 75 is the lowest BPCER (0.6) that accepts no attack.
    expect(thresholdFor(points, { maxApcer: 0 })?.threshold).toBe(75);
    // A target nothing meets: BPCER < 0 is impossible.
    expect(thresholdFor(points, { maxBpcer: -1 })).toBeNull();
  });
});

describe('errorRates of an accept rule', () => {
  it('counts accepted attacks and rejected bona fide, with Wilson intervals', () => {
    const samples = [...scored('bona_fide', 1, 1, 0), ...scored('attack', 1, 0, 0, 0)];
    const rates = errorRates(samples, (s) => s.score === 1);
    expect(rates.apcer).toMatchObject({ errors: 1, total: 4, rate: 0.25 });
    expect(rates.bpcer).toMatchObject({ errors: 1, total: 3 });
    expect(rates.apcer.ci95).toEqual(wilsonInterval(1, 4));
  });
});

/**
 * A generated set whose true rates at t = 50 are fixed by construction: exactly 37 of 1,000 bona fide
 * scores fall below 50 and exactly 12 of 800 attack scores at or above it; everything else random.
 */
function generated(seed: number) {
  const random = seededRandom(seed);
  const between = (lo: number, hi: number) => lo + random() * (hi - lo);
  const samples: ScoredSample[] = [];
  for (let i = 0; i < 1000; i++)
    samples.push({ label: 'bona_fide', score: i < 37 ? between(0, 50) : between(50, 100) });
  for (let i = 0; i < 800; i++)
    samples.push({ label: 'attack', score: i < 12 ? between(50, 100) : between(0, 50) });
  // Shuffle (Fisher–Yates), so order cannot matter.
  for (let i = samples.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [samples[i], samples[j]] = [samples[j] as ScoredSample, samples[i] as ScoredSample];
  }
  return samples;
}

describe('a larger generated set with a fixed seed', () => {
  it('gives exactly the constructed APCER and BPCER at t = 50', () => {
    const samples = generated(20261202);
    const rates = errorRates(samples, (s) => s.score !== null && s.score >= 50);
    expect(rates.apcer).toMatchObject({ errors: 12, total: 800, rate: 12 / 800 });
    expect(rates.bpcer).toMatchObject({ errors: 37, total: 1000, rate: 37 / 1000 });
  });

  it('sweeps to the same counts as checking every sample at every threshold', () => {
    const samples = generated(7);
    const points = sweep(samples, 'atLeast');
    expect(points).toHaveLength(1800 + 1);
    for (const p of points.filter((_, i) => i % 97 === 0)) {
      const brute = errorRates(samples, (s) => s.score !== null && s.score >= p.threshold);
      expect(p.apcer.errors).toBe(brute.apcer.errors);
      expect(p.bpcer.errors).toBe(brute.bpcer.errors);
    }
    // Separated at 50 by construction (up to 49 errors), so the EER is at most 49 / 800.
    expect(equalErrorRate(points)?.eer).toBeLessThan(49 / 800);
  });
});

describe('calibrate: the pipeline rule', () => {
  function results(seed: number): LabelledResult[] {
    const random = seededRandom(seed);
    return Array.from({ length: 400 }, (_, i) => {
      const label: Label = random() < 0.5 ? 'attack' : 'bona_fide';
      const live = Math.round(random() * 1000) / 10;
      return {
        selfieId: `s3://b/k${i}`,
        key: `k${i}`,
        label,
        decision: 'VERIFIED',
        vendorStatus: random() < 0.7 ? 'VERIFIED' : 'NOT VERIFIED',
        liveScore: random() < 0.05 ? null : live,
        popScore: random() < 0.05 ? null : Math.round((100 - live + (random() - 0.5) * 20) * 10) / 10,
      };
    });
  }

  /** Every 23rd point of a curve has the error counts of running decide() at its threshold on every sample. */
  function expectSweepMatchesDecide(
    samples: ReturnType<typeof results>,
    curve:
      | {
          id: string;
          points: Array<{ threshold: number; apcer: { errors: number }; bpcer: { errors: number } }>;
        }
      | undefined,
    thresholdsAt: (threshold: number) => { minLiveScore: number; maxPopScore: number },
  ) {
    expect(curve?.points.length).toBeGreaterThan(0);
    for (const p of curve?.points.filter((_, i) => i % 23 === 0) ?? []) {
      const brute = errorRates(
        samples,
        (s) =>
          decide(
            { status: s.vendorStatus, liveScore: s.liveScore, popScore: s.popScore },
            thresholdsAt(p.threshold),
          ).decision === 'VERIFIED',
      );
      expect([p.apcer.errors, p.bpcer.errors]).toEqual([brute.apcer.errors, brute.bpcer.errors]);
    }
  }

  it('sweeps min-live-score with the same rates as running decide() at each threshold', () => {
    const samples = results(11);
    const c = calibrate(samples, { maxPopScore: 60 });
    expectSweepMatchesDecide(
      samples,
      c.curves.find((x) => x.id === 'combined_min_live'),
      (threshold) => ({ minLiveScore: threshold, maxPopScore: 60 }),
    );
  });

  it('sweeps max-pop-score the same way, holding min-live-score', () => {
    const samples = results(12);
    const c = calibrate(samples, { minLiveScore: 40 });
    expectSweepMatchesDecide(
      samples,
      c.curves.find((x) => x.id === 'combined_max_pop'),
      (threshold) => ({ minLiveScore: 40, maxPopScore: threshold }),
    );
  });

  it('prints a met target as run/up flags and stack props, holding the other threshold', () => {
    const samples: LabelledResult[] = [
      ...[70, 80, 90].map((live, i) => ({ live, label: 'bona_fide' as Label, i })),
      ...[20, 60, 85].map((live, i) => ({ live, label: 'attack' as Label, i: i + 3 })),
    ].map(({ live, label, i }) => ({
      selfieId: `s${i}`,
      key: `k${i}`,
      label,
      decision: 'VERIFIED',
      vendorStatus: 'VERIFIED' as const,
      liveScore: live,
      popScore: 10,
    }));
    const c = calibrate(samples, { minLiveScore: 50, maxPopScore: 30 }, { maxBpcer: 0 });
    // At the current thresholds: attacks 60 and 85 accepted (2/3), no bona fide rejected.
    expect(c.current.apcer).toMatchObject({ errors: 2, total: 3 });
    expect(c.current.bpcer).toMatchObject({ errors: 0, total: 3 });
    // BPCER 0 keeps t <= 70; the lowest APCER there is t = 65 (only 85 accepted).
    const rec = c.recommendations.find((r) => r.curve === 'combined_min_live');
    expect(rec?.threshold).toBe(65);
    expect(rec?.rates.apcer.errors).toBe(1);
    expect(rec?.flags).toBe('--min-live-score 65 --max-pop-score 30');
    expect(rec?.props).toBe('-c minLiveScore=65 -c maxPopScore=30');
    expect(c.recommendations.find((r) => r.curve === 'live_score')?.flags).toBeUndefined();
  });
});
