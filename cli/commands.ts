import type { Command } from '../toolkit/command.ts';

/** The command table. Each entry loads its module only when that command runs, so `--help` starts fast. */
export const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  sandbox: {
    summary:
      'Run the local liveness sandbox (the vendor contract with simulated scores; not a liveness model)',
    load: async () => (await import('../sandbox/command.ts')).sandboxCommand,
  },
  run: {
    summary:
      'Verify a folder of selfies on the local cloud (emulated S3/SQS/DynamoDB + sandbox) and summarise',
    load: async () => (await import('./run.ts')).runCommand,
  },
  up: {
    summary: 'Start the local cloud alone and keep it up; any S3 client can upload into its bucket',
    load: async () => (await import('./up.ts')).upCommand,
  },
  audit: {
    summary:
      'Audit queries: one selfie with its attempts, a batch, a decision over dates, a vendor reference',
    load: async () => (await import('./audit.ts')).auditCommand,
  },
  redrive: {
    summary:
      'Move DLQ messages back to the work queue, or (--failed) re-queue FAILED results; reopens them (--dry-run lists)',
    load: async () => (await import('./redrive.ts')).redriveCommand,
  },
  republish: {
    summary:
      'Publish outcome events again from the results table (--batch, --selfie, --from-failures), with stable event ids',
    load: async () => (await import('./republish.ts')).republishCommand,
  },
  report: {
    summary:
      'Write a self-contained HTML report of a batch: decisions, scores, latency, cost, items to review',
    load: async () => (await import('./report.ts')).reportCommand,
  },
  purge: {
    summary:
      'Delete uploaded selfies past retention (--older-than 30d), recording each deletion; never results',
    load: async () => (await import('./purge.ts')).purgeCommand,
  },
  budget: {
    summary: 'Show or raise a spend cap; raising releases the selfies HELD at the cap, with no re-upload',
    load: async () => (await import('./budget.ts')).budgetCommand,
  },
  reconcile: {
    summary: "Match the vendor's billing statement (CSV) against the recorded calls; exit 1 on discrepancies",
    load: async () => (await import('./reconcile.ts')).reconcileCommand,
  },
  calibrate: {
    summary:
      'APCER/BPCER (ISO/IEC 30107-3) of decided results against labels, the EER and thresholds for a target',
    load: async () => (await import('./calibrate.ts')).calibrateCommand,
  },
  review: {
    summary:
      "A reviewer's web page for REVIEW selfies on 127.0.0.1: approve or decline, one conditional write each",
    load: async () => (await import('./review.ts')).reviewCommand,
  },
};
