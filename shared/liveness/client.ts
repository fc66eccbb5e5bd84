import { createHash } from 'node:crypto';
import {
  boundText,
  boundVendorAnswer,
  type DebitStatus,
  isDebited,
  lenientLivenessResponseSchema,
  MAX_VENDOR_BODY_BYTES,
  normaliseDebitStatus,
  PASSIVE_LIVENESS_VERIFICATION_TYPE,
  type ParsedLivenessResponse,
  SUCCESS_RESPONSE_CODE,
  type VendorAnswerRecord,
} from './contract.ts';
import { redactSecrets, safeDetail } from './redact.ts';

export type CallOutcome = 'completed' | 'pending' | 'retryable' | 'uncertain' | 'permanent';

/** What every result carries, whatever happened. */
interface CallTiming {
  /** The HTTP status, when an answer arrived. */
  httpStatus?: number;
  /** The vendor's `responseCode`, when the body held one. */
  responseCode?: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  /** A short, secret-free reason, fit for an attempt record or a log line. */
  detail: string;
}

/** What every result says about money (docs/vendor-contract.md, "What counts as debited"). */
interface DebitFacts {
  /** The answer's `transactionStatus` is "successful" (any case): the wallet was debited. False without a readable body. */
  debited: boolean;
  /** The answer's `transactionStatus`, normalised; null when there was none (or no readable body). */
  debitStatus: DebitStatus;
}

/** The vendor decided: VERIFIED or NOT VERIFIED, with `responseCode` "00". */
export interface CompletedResult extends CallTiming, DebitFacts {
  outcome: 'completed';
  httpStatus: number;
  responseCode: string;
  verificationStatus: 'VERIFIED' | 'NOT VERIFIED';
  liveScore: number | null;
  popScore: number | null;
  description: string | null;
  transactionReference: string | null;
  transactionDate: string | null;
  /** Undocumented: stored, never decided on. */
  livenessScore: number | null;
  /** What is kept of the answer: the deciding and auditing fields, bounded, plus the body's hash and size. */
  raw: VendorAnswerRecord;
}

/** `verificationStatus` PENDING: the vendor could not complete; the reason is in `responseCode`. It may still be debited. */
export interface PendingResult extends CallTiming, DebitFacts {
  outcome: 'pending';
  httpStatus: number;
  responseCode: string;
  description: string | null;
  transactionReference: string | null;
  raw: VendorAnswerRecord;
}

/** `network` only when the request provably never left (refused, unresolvable host, TLS handshake refused). */
export type RetryableReason = 'server_error' | 'throttled' | 'network';

/** A definitive "not now": 5xx or 429 with an answer, or a request that never left this machine. */
export interface RetryableResult extends CallTiming, DebitFacts {
  outcome: 'retryable';
  reason: RetryableReason;
  /** From `Retry-After` (seconds or HTTP-date), when the vendor sent one. */
  retryAfterMs?: number;
  /** What is kept of the answer's body, when there was an answer (not for `network`). */
  raw?: VendorAnswerRecord;
}

export type UncertainReason = 'timeout' | 'connection_lost' | 'truncated_body';

/**
 * The request was sent (or may have been) and no readable answer came back: the vendor may have decided
 * and charged. Retry under the same transactionReference; reconcile against the vendor's statement.
 */
export interface UncertainResult extends CallTiming {
  outcome: 'uncertain';
  reason: UncertainReason;
  /** Nothing readable said so; the call may still have been charged (that is what uncertain means). */
  debited: false;
  debitStatus: null;
}

export type PermanentReason =
  | 'bad_request'
  | 'unauthorized'
  | 'client_error'
  | 'redirect'
  | 'unexpected_status'
  | 'malformed_response'
  | 'declined';

/** Trying again with the same input cannot help: 400, 401, other 4xx, a 3xx, an answer that cannot be read. */
export interface PermanentResult extends CallTiming, DebitFacts {
  outcome: 'permanent';
  reason: PermanentReason;
  /** True for HTTP 401: the credentials are wrong for every item, so alarm rather than burn the batch. */
  unauthorized: boolean;
  /**
   * The answer is about the vendor or the gateway in front of it, not about this selfie (401, 403, 404,
   * 405, 407, 408, 410, 413, any 3xx, other non-2xx statuses that are not retried, a 200 with a non-"00"
   * code, a body that cannot be read): every other selfie would get the same. False for 400 and the
   * remaining 4xx (422, ...), which are about the request.
   */
  systemic: boolean;
  /** For `redirect`: the host (and port) of `Location`, never its path or query; absent without a Location. */
  redirectHost?: string;
  /** What is kept of the answer's body, when one was read (not for redirects). */
  raw?: VendorAnswerRecord;
}

export type CallResult =
  | CompletedResult
  | PendingResult
  | RetryableResult
  | UncertainResult
  | PermanentResult;

/** The one thing the retry loop needs from a client; tests and other hosts may supply their own. */
export interface LivenessCaller {
  readonly timeoutMs: number;
  call(image: Buffer, transactionReference: string): Promise<CallResult>;
}

export interface LivenessClientOptions {
  /** The full endpoint URL (docs/vendor-contract.md documents two; never hard-coded). */
  endpointUrl: string;
  userId: string;
  apiKey: string;
  /** Whole-call budget: connect, send, and read the answer. */
  timeoutMs: number;
  fetch?: typeof globalThis.fetch;
}

const RETRYABLE_STATUSES = new Set([500, 502, 503, 504]);

/**
 * 4xx answers that say something about the account, the endpoint or a gateway, never about one selfie:
 * credentials (401), a firewall (403), a wrong URL or method (404, 405, 410), a proxy (407), a gateway
 * timeout or size limit (408, 413).
 */
const SYSTEMIC_CLIENT_STATUSES = new Set([401, 403, 404, 405, 407, 408, 410, 413]);

/**
 * Error codes that prove the request never left this machine: no connection was made (refused, no route,
 * no such host) or TLS refused the server before the request was written. Anything else that fails after
 * the request may have been written (a reset, a closed socket, our own timeout) is `uncertain`.
 */
const NEVER_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_INVALID_URL',
  // TLS handshake failures: the server was not trusted, so nothing was written to it.
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
  'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  'ERR_SSL_UNSUPPORTED_PROTOCOL',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'HOSTNAME_MISMATCH',
]);

/** Parses `Retry-After`: delay-seconds or an HTTP-date; anything else is ignored. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

function errorCode(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return error instanceof Error ? error.name : 'unknown';
}

type Timing = Pick<CallTiming, 'startedAt' | 'endedAt' | 'durationMs'>;

type BodyRead = { kind: 'read'; body: Buffer } | { kind: 'too_large'; bytes: number; declared: boolean };

/**
 * Reads a body up to MAX_VENDOR_BODY_BYTES and no further: a declared or actual size above it is cancelled
 * instead of buffered. Rejects when the connection ends before the body does.
 */
async function readBounded(response: Response): Promise<BodyRead> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > MAX_VENDOR_BODY_BYTES) {
    await response.body?.cancel().catch(() => undefined);
    return { kind: 'too_large', bytes: declared, declared: true };
  }
  if (!response.body) return { kind: 'read', body: Buffer.alloc(0) };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_VENDOR_BODY_BYTES) {
      await reader.cancel().catch(() => undefined);
      return { kind: 'too_large', bytes: size, declared: false };
    }
    chunks.push(value);
  }
  return { kind: 'read', body: Buffer.concat(chunks) };
}

/** The host (and port) a redirect points at, never its path, query or user info. */
function hostOf(location: string | null, endpointUrl: string): string | undefined {
  if (location === null) return undefined;
  try {
    const host = new URL(location, endpointUrl).host;
    return host ? safeDetail(host, [], 100) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Calls the vendor's passive liveness endpoint once and classifies the outcome. It never throws, never
 * retries (that is the caller's job) and never follows a redirect, and nothing it returns holds the image
 * or the API key.
 */
export class LivenessClient implements LivenessCaller {
  readonly timeoutMs: number;
  readonly endpointUrl: string;
  readonly #userId: string;
  readonly #apiKey: string;
  readonly #fetch: typeof globalThis.fetch;

  constructor(options: LivenessClientOptions) {
    let url: URL;
    try {
      url = new URL(options.endpointUrl);
    } catch {
      throw new TypeError('LivenessClient: endpointUrl is not a valid URL');
    }
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
      throw new RangeError('LivenessClient: timeoutMs must be a positive number');
    }
    if (!options.userId || !options.apiKey)
      throw new TypeError('LivenessClient: userId and apiKey are required');
    this.endpointUrl = url.toString();
    this.timeoutMs = options.timeoutMs;
    this.#userId = options.userId;
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  async call(image: Buffer, transactionReference: string): Promise<CallResult> {
    const selfie = image.toString('base64');
    const secrets = [selfie, this.#apiKey];
    const started = Date.now();
    const timing = (): Timing => {
      const ended = Date.now();
      return {
        startedAt: new Date(started).toISOString(),
        endedAt: new Date(ended).toISOString(),
        durationMs: ended - started,
      };
    };
    const noAnswer = { debited: false, debitStatus: null } as const;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    const timeout = (httpStatus?: number): UncertainResult => ({
      outcome: 'uncertain',
      reason: 'timeout',
      detail: `no answer within ${this.timeoutMs} ms${httpStatus === undefined ? '' : ` (HTTP ${httpStatus} headers arrived, the body did not)`}`,
      ...(httpStatus === undefined ? {} : { httpStatus }),
      ...noAnswer,
      ...timing(),
    });

    try {
      let response: Response;
      try {
        response = await this.#fetch(this.endpointUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            userid: this.#userId,
            apiKey: this.#apiKey,
          },
          body: JSON.stringify({
            verificationType: PASSIVE_LIVENESS_VERIFICATION_TYPE,
            selfie,
            transactionReference,
          }),
          // A redirect would resend the credentials and the selfie wherever Location says.
          redirect: 'manual',
          signal: controller.signal,
        });
      } catch (error) {
        if (timedOut) return timeout();
        const code = errorCode(error);
        if (NEVER_SENT_CODES.has(code)) {
          return {
            outcome: 'retryable',
            reason: 'network',
            detail: safeDetail(`network error before sending: ${code}`, secrets),
            ...noAnswer,
            ...timing(),
          };
        }
        return {
          outcome: 'uncertain',
          reason: 'connection_lost',
          detail: safeDetail(`connection lost after the request may have been sent: ${code}`, secrets),
          ...noAnswer,
          ...timing(),
        };
      }

      const httpStatus = response.status;
      if (httpStatus >= 300 && httpStatus < 400) {
        await response.body?.cancel().catch(() => undefined);
        return redirectResult(
          httpStatus,
          hostOf(response.headers.get('location'), this.endpointUrl),
          timing(),
        );
      }
      let read: BodyRead;
      try {
        read = await readBounded(response);
      } catch (error) {
        if (timedOut) return timeout(httpStatus);
        return {
          outcome: 'uncertain',
          reason: 'truncated_body',
          httpStatus,
          detail: safeDetail(`HTTP ${httpStatus}: the body was cut short (${errorCode(error)})`, secrets),
          ...noAnswer,
          ...timing(),
        };
      }
      if (read.kind === 'too_large') {
        const size = read.declared
          ? `of ${read.bytes} bytes (declared), over the ${MAX_VENDOR_BODY_BYTES}-byte limit: not read`
          : `over the ${MAX_VENDOR_BODY_BYTES}-byte limit: reading stopped at ${read.bytes} bytes`;
        return {
          outcome: 'permanent',
          reason: 'malformed_response',
          unauthorized: false,
          systemic: true,
          httpStatus,
          detail: `HTTP ${httpStatus}: body ${size}`,
          ...noAnswer,
          ...timing(),
        };
      }
      return classifyAnswer({
        httpStatus,
        retryAfterHeader: response.headers.get('retry-after'),
        body: read.body,
        secrets,
        timing: timing(),
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

function redirectResult(
  httpStatus: number,
  redirectHost: string | undefined,
  timing: Timing,
): PermanentResult {
  return {
    outcome: 'permanent',
    reason: 'redirect',
    unauthorized: false,
    systemic: true,
    httpStatus,
    ...(redirectHost === undefined ? {} : { redirectHost }),
    detail: `HTTP ${httpStatus} redirect ${redirectHost === undefined ? 'without a usable Location' : `to host ${redirectHost}`} (not followed)`,
    debited: false,
    debitStatus: null,
    ...timing,
  };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describe(parsed: ParsedLivenessResponse | undefined, secrets: readonly string[]): string {
  const description = parsed?.description;
  return description ? `: ${safeDetail(String(description), secrets, 100)}` : '';
}

/** A vendor text field as a bounded string, or null. */
function textOrNull(value: string | number | null | undefined): string | null {
  return value === null || value === undefined ? null : boundText(String(value));
}

export interface AnswerToClassify {
  httpStatus: number;
  retryAfterHeader: string | null;
  /** The whole body as received (at most MAX_VENDOR_BODY_BYTES). */
  body: Buffer;
  /** Request data that must not survive into a result (the selfie's base64, the API key). */
  secrets: readonly string[];
  timing: Timing;
}

/** Turns one HTTP answer into exactly one outcome class. Exported for the classification tests. */
export function classifyAnswer(answer: AnswerToClassify): CallResult {
  const { httpStatus, retryAfterHeader, body, secrets, timing } = answer;
  const json = parseJson(body.toString('utf8'));
  const redacted = json.ok ? redactSecrets(json.value, secrets) : undefined;
  const raw = boundVendorAnswer(redacted, {
    bodySha256: createHash('sha256').update(body).digest('hex'),
    bodyBytes: body.length,
  });
  const lenient = isRecord(redacted) ? lenientLivenessResponseSchema.safeParse(redacted) : undefined;
  const parsed = lenient?.success ? lenient.data : undefined;
  const responseCode =
    parsed?.responseCode ??
    (isRecord(redacted) && typeof redacted.responseCode === 'string'
      ? safeDetail(redacted.responseCode, secrets, 40)
      : undefined);
  const debitStatus = normaliseDebitStatus(
    typeof raw.transactionStatus === 'string' ? raw.transactionStatus : undefined,
  );
  const base = {
    httpStatus,
    ...(responseCode === undefined ? {} : { responseCode: boundText(responseCode) }),
    debited: isDebited(debitStatus),
    debitStatus,
    raw,
    ...timing,
  };
  const permanent = (reason: PermanentReason, systemic: boolean, detail: string): PermanentResult => ({
    outcome: 'permanent',
    reason,
    unauthorized: reason === 'unauthorized',
    systemic,
    detail,
    ...base,
  });

  if (httpStatus >= 300 && httpStatus < 400) return redirectResult(httpStatus, undefined, timing);
  if (httpStatus === 429) {
    const retryAfterMs = parseRetryAfter(retryAfterHeader);
    return {
      outcome: 'retryable',
      reason: 'throttled',
      detail: `HTTP 429${retryAfterMs === undefined ? '' : ` (retry after ${retryAfterMs} ms)`}`,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      ...base,
    };
  }
  if (RETRYABLE_STATUSES.has(httpStatus)) {
    const retryAfterMs = parseRetryAfter(retryAfterHeader);
    return {
      outcome: 'retryable',
      reason: 'server_error',
      detail: `HTTP ${httpStatus}${describe(parsed, secrets)}`,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      ...base,
    };
  }
  if (httpStatus === 401) {
    return permanent('unauthorized', true, `HTTP 401: credentials refused${describe(parsed, secrets)}`);
  }
  if (httpStatus === 400) return permanent('bad_request', false, `HTTP 400${describe(parsed, secrets)}`);
  if (httpStatus > 400 && httpStatus < 500) {
    const systemic = SYSTEMIC_CLIENT_STATUSES.has(httpStatus);
    const what = json.ok ? describe(parsed, secrets) : ` (not JSON, ${body.length} bytes)`;
    return permanent('client_error', systemic, `HTTP ${httpStatus}${what}`);
  }
  if (httpStatus < 200 || httpStatus >= 300) {
    return permanent('unexpected_status', true, `unexpected HTTP ${httpStatus}`);
  }

  const malformed = (why: string) => permanent('malformed_response', true, `HTTP ${httpStatus}: ${why}`);
  if (!json.ok) return malformed('body is not JSON');
  if (!isRecord(redacted)) return malformed('body is not a JSON object');
  if (!parsed) {
    const issue = lenient && !lenient.success ? lenient.error.issues[0] : undefined;
    return malformed(`unreadable field ${issue ? issue.path.join('.') || '(root)' : '(unknown)'}`);
  }

  const code = boundText(String(parsed.responseCode));
  const status = parsed.verificationStatus ?? null;
  if (status === 'PENDING') {
    return {
      outcome: 'pending',
      ...base,
      responseCode: code,
      detail: `PENDING (code ${safeDetail(code, secrets, 20)})${describe(parsed, secrets)}`,
      description: textOrNull(parsed.description),
      transactionReference: textOrNull(parsed.transactionReference),
    };
  }
  if (code !== SUCCESS_RESPONSE_CODE) {
    return permanent(
      'declined',
      true,
      `responseCode ${safeDetail(code, secrets, 20)}${describe(parsed, secrets)}`,
    );
  }
  if (status !== 'VERIFIED' && status !== 'NOT VERIFIED') {
    return malformed(status === null ? 'no verificationStatus' : 'unknown verificationStatus');
  }
  return {
    outcome: 'completed',
    ...base,
    responseCode: code,
    verificationStatus: status,
    detail: status,
    liveScore: parsed.response?.live_score ?? null,
    popScore: parsed.response?.pop_score ?? null,
    description: textOrNull(parsed.description),
    transactionReference: textOrNull(parsed.transactionReference),
    transactionDate: textOrNull(parsed.transactionDate),
    livenessScore: parsed.livenessScore ?? null,
  };
}
