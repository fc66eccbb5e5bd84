/**
 * A 401 means the credentials are wrong for every selfie, not just this one. After one, the worker
 * stops calling the vendor for a while instead of burning the rest of the batch on the same error.
 */
export class VendorGate {
  private closedUntil = 0;

  constructor(private readonly pauseMs = 60_000) {}

  recordUnauthorized(now: number): void {
    this.closedUntil = now + this.pauseMs;
  }

  isClosed(now: number): boolean {
    return now < this.closedUntil;
  }
}
