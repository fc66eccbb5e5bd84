import type { CallResult, LivenessCaller } from '../shared/liveness/client.ts';

/** Time-weighted count of calls in flight: its mean over a run is the concurrency actually achieved. */
export class InFlightGauge {
  private current = 0;
  private area = 0;
  private since = 0;
  private firstCallAt: number | undefined;
  private lastEndAt = 0;
  calls = 0;
  peak = 0;

  private advance(): number {
    const now = performance.now();
    if (this.firstCallAt !== undefined) this.area += this.current * (now - this.since);
    this.since = now;
    return now;
  }

  enter(): void {
    this.firstCallAt ??= this.advance();
    this.advance();
    this.current += 1;
    this.calls += 1;
    this.peak = Math.max(this.peak, this.current);
  }

  leave(): void {
    this.lastEndAt = this.advance();
    this.current -= 1;
  }

  get inFlight(): number {
    return this.current;
  }

  /** Mean calls in flight from the start of the first call to the end of the last (or now, while busy). */
  mean(): number {
    if (this.firstCallAt === undefined) return 0;
    const now = this.advance();
    const end = this.current > 0 ? now : this.lastEndAt;
    return end > this.firstCallAt ? this.area / (end - this.firstCallAt) : 0;
  }
}

/**
 * Caps the vendor calls in flight across every worker invocation of the host at `limit` (the
 * `--concurrency` of run/up). A slot is held for the HTTP call only, not for preflight, table
 * writes or backoff sleeps, and is handed to the next waiting record the moment a call ends, so a
 * slow or hanging call occupies one slot and never idles the others.
 */
export class VendorSlots implements LivenessCaller {
  readonly gauge = new InFlightGauge();
  private readonly waiting: Array<() => void> = [];
  /** When the vendor first answered 401: the credentials are wrong for every selfie. */
  unauthorizedAt: number | undefined;
  private used = 0;

  constructor(
    private readonly inner: LivenessCaller,
    readonly limit: number,
  ) {}

  get timeoutMs(): number {
    return this.inner.timeoutMs;
  }

  async call(image: Buffer, transactionReference: string): Promise<CallResult> {
    await this.acquire();
    this.gauge.enter();
    try {
      const result = await this.inner.call(image, transactionReference);
      if (result.outcome === 'permanent' && result.unauthorized) this.unauthorizedAt ??= Date.now();
      return result;
    } finally {
      this.gauge.leave();
      this.release();
    }
  }

  /** Records waiting for a slot (what keeps the slots busy when a call ends). */
  get queued(): number {
    return this.waiting.length;
  }

  private acquire(): Promise<void> {
    if (this.used < this.limit) {
      this.used += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.used -= 1;
  }
}
