import type { Decision } from './decision.ts';

/** Optional score thresholds. Without them the pipeline follows the vendor's status. */
export interface DecisionThresholds {
  /** A VERIFIED selfie with live_score below this goes to REVIEW. */
  minLiveScore?: number;
  /** A VERIFIED selfie with pop_score above this goes to REVIEW. */
  maxPopScore?: number;
}

export interface VendorVerdict {
  /** The vendor's verificationStatus, verbatim. */
  status: 'VERIFIED' | 'NOT VERIFIED';
  liveScore: number | null;
  popScore: number | null;
}

/**
 * The vendor documents "high live_score with low pop_score means live", yet its own sample says
 * VERIFIED with live 1.175 / pop 98.825. So the status is followed by default, and a status that
 * disagrees with the configured thresholds is sent to a human (REVIEW) with the reason spelled out.
 */
export function decide(
  verdict: VendorVerdict,
  thresholds: DecisionThresholds,
): { decision: Decision; reason: string } {
  const { minLiveScore, maxPopScore } = thresholds;
  const problems: string[] = [];
  if (minLiveScore !== undefined) {
    if (verdict.liveScore === null) problems.push('live_score missing');
    else if (verdict.liveScore < minLiveScore)
      problems.push(`live_score ${verdict.liveScore} < ${minLiveScore}`);
  }
  if (maxPopScore !== undefined) {
    if (verdict.popScore === null) problems.push('pop_score missing');
    else if (verdict.popScore > maxPopScore) problems.push(`pop_score ${verdict.popScore} > ${maxPopScore}`);
  }
  const thresholdsSet = minLiveScore !== undefined || maxPopScore !== undefined;

  if (verdict.status === 'VERIFIED') {
    if (problems.length > 0) {
      return { decision: 'REVIEW', reason: `vendor said VERIFIED but ${problems.join(' and ')}` };
    }
    return { decision: 'VERIFIED', reason: 'vendor verificationStatus VERIFIED' };
  }
  if (thresholdsSet && problems.length === 0) {
    return {
      decision: 'REVIEW',
      reason: `vendor said NOT VERIFIED but scores pass the thresholds (live_score ${verdict.liveScore}, pop_score ${verdict.popScore})`,
    };
  }
  return { decision: 'NOT_VERIFIED', reason: 'vendor verificationStatus NOT VERIFIED' };
}
