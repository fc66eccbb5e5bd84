import { z } from 'zod';
import { raiseSpendCap } from '../operations/spend-cap.ts';
import { type BudgetScope, SpendBudget } from '../shared/results/spend-budget.ts';
import { type Command, UsageError } from '../toolkit/command.ts';
import { type OpsIo, parseFlags, parseOpsArgs, printHelp, processIo } from './ops/io.ts';
import { openTarget, targetHelp } from './ops/target.ts';

const HELP = `Usage: liveness-batch budget (--batch B | --day YYYY-MM-DD) [--max-paid-calls N] [where]

Shows or raises a spend cap. Every vendor call that may cost money (paid, or sent without a readable
answer) takes one unit of the cap before it is made; at the cap, selfies wait as HELD: not failed,
not lost. \`run\`/\`up --max-paid-calls N\` cap each batch; the stack's maxPaidCallsPerDay caps each
UTC day.

Without --max-paid-calls: prints what is spent. With it: raises the cap to N (the higher of N and the
configured cap applies) and sends the batch's HELD selfies back to the work queue at once, with no
re-upload. With --day, held selfies resume at their next look (within 5 minutes).

Options:
  --batch B                the batch's cap (the local cloud's --max-paid-calls)
  --day YYYY-MM-DD         a day's cap (the stack's maxPaidCallsPerDay), UTC
  --max-paid-calls N       the new cap
  --help, -h               this text

${targetHelp('queues')}`;

const flagsSchema = z
  .object({
    batch: z.string().trim().min(1, '--batch must name a batch').optional(),
    day: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, '--day must be a UTC date, e.g. --day 2026-12-02')
      .optional(),
    'max-paid-calls': z
      .string()
      .regex(/^\d+$/, '--max-paid-calls must be a whole number, e.g. --max-paid-calls 500')
      .transform(Number)
      .pipe(z.number().int().min(1, '--max-paid-calls must be at least 1'))
      .optional(),
  })
  .refine((f) => (f.batch === undefined) !== (f.day === undefined), {
    message: 'Name one cap: --batch B (the local cloud) or --day YYYY-MM-DD (the stack)',
  });

export async function runBudget(argv: string[], io: OpsIo = processIo()): Promise<number> {
  const { values } = parseOpsArgs(argv, {
    batch: { type: 'string' },
    day: { type: 'string' },
    'max-paid-calls': { type: 'string' },
  });
  if (values.help) return printHelp(io, HELP);
  const flags = parseFlags(flagsSchema, values);
  const scope: BudgetScope = flags.batch
    ? { kind: 'batch', batchId: flags.batch }
    : { kind: 'day', day: flags.day as string };
  const target = await openTarget(values, 'queues', io.deps);
  try {
    const limit = flags['max-paid-calls'];
    if (limit === undefined) {
      const state = await new SpendBudget(target.db, target.tableName).read(scope);
      io.stdout.write(
        `${state.scope}: ${state.spent} call(s) that may cost money${state.raisedLimit ? `, cap raised to ${state.raisedLimit}` : ''}\n`,
      );
      return 0;
    }
    if (scope.kind === 'batch' && (!target.sqs || !target.workQueueUrl)) {
      throw new UsageError(
        'Raising a batch cap re-queues its held selfies: it needs the work queue (a running `up`, or --stack)',
      );
    }
    const { budget, requeued } = await raiseSpendCap(target, scope, limit);
    io.stdout.write(
      `${budget.scope}: cap raised to ${limit} (${budget.spent} spent); ${
        scope.kind === 'batch'
          ? `${requeued} held selfie(s) sent back to the work queue`
          : 'held selfies resume within 5 minutes'
      }\n`,
    );
    return 0;
  } finally {
    await target.close();
  }
}

export const budgetCommand: Command = {
  name: 'budget',
  summary: 'Show or raise a spend cap; raising releases the selfies HELD at the cap, with no re-upload',
  run: (argv) => runBudget(argv),
};
