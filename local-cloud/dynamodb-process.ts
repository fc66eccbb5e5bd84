import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type DynamoDbLocal, type DynamoDbLocalOptions, startDynamoDbLocal } from './dynamodb-local.ts';
import { isProcessAlive } from './state-dir.ts';

/**
 * DynamoDB Local runs as a java child process. A host killed with SIGKILL cannot stop it, so the
 * child's pid is written to the state folder and the next host stops that orphan (and only it: the
 * pid must still be a DynamoDBLocal.jar serving this same folder) before opening the database.
 */
export async function startFileBackedDynamoDb(
  dbPath: string,
  pidFile: string,
  options: Pick<DynamoDbLocalOptions, 'shortRun'> = {},
): Promise<DynamoDbLocal> {
  await stopOrphanedDynamoDb(dbPath, pidFile);
  // The pid is on disk before DynamoDB Local answers, so a host killed during start-up leaves no orphan.
  const dynamodb = await startDynamoDbLocal({
    ...options,
    dbPath,
    onSpawn: (pid) => writeFileSync(pidFile, String(pid)),
  });
  const { pid } = dynamodb;
  // Covers every exit but SIGKILL (uncaught errors, process.exit): the child never outlives the host.
  const killOnExit = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  process.once('exit', killOnExit);
  return {
    ...dynamodb,
    async stop() {
      await stopProcess(pid);
      process.off('exit', killOnExit);
      rmSync(pidFile, { force: true });
    },
  };
}

function commandLineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function servesFolder(args: string[], dbPath: string): boolean {
  const at = args.indexOf('-dbPath');
  return args.some((a) => a.endsWith('DynamoDBLocal.jar')) && at >= 0 && args[at + 1] === dbPath;
}

async function stopOrphanedDynamoDb(dbPath: string, pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (Number.isInteger(pid) && pid > 0 && isProcessAlive(pid) && servesFolder(commandLineOf(pid), dbPath)) {
    await stopProcess(pid);
  }
  rmSync(pidFile, { force: true });
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
async function stopProcess(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 5000;
  while (isProcessAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isProcessAlive(pid)) await sleep(50);
}
