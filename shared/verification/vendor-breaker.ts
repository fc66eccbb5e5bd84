import type { CallResult } from '../liveness/client.ts';
import { BREAKER_OPEN_MS, BREAKER_STORM } from './policy.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerStatus {
  state: BreakerState;
  /** When the circuit last opened (epoch ms), while it is not closed. */
  since?: number;
  /** What the vendor answered that opened it, secret-free ("HTTP 403", "HTTP 401: credentials refused"). */
  lastAnswer?: string;
  /** True when the answer was a 401: the credentials are wrong for every selfie. */
  unauthorized?: boolean;
}

/**
 * An answer that says something about the vendor or the gateway in front of it, not about the selfie:
 * no selfie should fail because of it. The client marks these `systemic`.
 */
export function isSystemic(result: CallResult): boolean {
  return result.outcome === 'permanent' && result.systemic;
}

function isFailure(result: CallResult): boolean {
  return (
    result.outcome === 'uncertain' || (result.outcome === 'retryable' && result.reason === 'server_error')
  );
}

/**
 * A vendor-wide circuit breaker for one worker process. A systemic answer (401, a firewall's 403, a
 * redirect, a 200 with a non-"00" code...) or a storm of 5xx/no-answer calls opens it: calls pause and
 * selfies wait, neither FAILED nor charged. After BREAKER_OPEN_MS one probe call is let through
 * (half-open); a good answer closes the circuit, a bad one opens it again.
 */
export class VendorBreaker {
  private state: BreakerState = 'closed';
  /** When the outage began (the circuit opened from closed), and when the next probe may go. */
  private since = 0;
  private resumeAt = 0;
  private lastAnswer: string | undefined;
  private unauthorized = false;
  private probeInFlight = false;
  private recent: { at: number; failed: boolean }[] = [];

  constructor(
    private readonly openMs = BREAKER_OPEN_MS,
    private readonly storm: {
      windowMs: number;
      minFailures: number;
      minFailureRatio: number;
    } = BREAKER_STORM,
  ) {}

  /** May a call be made now? While half-open, only one probe at a time. */
  permit(now: number): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open' && now >= this.resumeAt) this.state = 'half-open';
    if (this.state === 'half-open' && !this.probeInFlight) {
      this.probeInFlight = true;
      return true;
    }
    return false;
  }

  /** Learns from one answer. Returns true when this answer opened the circuit. */
  record(result: CallResult, now: number): boolean {
    const wasProbe = this.state === 'half-open' && this.probeInFlight;
    this.probeInFlight = false;
    if (isSystemic(result)) return this.open(now, result);
    this.recent = this.recent.filter((r) => now - r.at <= this.storm.windowMs);
    this.recent.push({ at: now, failed: isFailure(result) });
    const failures = this.recent.filter((r) => r.failed).length;
    if (failures >= this.storm.minFailures && failures / this.recent.length >= this.storm.minFailureRatio) {
      return this.open(
        now,
        result,
        `${failures} of the last ${this.recent.length} calls failed (${result.detail})`,
      );
    }
    if (wasProbe && isFailure(result)) return this.open(now, result);
    if (this.state !== 'closed' && !isFailure(result)) this.close();
    return false;
  }

  /** A call that was permitted but not made (e.g. no budget) gives its probe slot back. */
  cancelPermit(): void {
    this.probeInFlight = false;
  }

  status(): BreakerStatus {
    if (this.state === 'closed') return { state: 'closed' };
    return {
      state: this.state,
      since: this.since,
      ...(this.lastAnswer ? { lastAnswer: this.lastAnswer } : {}),
      ...(this.unauthorized ? { unauthorized: true } : {}),
    };
  }

  private open(now: number, result: CallResult, why = result.detail): boolean {
    const opened = this.state === 'closed';
    // An outage that goes on keeps its first "since"; every systemic answer restarts the pause.
    if (opened) this.since = now;
    this.resumeAt = now + this.openMs;
    this.state = 'open';
    this.lastAnswer = why;
    this.unauthorized = result.outcome === 'permanent' && result.unauthorized;
    this.recent = [];
    return opened;
  }

  private close(): void {
    this.state = 'closed';
    this.lastAnswer = undefined;
    this.unauthorized = false;
    this.recent = [];
  }
}
