import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { PASSIVE_LIVENESS_VERIFICATION_TYPE } from '../shared/liveness/contract.ts';
import { safeDetail } from '../shared/liveness/redact.ts';
import {
  type Answer,
  completedAnswer,
  errorAnswer,
  forbiddenAnswer,
  internalErrorAnswer,
  pendingAnswer,
  redirectAnswer,
  SANDBOX_CODES,
} from './answers.ts';
import { ChargeLedger, type LedgerEntry, type LedgerOutcome, type NewLedgerEntry } from './ledger.ts';
import {
  type FaultSettings,
  faultSettingsShape,
  type ResolvedSandboxOptions,
  resolveSandboxOptions,
  SANDBOX_HOST,
  type SandboxOptions,
  sandboxOptionsSchema,
} from './options.ts';
import {
  type Fault,
  faultFor,
  generatedReferenceFor,
  latencyFor,
  scoresFor,
  verdictFor,
} from './outcomes.ts';
import { decodeProblem, decodeStrictBase64, detectImageFormat } from './validate.ts';

export type { LedgerEntry } from './ledger.ts';

/** The two documented endpoint paths (each also answered with or without a trailing slash). */
export const SANDBOX_V4_PATH = '/sfx-v4-verify/v4/id-service';
export const SANDBOX_V3_PATH = '/sfx-verify/v3/id-service/';
export const SANDBOX_HEALTH_PATH = '/__sandbox/health';
export const SANDBOX_LEDGER_PATH = '/__sandbox/ledger';
export const SANDBOX_FAULTS_PATH = '/__sandbox/faults';

export interface StartSandboxOptions extends SandboxOptions {
  /** Called with each ledger entry as it is written (e.g. a one-line console summary). */
  onEntry?: (entry: LedgerEntry) => void;
}

export interface RunningSandbox {
  /** http://127.0.0.1:<port> */
  baseUrl: string;
  /** The full current (v4) endpoint URL. */
  endpointUrl: string;
  /** The full older (v3) endpoint URL. */
  legacyEndpointUrl: string;
  port: number;
  /** The settings in force now (fault settings change with `setFaults`). */
  readonly options: Readonly<Omit<ResolvedSandboxOptions, 'apiKey'>>;
  /**
   * Changes fault settings at runtime, as `POST /__sandbox/faults` does (e.g. `{ forbiddenRate: 1 }` opens
   * an outage, `{ forbiddenRate: 0 }` ends it). Throws RangeError, changing nothing, when the result is invalid.
   */
  setFaults(changes: FaultSettings): FaultSettings;
  ledger(): LedgerEntry[];
  /** Closes promptly: hanging and keep-alive connections are destroyed, not waited for. */
  stop(): Promise<void>;
}

const DECODE_CACHE_SIZE = 10_000;

type BodyRead = { kind: 'ok'; body: Buffer } | { kind: 'too_large' } | { kind: 'aborted' };

/** Reads the body up to `limit`; beyond it, keeps draining (so the client sees the 400) up to a hard cap. */
function readBody(req: IncomingMessage, limit: number, keep: boolean): Promise<BodyRead> {
  return new Promise((resolve) => {
    const hardCap = Math.max(limit * 4, 16 * 1024 * 1024);
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number(req.headers['content-length']) > limit;
    let settled = false;
    const settle = (result: BodyRead) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (size > hardCap) {
        req.destroy();
        settle({ kind: 'aborted' });
        return;
      }
      if (keep && !tooLarge) chunks.push(chunk);
    });
    req.on('end', () =>
      settle(tooLarge ? { kind: 'too_large' } : { kind: 'ok', body: Buffer.concat(chunks) }),
    );
    req.on('error', () => settle({ kind: 'aborted' }));
    req.on('close', () => settle({ kind: 'aborted' }));
  });
}

function headerValue(value: string | string[] | undefined): string {
  return typeof value === 'string' ? value : '';
}

/** Fault settings as a test sends them at runtime; unknown names are refused, not ignored. */
const faultSettingsSchema = z.strictObject(faultSettingsShape).partial();

/** The ledger's copy of what an answer said. */
function answerFields(answer: Answer) {
  const json = typeof answer.body === 'string' ? null : answer.body;
  return {
    httpStatus: answer.httpStatus,
    responseCode: json ? String(json.responseCode) : null,
    verificationStatus: json ? ((json.verificationStatus as string | null | undefined) ?? null) : null,
  };
}

function outcomeOf(answer: Answer): LedgerOutcome {
  switch (answer.httpStatus) {
    case 307:
      return 'redirect';
    case 403:
      return 'forbidden';
    case 429:
      return 'throttled';
    case 500:
      return 'server_error';
    default: {
      const json = typeof answer.body === 'string' ? null : answer.body;
      return json?.verificationStatus === 'PENDING' ? 'pending' : 'completed';
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Starts the liveness sandbox on 127.0.0.1: the vendor contract with strict validation, deterministic
 * simulated outcomes, fault switches and a charge ledger. Not a liveness model.
 */
export async function startSandbox(input: StartSandboxOptions = {}): Promise<RunningSandbox> {
  const { onEntry, ...rest } = input;
  let options = resolveSandboxOptions(rest);
  const startedAt = Date.now();
  const ledger = new ChargeLedger(options.ledgerFile);
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  const expectedUser = digest(options.userId);
  const expectedKey = digest(options.apiKey);
  const timers = new Set<NodeJS.Timeout>();
  /** Decode verdicts by image hash: benchmarks resend a corpus, and decoding is most of a request's cost. */
  const decodeVerdicts = new Map<string, string | null>();
  let stopped = false;

  const record = (fields: NewLedgerEntry, at: Date): LedgerEntry => {
    const entry = ledger.append(fields, at);
    onEntry?.(entry);
    return entry;
  };

  const wait = (ms: number) =>
    ms <= 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            resolve();
          }, ms);
          timers.add(timer);
        });

  const send = (res: ServerResponse, answer: Answer) => {
    if (stopped || res.destroyed || res.headersSent) return;
    const payload = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    res.writeHead(answer.httpStatus, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      ...answer.headers,
    });
    res.end(payload);
  };

  /** Both credentials are always compared, over equal-length digests, so timing reveals neither. */
  const authorised = (req: IncomingMessage) => {
    const userOk = timingSafeEqual(digest(headerValue(req.headers.userid)), expectedUser);
    const keyOk = timingSafeEqual(digest(headerValue(req.headers.apikey)), expectedKey);
    return userOk && keyOk;
  };

  /** Validates the request; returns the answer to send when it is refused, else what the verdict needs. */
  const validate = async (
    req: IncomingMessage,
    transactionDate: string,
  ): Promise<
    | { refused: Answer; reference: string | null; sha256: string | null }
    | { refused: null; reference: string | null; sha256: string }
    | null
  > => {
    const isAuthorised = authorised(req);
    const read = await readBody(req, options.maxBodyBytes, isAuthorised);
    if (read.kind === 'aborted') return null;
    const refuse = (
      httpStatus: number,
      code: string,
      description: string,
      reference: string | null = null,
    ) => ({
      refused: errorAnswer(httpStatus, code, description, {
        transactionReference: reference,
        transactionDate,
      }),
      reference,
      sha256: null,
    });
    if (!isAuthorised) {
      return refuse(
        401,
        SANDBOX_CODES.unauthorized,
        'Unauthorized: missing or invalid userid / apiKey headers',
      );
    }
    if (read.kind === 'too_large') {
      return refuse(
        400,
        SANDBOX_CODES.tooLarge,
        `Request body exceeds the sandbox limit of ${options.maxBodyBytes} bytes`,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(read.body.toString('utf8'));
    } catch {
      return refuse(400, SANDBOX_CODES.badJson, 'Request body is not valid JSON');
    }
    if (!isRecord(body)) return refuse(400, SANDBOX_CODES.badJson, 'Request body must be a JSON object');

    const givenReference = body.transactionReference;
    if (
      givenReference !== undefined &&
      givenReference !== null &&
      (typeof givenReference !== 'string' || !givenReference)
    ) {
      return refuse(
        400,
        SANDBOX_CODES.badReference,
        'transactionReference must be a non-empty string when sent',
      );
    }
    const reference = typeof givenReference === 'string' ? givenReference : null;
    if (body.verificationType !== PASSIVE_LIVENESS_VERIFICATION_TYPE) {
      const what = body.verificationType === undefined ? 'is missing' : 'is not supported';
      return refuse(
        400,
        SANDBOX_CODES.badVerificationType,
        `verificationType ${what}: expected exactly "${PASSIVE_LIVENESS_VERIFICATION_TYPE}"`,
        reference,
      );
    }
    if (typeof body.selfie !== 'string' || body.selfie.length === 0) {
      return refuse(
        400,
        SANDBOX_CODES.badSelfie,
        'selfie is missing: send the image as a base64 string (no data-URL prefix)',
        reference,
      );
    }
    const decoded = decodeStrictBase64(body.selfie);
    if (!decoded.ok) return refuse(400, SANDBOX_CODES.badSelfie, decoded.problem, reference);
    const format = detectImageFormat(decoded.bytes);
    if (format === null) {
      return refuse(
        400,
        SANDBOX_CODES.notAnImage,
        'selfie is not a JPEG, PNG or WebP image (unrecognised leading bytes)',
        reference,
      );
    }
    const sha256 = createHash('sha256').update(decoded.bytes).digest('hex');
    let problem = decodeVerdicts.get(sha256);
    if (problem === undefined) {
      problem = await decodeProblem(decoded.bytes);
      if (decodeVerdicts.size >= DECODE_CACHE_SIZE) {
        const oldest = decodeVerdicts.keys().next();
        if (!oldest.done) decodeVerdicts.delete(oldest.value);
      }
      decodeVerdicts.set(sha256, problem);
    }
    if (problem !== null) {
      return refuse(
        400,
        SANDBOX_CODES.notAnImage,
        `selfie ${format} image could not be decoded: ${problem}`,
        reference,
      );
    }
    return { refused: null, reference, sha256 };
  };

  /** Rebuilds the answer a charged entry got, for a repeated reference (also after a restart). */
  const replayAnswer = (original: LedgerEntry): Answer => {
    const reference = original.transactionReference ?? '';
    const date = original.transactionDate ?? String(Date.parse(original.at));
    if (original.httpStatus === 500) return internalErrorAnswer(reference, date, true);
    if (original.verificationStatus === 'PENDING') {
      return pendingAnswer(reference, date, original.fault === 'pending_debit' ? 'Successful' : 'SUCCESSFUL');
    }
    const status = original.verificationStatus === 'VERIFIED' ? 'VERIFIED' : 'NOT VERIFIED';
    const sha256 = original.sha256 ?? '';
    return completedAnswer(
      { verificationStatus: status, ...scoresFor(sha256, status, options) },
      reference,
      date,
    );
  };

  const inForbiddenWindow = (at: Date) => {
    const window = options.forbiddenWindow;
    if (!window) return false;
    const elapsedMs = at.getTime() - startedAt;
    return elapsedMs >= window.fromSeconds * 1000 && elapsedMs < window.toSeconds * 1000;
  };

  /** The answer to a fault (or to none), and whether it debits the wallet. */
  const answerFor = (
    fault: Fault | null,
    sha256: string,
    reference: string,
    transactionDate: string,
  ): { answer: Answer; charged: boolean } => {
    switch (fault) {
      case 'throttle':
        return {
          answer: errorAnswer(
            429,
            SANDBOX_CODES.throttled,
            'Too many requests (simulated throttling)',
            { transactionReference: reference, transactionDate },
            { 'retry-after': String(options.retryAfterSeconds) },
          ),
          charged: false,
        };
      case 'error':
        return {
          answer: internalErrorAnswer(reference, transactionDate, options.chargeFailures),
          charged: options.chargeFailures,
        };
      case 'pending':
        return {
          answer: pendingAnswer(reference, transactionDate, options.chargeFailures ? 'SUCCESSFUL' : 'FAILED'),
          charged: options.chargeFailures,
        };
      case 'pending_debit':
        // Mixed case on purpose: the contract says compare case-insensitively.
        return { answer: pendingAnswer(reference, transactionDate, 'Successful'), charged: true };
      case 'redirect':
        return { answer: redirectAnswer(options.redirectTo ?? ''), charged: false };
      case 'forbidden':
        return { answer: forbiddenAnswer(), charged: false };
      default:
        // No fault, or 'late': the verdict is decided and charged now; 'late' only delays sending it.
        return {
          answer: completedAnswer(verdictFor(sha256, options), reference, transactionDate),
          charged: true,
        };
    }
  };

  const handleVerify = async (req: IncomingMessage, res: ServerResponse) => {
    const at = new Date();
    const transactionDate = String(at.getTime());
    const checked = await validate(req, transactionDate);
    if (checked === null || stopped) return;

    if (checked.refused) {
      const answer = checked.refused;
      const key = checked.reference ?? 'unkeyed';
      const callIndex = checked.reference === null ? 0 : ledger.callsFor(checked.reference);
      record(
        {
          transactionReference: checked.reference,
          sha256: checked.sha256,
          ...answerFields(answer),
          outcome: 'refused',
          charged: false,
          late: false,
        },
        at,
      );
      await wait(latencyFor(options.seed, key, callIndex, options.latencyMs));
      send(res, answer);
      return;
    }

    // From here to the ledger write everything is synchronous, so concurrent repeats of one reference
    // cannot both be charged when references are deduplicated.
    const { sha256 } = checked;
    const key = checked.reference ?? `image:${sha256}`;
    const callIndex = ledger.callsFor(key);
    const reference =
      checked.reference ?? generatedReferenceFor(options.seed, sha256, callIndex, at.getTime());
    const generated = checked.reference === null ? ({ generatedReference: true } as const) : {};
    const original =
      options.dedupeReferences && checked.reference !== null
        ? ledger.chargedFor(checked.reference)
        : undefined;
    if (original) {
      const answer = replayAnswer(original);
      record(
        {
          transactionReference: reference,
          sha256,
          ...answerFields(answer),
          outcome: outcomeOf(answer),
          charged: false,
          late: false,
          replayOf: original.seq,
        },
        at,
      );
      await wait(latencyFor(options.seed, key, callIndex, options.latencyMs));
      send(res, answer);
      return;
    }

    // A window of 403s stands for an outage in front of the vendor: it wins over the drawn fault.
    const fault = inForbiddenWindow(at) ? 'forbidden' : faultFor(key, callIndex, options);
    const common = { transactionReference: reference, ...generated, sha256, transactionDate } as const;
    if (fault === 'hang') {
      record(
        {
          ...common,
          httpStatus: null,
          responseCode: null,
          verificationStatus: null,
          outcome: 'no_answer',
          charged: false,
          late: false,
          fault,
        },
        at,
      );
      return; // Never answered; stop() destroys the socket.
    }
    const { answer, charged } = answerFor(fault, sha256, reference, transactionDate);
    record(
      {
        ...common,
        ...answerFields(answer),
        outcome: outcomeOf(answer),
        charged,
        late: fault === 'late',
        ...(fault ? { fault } : {}),
      },
      at,
    );
    // A late answer goes out after the client has given up: to a closed socket, or to a patient client.
    await wait(
      fault === 'late' ? options.lateAfterMs : latencyFor(options.seed, key, callIndex, options.latencyMs),
    );
    send(res, answer);
  };

  /** Replaces fault settings at runtime; the whole result is validated as at start, or nothing changes. */
  const setFaults = (changes: FaultSettings): FaultSettings => {
    const next = sandboxOptionsSchema.safeParse({ ...options, ...changes });
    if (!next.success) {
      throw new RangeError(`Invalid fault settings: ${next.error.issues.map((i) => i.message).join('; ')}`);
    }
    options = next.data;
    return currentFaults();
  };
  const currentFaults = (): FaultSettings =>
    Object.fromEntries(
      Object.keys(faultSettingsShape)
        .filter((name) => options[name as keyof FaultSettings] !== undefined)
        .map((name) => [name, options[name as keyof FaultSettings]]),
    ) as FaultSettings;

  const handleFaults = async (req: IncomingMessage, res: ServerResponse) => {
    const read = await readBody(req, 64 * 1024, true);
    if (read.kind !== 'ok') {
      send(res, { httpStatus: 400, body: { error: 'fault settings must be a JSON object under 64 KiB' } });
      return;
    }
    let changes: unknown;
    try {
      changes = JSON.parse(read.body.toString('utf8'));
    } catch {
      send(res, {
        httpStatus: 400,
        body: { error: 'fault settings must be JSON, e.g. {"forbiddenRate":1}' },
      });
      return;
    }
    const parsed = faultSettingsSchema.safeParse(changes);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
      send(res, { httpStatus: 400, body: { error: problems.join('; ') } });
      return;
    }
    try {
      send(res, { httpStatus: 200, body: setFaults(parsed.data as FaultSettings) });
    } catch (error) {
      send(res, { httpStatus: 400, body: { error: error instanceof Error ? error.message : String(error) } });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    if (trimmed === SANDBOX_V4_PATH || trimmed === SANDBOX_V3_PATH.slice(0, -1)) {
      if (req.method !== 'POST') {
        req.resume();
        send(res, {
          httpStatus: 405,
          body: { responseCode: SANDBOX_CODES.methodNotAllowed, description: 'Method not allowed: use POST' },
          headers: { allow: 'POST' },
        });
        return;
      }
      await handleVerify(req, res);
      return;
    }
    if (req.method === 'POST' && trimmed === SANDBOX_FAULTS_PATH) {
      await handleFaults(req, res);
      return;
    }
    req.resume();
    if (req.method === 'GET' && trimmed === SANDBOX_HEALTH_PATH) {
      send(res, { httpStatus: 200, body: { status: 'ok' } });
    } else if (req.method === 'GET' && trimmed === SANDBOX_FAULTS_PATH) {
      send(res, { httpStatus: 200, body: currentFaults() });
    } else if (req.method === 'GET' && trimmed === SANDBOX_LEDGER_PATH) {
      const payload = JSON.stringify(ledger.entries());
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
      });
      res.end(payload);
    } else {
      send(res, {
        httpStatus: 404,
        body: { responseCode: SANDBOX_CODES.notFound, description: `No route for ${req.method} ${trimmed}` },
      });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      console.error(`sandbox: unexpected error: ${safeDetail(message, [options.apiKey], 200)}`);
      send(res, internalErrorAnswer(null, String(Date.now())));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, SANDBOX_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://${SANDBOX_HOST}:${port}`;

  let stopping: Promise<void> | null = null;
  return {
    baseUrl,
    endpointUrl: `${baseUrl}${SANDBOX_V4_PATH}`,
    legacyEndpointUrl: `${baseUrl}${SANDBOX_V3_PATH}`,
    port,
    get options() {
      const { apiKey: _apiKey, ...visible } = options;
      return visible;
    },
    setFaults,
    ledger: () => ledger.entries(),
    stop: () => {
      stopping ??= new Promise<void>((resolve) => {
        stopped = true;
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => {
          ledger.close();
          resolve();
        });
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}
