import { PASSIVE_LIVENESS_VERIFICATION_TYPE } from '../shared/liveness/contract.ts';
import { type Command, parseCommandArgs } from '../toolkit/command.ts';
import { untilInterrupted } from '../toolkit/signals.ts';
import { parseSandboxFlags, SANDBOX_FAULT_HELP, sandboxFaultOptions, sandboxServerOptions } from './flags.ts';
import type { LedgerEntry } from './ledger.ts';
import { SANDBOX_DEFAULT_API_KEY, SANDBOX_DEFAULT_PORT, SANDBOX_DEFAULT_USER_ID } from './options.ts';
import { type RunningSandbox, startSandbox } from './server.ts';

const HELP = `Usage: liveness-batch sandbox [options]

Runs a local HTTP server that speaks the passive liveness vendor's contract (docs/vendor-contract.md),
like a payment provider's test-mode server: strict validation, 401 on wrong credentials, fault switches
and a ledger of every call it would have charged.

IT IS NOT A LIVENESS MODEL. Scores and VERIFIED / NOT VERIFIED are simulated, derived from the image
hash (the SHA-256 of the image bytes) and the seed: the same image always gets the same answer, and
nothing looks at faces.

Endpoints (POST, JSON, headers userid + apiKey):
  /sfx-v4-verify/v4/id-service      current
  /sfx-verify/v3/id-service/        older (also without the trailing slash)
  GET /__sandbox/health             200 when up
  GET /__sandbox/ledger             the charge ledger as a JSON array
  GET /__sandbox/faults             the fault settings in force
  POST /__sandbox/faults            change fault settings while running: a JSON object with any of
                                    latencyMs, pendingRate, errorRate, throttleRate, hangRate, lateRate,
                                    pendingDebitRate, redirectRate, forbiddenRate, redirectTo, e.g.
                                    {"forbiddenRate":1} opens an outage and {"forbiddenRate":0} ends it

Options (each also settable by the env variable shown; flags win):
  --port N                 listen on 127.0.0.1:N (default ${SANDBOX_DEFAULT_PORT}; 0 = any free port)   SANDBOX_PORT
  --user-id U              accepted userid header (default "${SANDBOX_DEFAULT_USER_ID}")            SANDBOX_USER_ID
  --api-key K              accepted apiKey header (default "${SANDBOX_DEFAULT_API_KEY}")             SANDBOX_API_KEY
  --ledger FILE            append one JSON line per request; loaded at start       SANDBOX_LEDGER
${SANDBOX_FAULT_HELP}
  --max-body-bytes N       larger bodies get 400 (default 8 MiB)                   SANDBOX_MAX_BODY_BYTES
  --quiet                  no line per request
  --help                   this text

The fault rates together must not exceed 1. Faults are decided by hash(seed, transactionReference,
call number), so concurrency does not change them; the forbidden window wins over the draw. Faults apply
to requests that pass validation: a wrong key still gets 401, a bad body 400.

The ledger has one JSON line per request: seq, at, transactionReference, sha256 (of the image), httpStatus,
outcome (completed, pending, server_error, throttled, no_answer, redirect, forbidden, refused), charged,
late, fault, replayOf. The charged lines are what the vendor would bill.

Test credentials: userid "${SANDBOX_DEFAULT_USER_ID}", apiKey "${SANDBOX_DEFAULT_API_KEY}" (not secrets).`;

function curlExample(sandbox: RunningSandbox, userId: string, keyShown: boolean): string {
  const key = keyShown ? SANDBOX_DEFAULT_API_KEY : '$SANDBOX_API_KEY';
  return [
    `printf '{"verificationType":"${PASSIVE_LIVENESS_VERIFICATION_TYPE}","transactionReference":"demo-1","selfie":"%s"}' \\`,
    `    "$(base64 -w0 selfie.jpg)" |`,
    `  curl -sS ${sandbox.endpointUrl} -H 'content-type: application/json' \\`,
    `    -H 'userid: ${userId}' -H "apiKey: ${key}" --data-binary @-`,
  ].join('\n');
}

function entryLine(entry: LedgerEntry): string {
  const outcome =
    entry.httpStatus === null
      ? 'no answer (hang)'
      : `${entry.httpStatus} ${entry.verificationStatus ?? entry.responseCode ?? entry.outcome}`;
  const flags = [
    entry.charged ? 'charged' : 'not charged',
    entry.late ? 'late' : '',
    entry.replayOf ? `replay of #${entry.replayOf}` : '',
    entry.fault ?? '',
  ]
    .filter(Boolean)
    .join(', ');
  return `#${entry.seq} ${entry.transactionReference ?? '-'} -> ${outcome.trim()} (${flags})`;
}

const sandboxOptions = {
  ...sandboxServerOptions,
  ...sandboxFaultOptions,
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const sandboxCommand: Command = {
  name: 'sandbox',
  summary: 'Run the local liveness sandbox (the vendor contract with simulated scores; not a liveness model)',
  async run(argv) {
    const { values } = parseCommandArgs(argv, sandboxOptions, false);
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const { given, ...options } = parseSandboxFlags(values);
    const sandbox = await startSandbox({
      port: SANDBOX_DEFAULT_PORT,
      ...options,
      ...(values.quiet ? {} : { onEntry: (entry: LedgerEntry) => console.log(entryLine(entry)) }),
    });
    const userId = options.userId ?? SANDBOX_DEFAULT_USER_ID;
    const keyShown = !given.has('apiKey');
    const o = sandbox.options;
    const latency =
      typeof o.latencyMs === 'number' ? `${o.latencyMs} ms` : `${o.latencyMs.min}-${o.latencyMs.max} ms`;
    console.log(
      [
        'Liveness sandbox running. Scores are SIMULATED from the image hash: this is not a liveness model.',
        `  endpoint (v4): ${sandbox.endpointUrl}`,
        `  endpoint (v3): ${sandbox.legacyEndpointUrl}`,
        `  health:        ${sandbox.baseUrl}/__sandbox/health`,
        `  ledger:        ${sandbox.baseUrl}/__sandbox/ledger${o.ledgerFile ? ` (file ${o.ledgerFile})` : ' (memory only)'}`,
        `  credentials:   userid "${userId}", apiKey ${keyShown ? `"${SANDBOX_DEFAULT_API_KEY}" (test default)` : 'as you supplied it (not shown)'}`,
        `  faults:        latency ${latency}, pending ${o.pendingRate}, pending+debit ${o.pendingDebitRate}, 500 ${o.errorRate}, 429 ${o.throttleRate}, hang ${o.hangRate}, late ${o.lateRate} (after ${o.lateAfterMs} ms), 307 ${o.redirectRate}, 403 ${o.forbiddenRate}${o.forbiddenWindow ? ` (and every call ${o.forbiddenWindow.fromSeconds}-${o.forbiddenWindow.toSeconds} s after start)` : ''}; live ratio ${o.liveRatio}; seed "${o.seed}"${o.chargeFailures ? '; failures charged' : ''}`,
        `  references:    ${o.dedupeReferences ? 'deduplicated (a repeated charged reference is answered again, uncharged)' : 'not deduplicated (every call is charged anew)'}`,
        `  fault control: ${sandbox.baseUrl}/__sandbox/faults (GET, or POST a JSON object to change)`,
        '',
        'Try it:',
        curlExample(sandbox, userId, keyShown),
        '',
        'Ctrl-C to stop.',
      ].join('\n'),
    );
    await untilInterrupted();
    await sandbox.stop();
    console.log('Liveness sandbox stopped.');
    return 0;
  },
};
