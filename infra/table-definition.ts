/**
 * The results table's keys and indexes, shared by the CDK stack and the local cloud.
 * Access patterns (docs/design.md): one selfie with its attempts (pk), one batch by state (byBatch),
 * one decision over a date range (byDecisionDate, one partition per decision and day),
 * a vendor reference back to its selfie (byReference), one applicant's checks (bySubject),
 * per-batch counts (an aggregate item).
 */
export const resultsTableDefinition = {
  partitionKey: 'pk',
  sortKey: 'sk',
  timeToLiveAttribute: 'expiresAt',
  indexes: {
    byBatch: { partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
    byDecisionDate: { partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
    byReference: { partitionKey: 'gsi3pk', sortKey: 'sk' },
    /** Every check of one applicant (S3 metadata `subject-id`), by decision time. */
    bySubject: { partitionKey: 'gsi4pk', sortKey: 'gsi4sk' },
  },
} as const;

export type ResultsIndexName = keyof typeof resultsTableDefinition.indexes;
