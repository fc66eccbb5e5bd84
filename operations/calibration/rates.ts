/**
 * Presentation-attack error rates in ISO/IEC 30107-3 terms, as pure functions over labelled samples.
 *
 * - APCER: the share of attack presentations the pipeline accepted (decision VERIFIED).
 * - BPCER: the share of bona fide presentations it did not accept (anything but VERIFIED: a REVIEW
 *   sends a live person to a human, which is a rejection of the automatic path).
 *
 * Each rate carries its counts and a 95% Wilson score interval: unlike the normal approximation it
 * stays inside [0, 1] and is usable at 0 errors and at the small counts a labelled set usually has.
 */

export const LABELS = ['bona_fide', 'attack'] as const;
export type Label = (typeof LABELS)[number];

/** z for a two-sided 95% interval. */
const Z95 = 1.959963984540054;

export interface Interval {
  low: number;
  high: number;
}

export interface Rate {
  /** Presentations misclassified: attacks accepted (APCER) or bona fide rejected (BPCER). */
  errors: number;
  /** Presentations of that kind. */
  total: number;
  /** errors / total; null when there are none of that kind. */
  rate: number | null;
  /** The 95% Wilson score interval; null when total is 0. */
  ci95: Interval | null;
}

export interface ErrorRates {
  apcer: Rate;
  bpcer: Rate;
}

/** The 95% Wilson score interval for `errors` out of `total`. */
export function wilsonInterval(errors: number, total: number, z = Z95): Interval | null {
  if (total <= 0) return null;
  const p = errors / total;
  const z2 = z * z;
  const denominator = 1 + z2 / total;
  const centre = (p + z2 / (2 * total)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total));
  // Clamp the rounding noise at the edges (0 errors gives exactly 0 in exact arithmetic).
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export function rateOf(errors: number, total: number): Rate {
  return { errors, total, rate: total > 0 ? errors / total : null, ci95: wilsonInterval(errors, total) };
}

/** APCER and BPCER of any accept rule (true = the pipeline would decide VERIFIED). */
export function errorRates<T extends { label: Label }>(
  samples: readonly T[],
  accepts: (s: T) => boolean,
): ErrorRates {
  let attacks = 0;
  let attacksAccepted = 0;
  let bonaFide = 0;
  let bonaFideRejected = 0;
  for (const sample of samples) {
    const accepted = accepts(sample);
    if (sample.label === 'attack') {
      attacks++;
      if (accepted) attacksAccepted++;
    } else {
      bonaFide++;
      if (!accepted) bonaFideRejected++;
    }
  }
  return { apcer: rateOf(attacksAccepted, attacks), bpcer: rateOf(bonaFideRejected, bonaFide) };
}

/**
 * How a score is compared with its threshold: `atLeast` accepts score >= t (live_score, a minimum),
 * `atMost` accepts score <= t (pop_score, a maximum). A missing score (null) is never accepted, as
 * the pipeline's decision rule sends it to REVIEW once a threshold is set.
 */
export type Direction = 'atLeast' | 'atMost';

export interface ScoredSample {
  label: Label;
  score: number | null;
}

export interface SweepPoint extends ErrorRates {
  threshold: number;
}

/**
 * The candidate thresholds of a score: the lowest and highest observed values (accept every scored
 * sample at one end), the midpoints between neighbouring values (a margin either side, which is what
 * one would deploy), and one step past the far end (accept none).
 */
export function candidateThresholds(scores: readonly number[], direction: Direction): number[] {
  const values = [...new Set(scores)].sort((a, b) => a - b);
  if (values.length === 0) return [];
  const first = values[0] as number;
  const last = values[values.length - 1] as number;
  const midpoints = values.slice(1).map((v, i) => ((values[i] as number) + v) / 2);
  return direction === 'atLeast' ? [first, ...midpoints, last + 1] : [first - 1, ...midpoints, last];
}

/** How many of the sorted values satisfy the rule at t (binary search). */
function countAccepted(sorted: readonly number[], t: number, direction: Direction): number {
  // First index whose value is >= t (atLeast) or > t (atMost).
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid] as number;
    if (direction === 'atLeast' ? v < t : v <= t) lo = mid + 1;
    else hi = mid;
  }
  return direction === 'atLeast' ? sorted.length - lo : lo;
}

/**
 * APCER and BPCER at every candidate threshold of one score, in threshold order, in O(n log n).
 * Samples with a null score count in the totals and are never accepted.
 */
export function sweep(samples: readonly ScoredSample[], direction: Direction): SweepPoint[] {
  const attackScores: number[] = [];
  const bonaFideScores: number[] = [];
  let attacks = 0;
  let bonaFide = 0;
  for (const s of samples) {
    if (s.label === 'attack') attacks++;
    else bonaFide++;
    if (s.score === null) continue;
    (s.label === 'attack' ? attackScores : bonaFideScores).push(s.score);
  }
  attackScores.sort((a, b) => a - b);
  bonaFideScores.sort((a, b) => a - b);
  return candidateThresholds([...attackScores, ...bonaFideScores], direction).map((threshold) => ({
    threshold,
    apcer: rateOf(countAccepted(attackScores, threshold, direction), attacks),
    bpcer: rateOf(bonaFide - countAccepted(bonaFideScores, threshold, direction), bonaFide),
  }));
}

export interface EqualErrorRate {
  /** The mean of APCER and BPCER at the threshold where they are closest. */
  eer: number;
  threshold: number;
  apcer: number;
  bpcer: number;
}

/** The equal error rate of a sweep: where APCER and BPCER are closest (null without both kinds). */
export function equalErrorRate(points: readonly SweepPoint[]): EqualErrorRate | null {
  let best: EqualErrorRate | null = null;
  let bestGap = Number.POSITIVE_INFINITY;
  for (const p of points) {
    if (p.apcer.rate === null || p.bpcer.rate === null) continue;
    const gap = Math.abs(p.apcer.rate - p.bpcer.rate);
    if (gap < bestGap) {
      bestGap = gap;
      best = {
        eer: (p.apcer.rate + p.bpcer.rate) / 2,
        threshold: p.threshold,
        apcer: p.apcer.rate,
        bpcer: p.bpcer.rate,
      };
    }
  }
  return best;
}

export type Target = { maxBpcer: number } | { maxApcer: number };

/**
 * The threshold that meets a target on one rate with the lowest other rate: with `maxBpcer`, the
 * lowest APCER among thresholds whose BPCER is at most the target (ties: the lower BPCER); the mirror
 * with `maxApcer`. Null when no threshold meets it.
 */
export function thresholdFor(points: readonly SweepPoint[], target: Target): SweepPoint | null {
  const [bound, other] =
    'maxBpcer' in target
      ? ([(p: SweepPoint) => p.bpcer.rate, (p: SweepPoint) => p.apcer.rate] as const)
      : ([(p: SweepPoint) => p.apcer.rate, (p: SweepPoint) => p.bpcer.rate] as const);
  const limit = 'maxBpcer' in target ? target.maxBpcer : target.maxApcer;
  let best: SweepPoint | null = null;
  for (const p of points) {
    const b = bound(p);
    const o = other(p);
    if (b === null || o === null || b > limit) continue;
    if (!best || o < (other(best) as number) || (o === other(best) && b < (bound(best) as number))) best = p;
  }
  return best;
}
