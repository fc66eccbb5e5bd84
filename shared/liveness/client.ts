import {
  type DebitStatus,
  lenientLivenessResponseSchema,
  normaliseDebitStatus,
  PASSIVE_LIVENESS_VERIFICATION_TYPE,
  type ParsedLivenessResponse,
  SUCCESS_RESPONSE_CODE,
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

/** The vendor decided: VERIFIED or NOT VERIFIED, with `responseCode` "00". */
export interface CompletedResult extends CallTiming {
  outcome: 'completed';
  httpStatus: number;
  responseCode: string;
  verificationStatus: 'VERIFIED' | 'NOT VERIFIED';
  liveScore: number | null;
  popScore: number | null;
  /** The wallet debit status (`transactionStatus`). */
  debitStatus: DebitStatus;
  description: string | null;
  transactionReference: string | null;
  transactionDate: string | null;
  /** Undocumented: stored, never decided on. */
  livenessScore: number | null;
  /** The parsed body as received (request data echoed back is redacted). */
  raw: Record<string, unknown>;
}

/** `verificationStatus` PENDING: the vendor could not complete; the reason is in `responseCode`. */
export interface PendingResult extends CallTiming {
  outcome: 'pending';
  httpStatus: number;
  responseCode: string;
  description: string | null;
  transactionReference: string | null;
  debitStatus: DebitStatus;
  raw: Record<string, unknown>;
}

export type RetryableReason = 'server_error' | 'throttled' | 'timeout' | 'network';

/** Worth trying again later: 5xx, 429, timeout, network error. */
export interface RetryableResult extends CallTiming {
  outcome: 'retryable';
  reason: RetryableReason;
  /** From `Retry-After` (seconds or HTTP-date), when the vendor sent one. */
  retryAfterMs?: number;
}

export type PermanentReason =
  | 'bad_request'
  | 'unauthorized'
  | 'client_error'
  | 'unexpected_status'
  | 'malformed_response'
  | 'declined';

/** Trying again with the same input cannot help: 400, 401, other 4xx, an answer that cannot be read. */
export interface PermanentResult extends CallTiming {
  outcome: 'permanent';
  reason: PermanentReason;
  /** True for HTTP 401: the credentials are wrong for every item, so alarm rather than burn the batch. */
  unauthorized: boolean;
  /** The parsed body when it was JSON (request data echoed back is redacted). */
  raw?: unknown;
}

/** Sent, but no readable answer came back: the call may have been charged. */
export interface UncertainResult extends CallTiming {
  outcome: 'uncertain';
  reason: 'timeout' | 'connection_lost' | 'truncated_body';
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
  /** The full endpoint URL (LIVENESS-API.md documents two; never hard-coded). */
  endpointUrl: string;
  userId: string;
  apiKey: string;
  /** Whole-call budget: connect, send, and read the answer. */
  timeoutMs: number;
  fetch?: typeof globalThis.fetch;
}

const RETRYABLE_STATUSES = new Set([500, 502, 503, 504]);

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

function textOrNull(value: string | number | null | undefined): string | null {
  return value === null || value === undefined ? null : String(value);
}

/**
 * Calls the vendor's passive liveness endpoint once and classifies the outcome. It never throws and never
 * retries (that is `verifyWithRetries`' job), and nothing it returns holds the image or the API key.
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
    const timing = (): Pick<CallTiming, 'startedAt' | 'endedAt' | 'durationMs'> => {
      const ended = Date.now();
      return {
        startedAt: new Date(started).toISOString(),
        endedAt: new Date(ended).toISOString(),
        durationMs: ended - started,
      };
    };
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);

    let status: number;
    let retryAfter: string | null;
    let bodyText: string;
    try {
      const response = await this.#fetch(this.endpointUrl, {
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
        signal: controller.signal,
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      bodyText = await response.text();
    } catch (error) {
      const reason = timedOut ? 'timeout' : 'network';
      const detail = timedOut
        ? `no answer within ${this.timeoutMs} ms`
        : safeDetail(`network error: ${errorCode(error)}`, secrets);
      return { outcome: 'retryable', reason, detail, ...timing() };
    } finally {
      clearTimeout(timer);
    }
    return classifyAnswer(status, retryAfter, bodyText, secrets, timing());
  }
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

/** Turns one HTTP answer into exactly one outcome class. Exported for the classification tests. */
export function classifyAnswer(
  httpStatus: number,
  retryAfterHeader: string | null,
  bodyText: string,
  secrets: readonly string[],
  timing: Pick<CallTiming, 'startedAt' | 'endedAt' | 'durationMs'>,
): CallResult {
  const json = parseJson(bodyText);
  const raw = json.ok ? redactSecrets(json.value, secrets) : undefined;
  const lenient = isRecord(raw) ? lenientLivenessResponseSchema.safeParse(raw) : undefined;
  const parsed = lenient?.success ? lenient.data : undefined;
  const responseCode =
    parsed?.responseCode ??
    (isRecord(raw) && typeof raw.responseCode === 'string'
      ? safeDetail(raw.responseCode, secrets, 40)
      : undefined);
  const base = { httpStatus, ...(responseCode === undefined ? {} : { responseCode }), ...timing };

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
    return {
      outcome: 'permanent',
      reason: 'unauthorized',
      unauthorized: true,
      detail: `HTTP 401: credentials refused${describe(parsed, secrets)}`,
      raw,
      ...base,
    };
  }
  if (httpStatus === 400 || (httpStatus > 400 && httpStatus < 500)) {
    return {
      outcome: 'permanent',
      reason: httpStatus === 400 ? 'bad_request' : 'client_error',
      unauthorized: false,
      detail: `HTTP ${httpStatus}${describe(parsed, secrets)}`,
      raw,
      ...base,
    };
  }
  if (httpStatus < 200 || httpStatus >= 300) {
    return {
      outcome: 'permanent',
      reason: 'unexpected_status',
      unauthorized: false,
      detail: `unexpected HTTP ${httpStatus}`,
      raw,
      ...base,
    };
  }

  const malformed = (why: string): PermanentResult => ({
    outcome: 'permanent',
    reason: 'malformed_response',
    unauthorized: false,
    detail: `HTTP ${httpStatus}: ${why}`,
    raw,
    ...base,
  });
  if (!json.ok) return malformed('body is not JSON');
  if (!isRecord(raw)) return malformed('body is not a JSON object');
  if (!parsed) {
    const issue = lenient && !lenient.success ? lenient.error.issues[0] : undefined;
    return malformed(`unreadable field ${issue ? issue.path.join('.') || '(root)' : '(unknown)'}`);
  }

  const code = String(parsed.responseCode);
  const status = parsed.verificationStatus ?? null;
  if (status === 'PENDING') {
    return {
      outcome: 'pending',
      ...base,
      responseCode: code,
      detail: `PENDING (code ${safeDetail(code, secrets, 20)})${describe(parsed, secrets)}`,
      description: textOrNull(parsed.description),
      transactionReference: textOrNull(parsed.transactionReference),
      debitStatus: normaliseDebitStatus(parsed.transactionStatus),
      raw,
    };
  }
  if (code !== SUCCESS_RESPONSE_CODE) {
    return {
      outcome: 'permanent',
      reason: 'declined',
      unauthorized: false,
      detail: `responseCode ${safeDetail(code, secrets, 20)}${describe(parsed, secrets)}`,
      raw,
      ...base,
    };
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
    debitStatus: normaliseDebitStatus(parsed.transactionStatus),
    description: textOrNull(parsed.description),
    transactionReference: textOrNull(parsed.transactionReference),
    transactionDate: textOrNull(parsed.transactionDate),
    livenessScore: parsed.livenessScore ?? null,
    raw,
  };
}
