import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PASSIVE_LIVENESS_VERIFICATION_TYPE } from '../shared/liveness/contract.ts';
import { safeDetail } from '../shared/liveness/redact.ts';
import {
  type Answer,
  completedAnswer,
  errorAnswer,
  internalErrorAnswer,
  pendingAnswer,
  SANDBOX_CODES,
} from './answers.ts';
import { ChargeLedger, type LedgerEntry, type NewLedgerEntry } from './ledger.ts';
import {
  type ResolvedSandboxOptions,
  resolveSandboxOptions,
  SANDBOX_HOST,
  type SandboxOptions,
} from './options.ts';
import { faultFor, generatedReferenceFor, latencyFor, scoresFor, verdictFor } from './outcomes.ts';
import { decodeProblem, decodeStrictBase64, detectImageFormat } from './validate.ts';

export type { LedgerEntry } from './ledger.ts';

/** The two documented endpoint paths (each also answered with or without a trailing slash). */
export const SANDBOX_V4_PATH = '/sfx-v4-verify/v4/id-service';
export const SANDBOX_V3_PATH = '/sfx-verify/v3/id-service/';
export const SANDBOX_HEALTH_PATH = '/__sandbox/health';
export const SANDBOX_LEDGER_PATH = '/__sandbox/ledger';

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
  options: Readonly<Omit<ResolvedSandboxOptions, 'apiKey'>>;
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Starts the liveness sandbox on 127.0.0.1: the vendor contract with strict validation, deterministic
 * simulated outcomes, fault switches and a charge ledger. Not a liveness model.
 */
export async function startSandbox(input: StartSandboxOptions = {}): Promise<RunningSandbox> {
  const { onEntry, ...rest } = input;
  const options = resolveSandboxOptions(rest);
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
    const payload = JSON.stringify(answer.body);
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
    if (original.httpStatus === 500) return internalErrorAnswer(reference, date);
    if (original.verificationStatus === 'PENDING') return pendingAnswer(reference, date, true);
    const status = original.verificationStatus === 'VERIFIED' ? 'VERIFIED' : 'NOT VERIFIED';
    const sha256 = original.sha256 ?? '';
    return completedAnswer(
      { verificationStatus: status, ...scoresFor(sha256, status, options) },
      reference,
      date,
    );
  };

  const handleVerify = async (req: IncomingMessage, res: ServerResponse) => {
    const at = new Date();
    const transactionDate = String(at.getTime());
    const checked = await validate(req, transactionDate);
    if (checked === null || stopped) return;

    let answer: Answer;
    let key: string;
    let callIndex: number;
    if (checked.refused) {
      answer = checked.refused;
      key = checked.reference ?? 'unkeyed';
      callIndex = checked.reference === null ? 0 : ledger.callsFor(checked.reference);
      record(
        {
          transactionReference: checked.reference,
          sha256: checked.sha256,
          httpStatus: answer.httpStatus,
          responseCode: String(answer.body.responseCode),
          verificationStatus: null,
          charged: false,
        },
        at,
      );
    } else {
      // From here to the ledger write everything is synchronous, so concurrent repeats of one reference
      // cannot both be charged.
      const { sha256 } = checked;
      key = checked.reference ?? `image:${sha256}`;
      callIndex = ledger.callsFor(key);
      const reference =
        checked.reference ?? generatedReferenceFor(options.seed, sha256, callIndex, at.getTime());
      const generated = checked.reference === null ? ({ generatedReference: true } as const) : {};
      const original = checked.reference === null ? undefined : ledger.chargedFor(checked.reference);
      if (original) {
        answer = replayAnswer(original);
        record(
          {
            transactionReference: reference,
            sha256,
            httpStatus: answer.httpStatus,
            responseCode: String(answer.body.responseCode),
            verificationStatus: (answer.body.verificationStatus as string | null) ?? null,
            charged: false,
            replayOf: original.seq,
          },
          at,
        );
      } else {
        const fault = faultFor(key, callIndex, options);
        const common = { transactionReference: reference, ...generated, sha256, transactionDate } as const;
        if (fault === 'hang') {
          record(
            {
              ...common,
              httpStatus: null,
              responseCode: null,
              verificationStatus: null,
              charged: false,
              fault,
            },
            at,
          );
          return; // Never answered; stop() destroys the socket.
        }
        let charged: boolean;
        if (fault === 'throttle') {
          answer = errorAnswer(
            429,
            SANDBOX_CODES.throttled,
            'Too many requests (simulated throttling)',
            { transactionReference: reference, transactionDate },
            { 'retry-after': String(options.retryAfterSeconds) },
          );
          charged = false;
        } else if (fault === 'error') {
          answer = internalErrorAnswer(reference, transactionDate);
          charged = options.chargeFailures;
        } else if (fault === 'pending') {
          answer = pendingAnswer(reference, transactionDate, options.chargeFailures);
          charged = options.chargeFailures;
        } else {
          answer = completedAnswer(verdictFor(sha256, options), reference, transactionDate);
          charged = true;
        }
        record(
          {
            ...common,
            httpStatus: answer.httpStatus,
            responseCode: String(answer.body.responseCode),
            verificationStatus: (answer.body.verificationStatus as string | null) ?? null,
            charged,
            ...(fault ? { fault } : {}),
          },
          at,
        );
      }
    }
    await wait(latencyFor(options.seed, key, callIndex, options.latencyMs));
    send(res, answer);
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
    req.resume();
    if (req.method === 'GET' && trimmed === SANDBOX_HEALTH_PATH) {
      send(res, { httpStatus: 200, body: { status: 'ok' } });
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
  const { apiKey: _apiKey, ...visibleOptions } = options;

  let stopping: Promise<void> | null = null;
  return {
    baseUrl,
    endpointUrl: `${baseUrl}${SANDBOX_V4_PATH}`,
    legacyEndpointUrl: `${baseUrl}${SANDBOX_V3_PATH}`,
    port,
    options: visibleOptions,
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
