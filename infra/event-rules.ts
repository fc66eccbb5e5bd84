import { pipelineSettings } from '../shared/settings.ts';

/** Where a rule delivers. The CDK stack maps each to an SQS queue; the local bus to a local queue. */
export type RuleTarget = 'reviewQueue' | 'opsQueue';

export interface OutcomeRule {
  /** Also the rule's name on AWS. */
  id: string;
  description: string;
  target: RuleTarget;
  /** An EventBridge event pattern: the same object is deployed by CDK and matched by the local bus. */
  pattern: Record<string, unknown>;
}

const outcomeEvents = {
  source: [pipelineSettings.events.source],
  'detail-type': [pipelineSettings.events.detailType],
};

export const outcomeRules: readonly OutcomeRule[] = [
  {
    id: 'needs-human-review',
    description: 'A selfie that failed liveness or whose scores disagree with the vendor status',
    target: 'reviewQueue',
    pattern: { ...outcomeEvents, detail: { decision: ['NOT_VERIFIED', 'REVIEW'] } },
  },
  {
    id: 'operational-failure',
    description:
      'A selfie rejected in preflight or that could not be verified (vendor errors, retries exhausted)',
    target: 'opsQueue',
    pattern: { ...outcomeEvents, detail: { decision: ['FAILED', 'REJECTED'] } },
  },
];
