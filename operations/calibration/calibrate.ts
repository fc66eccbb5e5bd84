import { type DecisionThresholds, decide } from '../../shared/decision-policy.ts';
import type { LabelledResult } from './labels.ts';
import {
  type Direction,
  type EqualErrorRate,
  type ErrorRates,
  equalErrorRate,
  errorRates,
  type SweepPoint,
  sweep,
  type Target,
  thresholdFor,
} from './rates.ts';

/** A threshold sweep: one score varied, the rest of the rule as it stands. */
export interface Curve {
  id: 'live_score' | 'combined_min_live' | 'combined_max_pop';
  title: string;
  /** The pipeline flag this curve's threshold is passed as (absent: a score alone, not a rule the pipeline runs). */
  flag?: '--min-live-score' | '--max-pop-score';
  prop?: 'minLiveScore' | 'maxPopScore';
  direction: Direction;
  points: SweepPoint[];
  eer: EqualErrorRate | null;
}

export interface Recommendation {
  curve: Curve['id'];
  threshold: number;
  rates: ErrorRates;
  /** Ready to paste: CLI flags for `run`/`up`, and the stack props (`-c key=value`). */
  flags?: string;
  props?: string;
}

export interface Calibration {
  counts: { bonaFide: number; attack: number };
  thresholds: DecisionThresholds;
  /** The rates of the decisions the pipeline recorded (VERIFIED counts as accepted). */
  recorded: ErrorRates;
  /** The rates the combined rule gives at `thresholds` (equal to `recorded` when those were in force). */
  current: ErrorRates;
  curves: Curve[];
  target?: Target;
  recommendations: Recommendation[];
}

/**
 * Thresholds printed with a bounded number of decimals; rounding toward the safe side would need the
 * neighbouring score, so they are printed exactly as swept (midpoints of observed scores).
 */
export function formatThreshold(t: number): string {
  return String(Number(t.toFixed(6)));
}

const isVerified = (s: LabelledResult, thresholds: DecisionThresholds) =>
  decide({ status: s.vendorStatus, liveScore: s.liveScore, popScore: s.popScore }, thresholds).decision ===
  'VERIFIED';

/**
 * Everything `calibrate` reports, from labelled results. The combined rule is the pipeline's own
 * (`decide` in shared/decision-policy.ts): VERIFIED needs the vendor's VERIFIED and both thresholds.
 * Sweeping one of its thresholds with the other held reduces to a one-score sweep in which the
 * selfies that fail the held part have no score (never accepted); the unit tests check this
 * against `decide` itself.
 */
export function calibrate(
  samples: readonly LabelledResult[],
  thresholds: DecisionThresholds,
  target?: Target,
): Calibration {
  const { minLiveScore, maxPopScore } = thresholds;
  const passesPop = (s: LabelledResult) =>
    maxPopScore === undefined || (s.popScore !== null && s.popScore <= maxPopScore);
  const passesLive = (s: LabelledResult) =>
    minLiveScore === undefined || (s.liveScore !== null && s.liveScore >= minLiveScore);
  const curve = (
    id: Curve['id'],
    title: string,
    direction: Direction,
    score: (s: LabelledResult) => number | null,
    flag?: Curve['flag'],
  ): Curve => {
    const points = sweep(
      samples.map((s) => ({ label: s.label, score: score(s) })),
      direction,
    );
    return {
      id,
      title,
      direction,
      points,
      eer: equalErrorRate(points),
      ...(flag ? { flag, prop: flag === '--min-live-score' ? 'minLiveScore' : 'maxPopScore' } : {}),
    };
  };
  const curves = [
    curve('live_score', 'live_score alone (accept when live_score ≥ t)', 'atLeast', (s) => s.liveScore),
    curve(
      'combined_min_live',
      `pipeline rule, min-live-score t${maxPopScore === undefined ? '' : `, max-pop-score ${maxPopScore}`}`,
      'atLeast',
      (s) => (s.vendorStatus === 'VERIFIED' && passesPop(s) ? s.liveScore : null),
      '--min-live-score',
    ),
    curve(
      'combined_max_pop',
      `pipeline rule, max-pop-score t${minLiveScore === undefined ? '' : `, min-live-score ${minLiveScore}`}`,
      'atMost',
      (s) => (s.vendorStatus === 'VERIFIED' && passesLive(s) ? s.popScore : null),
      '--max-pop-score',
    ),
  ];
  const recommendations: Recommendation[] = [];
  if (target) {
    for (const c of curves) {
      const point = thresholdFor(c.points, target);
      if (!point) continue;
      const t = formatThreshold(point.threshold);
      const held =
        c.id === 'combined_min_live'
          ? maxPopScore === undefined
            ? undefined
            : { flag: '--max-pop-score', prop: 'maxPopScore', value: maxPopScore }
          : c.id === 'combined_max_pop' && minLiveScore !== undefined
            ? { flag: '--min-live-score', prop: 'minLiveScore', value: minLiveScore }
            : undefined;
      recommendations.push({
        curve: c.id,
        threshold: point.threshold,
        rates: { apcer: point.apcer, bpcer: point.bpcer },
        ...(c.flag && c.prop
          ? {
              flags: [`${c.flag} ${t}`, ...(held ? [`${held.flag} ${held.value}`] : [])].join(' '),
              props: [`-c ${c.prop}=${t}`, ...(held ? [`-c ${held.prop}=${held.value}`] : [])].join(' '),
            }
          : {}),
      });
    }
  }
  return {
    counts: {
      bonaFide: samples.filter((s) => s.label === 'bona_fide').length,
      attack: samples.filter((s) => s.label === 'attack').length,
    },
    thresholds,
    recorded: errorRates(samples, (s) => s.decision === 'VERIFIED'),
    current: errorRates(samples, (s) => isVerified(s, thresholds)),
    curves,
    ...(target ? { target } : {}),
    recommendations,
  };
}
