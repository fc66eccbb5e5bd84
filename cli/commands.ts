import type { Command } from './command.ts';

/** The command table. Each entry loads its module only when that command runs, so `--help` starts fast. */
export const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  sandbox: {
    summary:
      'Run the local liveness sandbox (the vendor contract with simulated scores; not a liveness model)',
    load: async () => (await import('../sandbox/command.ts')).sandboxCommand,
  },
};
