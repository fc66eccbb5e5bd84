import { UsageError } from '../toolkit/command.ts';
import { commands } from './commands.ts';

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length), 8);
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'liveness-batch: batch passive-liveness verification of selfies (S3 -> SQS -> Lambda -> DynamoDB -> EventBridge)',
    '',
    'Usage: liveness-batch <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `liveness-batch <command> --help` for the options of one command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const entry = commands[name];
  if (!entry) {
    console.error(`Unknown command '${name}'.\n\n${usage()}`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${error.message}\nRun \`liveness-batch ${name} --help\` for usage.`);
      return 2;
    }
    console.error(`liveness-batch ${name}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
