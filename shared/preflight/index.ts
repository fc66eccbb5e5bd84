export {
  defaultPreflightLimits,
  type PreflightLimitOverrides,
  type PreflightLimits,
  preflightLimitsFrom,
  preflightLimitsSchema,
} from './limits.ts';
export { preflightSelfie } from './preflight-selfie.ts';
export type {
  PreflightAccepted,
  PreflightRejected,
  PreflightRejection,
  PreflightRejectionReason,
  PreflightResult,
} from './result.ts';
export {
  type AcceptedFormat,
  type DetectedFormat,
  isAcceptedFormat,
  type SniffedFormat,
  sniffImageFormat,
} from './sniff-format.ts';
