import {
  type LivenessResponse,
  PASSIVE_LIVENESS_VERIFICATION_TYPE,
  SUCCESS_RESPONSE_CODE,
} from '../shared/liveness/contract.ts';
import type { SimulatedVerdict } from './outcomes.ts';

/**
 * The sandbox's own non-"00" codes. The vendor's code list is not public, so the pipeline must not rely on
 * these values: only on "00" versus anything else.
 */
export const SANDBOX_CODES = {
  pending: '01',
  badVerificationType: '03',
  badSelfie: '04',
  notAnImage: '05',
  tooLarge: '06',
  badJson: '07',
  badReference: '08',
  methodNotAllowed: '09',
  notFound: '10',
  throttled: '29',
  unauthorized: '41',
  internalError: '96',
} as const;

export interface Answer {
  httpStatus: number;
  /** A JSON body, or a text body whose content-type is in `headers` (a gateway's HTML page, a redirect). */
  body: Record<string, unknown> | string;
  headers?: Record<string, string>;
}

const emptyFields = {
  searchParameter: null,
  callBackUrl: null,
  livenessScore: 0.0,
  paymentRef: null,
  faceMatch: null,
} as const;

export function completedAnswer(
  verdict: SimulatedVerdict,
  transactionReference: string,
  transactionDate: string,
): Answer {
  const body: LivenessResponse = {
    responseCode: SUCCESS_RESPONSE_CODE,
    description: 'Success',
    verificationType: PASSIVE_LIVENESS_VERIFICATION_TYPE,
    verificationStatus: verdict.verificationStatus,
    transactionStatus: 'SUCCESSFUL',
    transactionReference,
    transactionDate,
    ...emptyFields,
    response: { pop_score: verdict.popScore, live_score: verdict.liveScore },
  };
  return { httpStatus: 200, body };
}

/** `transactionStatus` is the debit word to send: "FAILED" when not charged; a charged one in any case. */
export function pendingAnswer(
  transactionReference: string,
  transactionDate: string,
  transactionStatus: string,
): Answer {
  const body: LivenessResponse = {
    responseCode: SANDBOX_CODES.pending,
    description: 'Verification could not be completed (simulated PENDING)',
    verificationType: PASSIVE_LIVENESS_VERIFICATION_TYPE,
    verificationStatus: 'PENDING',
    transactionStatus,
    transactionReference,
    transactionDate,
    ...emptyFields,
    response: null,
  };
  return { httpStatus: 200, body };
}

/** 400, 401, 429, 500: a non-"00" code and a description that says what is wrong. */
export function errorAnswer(
  httpStatus: number,
  responseCode: string,
  description: string,
  context: { transactionReference?: string | null; transactionDate: string; charged?: boolean },
  headers?: Record<string, string>,
): Answer {
  return {
    httpStatus,
    body: {
      responseCode,
      description,
      verificationType: PASSIVE_LIVENESS_VERIFICATION_TYPE,
      verificationStatus: null,
      transactionStatus: context.charged ? 'SUCCESSFUL' : 'FAILED',
      transactionReference: context.transactionReference ?? null,
      transactionDate: context.transactionDate,
    },
    ...(headers ? { headers } : {}),
  };
}

export function internalErrorAnswer(
  transactionReference: string | null,
  transactionDate: string,
  charged = false,
): Answer {
  return errorAnswer(500, SANDBOX_CODES.internalError, 'Internal server error (simulated)', {
    transactionReference,
    transactionDate,
    charged,
  });
}

/** What a web application firewall in front of the vendor sends: an HTML page, not the vendor's JSON. */
export function forbiddenAnswer(): Answer {
  return {
    httpStatus: 403,
    body: [
      '<!DOCTYPE html>',
      '<html><head><title>403 Forbidden</title></head>',
      '<body><h1>Access denied</h1><p>Request blocked by the web application firewall (simulated).</p></body></html>',
      '',
    ].join('\n'),
    headers: { 'content-type': 'text/html; charset=utf-8' },
  };
}

/** A 307 to `location`, as a gateway or a moved API sends it. */
export function redirectAnswer(location: string): Answer {
  return {
    httpStatus: 307,
    body: 'Temporary Redirect',
    headers: { location, 'content-type': 'text/plain; charset=utf-8' },
  };
}
