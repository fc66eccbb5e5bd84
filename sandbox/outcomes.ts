import { createHash } from 'node:crypto';
import type { FAULT_RATES, Latency, ResolvedSandboxOptions } from './options.ts';

/**
 * Everything the sandbox "decides" is a hash, so the same inputs always give the same answer, whatever the
 * arrival order or concurrency. None of it looks at the picture: the scores are simulated.
 */
export function unitInterval(...parts: ReadonlyArray<string | number>): number {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

export type SimulatedStatus = 'VERIFIED' | 'NOT VERIFIED';

export interface SimulatedVerdict {
  verificationStatus: SimulatedStatus;
  liveScore: number;
  popScore: number;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

type VerdictOptions = Pick<ResolvedSandboxOptions, 'seed' | 'liveRatio' | 'scoreDisagreeRate'>;

/** The status an image gets: VERIFIED for a `liveRatio` share of image hashes. */
export function statusFor(imageSha256: string, options: VerdictOptions): SimulatedStatus {
  return unitInterval(options.seed, 'status', imageSha256) < options.liveRatio ? 'VERIFIED' : 'NOT VERIFIED';
}

/**
 * Scores consistent with the status (VERIFIED: live 70–99.999, pop 0.001–30; NOT VERIFIED: live 0.001–40,
 * pop 60–99.999), except for a `scoreDisagreeRate` share whose scores are swapped, as in the vendor's sample.
 */
export function scoresFor(
  imageSha256: string,
  status: SimulatedStatus,
  options: VerdictOptions,
): { liveScore: number; popScore: number } {
  const a = unitInterval(options.seed, 'live', imageSha256);
  const b = unitInterval(options.seed, 'pop', imageSha256);
  let liveScore = status === 'VERIFIED' ? 70 + a * 29.999 : 0.001 + a * 39.999;
  let popScore = status === 'VERIFIED' ? 0.001 + b * 29.999 : 60 + b * 39.999;
  if (unitInterval(options.seed, 'disagree', imageSha256) < options.scoreDisagreeRate) {
    [liveScore, popScore] = [popScore, liveScore];
  }
  return { liveScore: round3(liveScore), popScore: round3(popScore) };
}

export function verdictFor(imageSha256: string, options: VerdictOptions): SimulatedVerdict {
  const verificationStatus = statusFor(imageSha256, options);
  return { verificationStatus, ...scoresFor(imageSha256, verificationStatus, options) };
}

export type Fault =
  | 'hang'
  | 'throttle'
  | 'error'
  | 'pending'
  | 'late'
  | 'pending_debit'
  | 'redirect'
  | 'forbidden';

/** The newer rates are optional here, so callers that predate them keep their draws. */
type FaultOptions = Pick<
  ResolvedSandboxOptions,
  'seed' | 'hangRate' | 'throttleRate' | 'errorRate' | 'pendingRate'
> &
  Partial<Pick<ResolvedSandboxOptions, (typeof FAULT_RATES)[number]>>;

/** Each rate and the fault it draws, in draw order (new faults go last, so old seeds keep their faults). */
const FAULT_OF_RATE: ReadonlyArray<readonly [(typeof FAULT_RATES)[number], Fault]> = [
  ['hangRate', 'hang'],
  ['throttleRate', 'throttle'],
  ['errorRate', 'error'],
  ['pendingRate', 'pending'],
  ['lateRate', 'late'],
  ['pendingDebitRate', 'pending_debit'],
  ['redirectRate', 'redirect'],
  ['forbiddenRate', 'forbidden'],
];

/**
 * The fault for the `callIndex`-th request under one key (the transactionReference, or the image hash when
 * none was sent). One draw against the cumulative rates, so each rate is exactly its share of requests.
 */
export function faultFor(key: string, callIndex: number, options: FaultOptions): Fault | null {
  const u = unitInterval(options.seed, 'fault', key, callIndex);
  let edge = 0;
  for (const [rate, fault] of FAULT_OF_RATE) {
    edge += options[rate] ?? 0;
    if (u < edge) return fault;
  }
  return null;
}

export function latencyFor(seed: string, key: string, callIndex: number, latency: Latency): number {
  if (typeof latency === 'number') return latency;
  const u = unitInterval(seed, 'latency', key, callIndex);
  return latency.min + Math.floor(u * (latency.max - latency.min + 1));
}

const REFERENCE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A reference shaped like the vendor's generated ones ("1628016393774-LH92B5CT"). */
export function generatedReferenceFor(
  seed: string,
  imageSha256: string,
  callIndex: number,
  now: number,
): string {
  const digest = createHash('sha256')
    .update(`${seed}\u0000ref\u0000${imageSha256}\u0000${callIndex}`)
    .digest();
  let suffix = '';
  for (let i = 0; i < 8; i++) suffix += REFERENCE_ALPHABET[(digest[i] ?? 0) % REFERENCE_ALPHABET.length];
  return `${now}-${suffix}`;
}
