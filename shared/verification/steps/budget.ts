import type { BudgetScope } from '../../results/spend-budget.ts';
import type { DeliveryRun } from '../delivery.ts';

/**
 * Budget: before any call that may be charged, one unit of every configured spend cap is reserved in
 * one atomic conditional write per cap; a cap that refuses parks the selfie as HELD. A call whose
 * answer says nothing was debited gives its units back, so the budget counts paid plus uncertain calls.
 */
export class SpendReservation {
  private reserved: BudgetScope[] = [];

  constructor(private readonly run: DeliveryRun) {}

  private scopes(): { scope: BudgetScope; limit: number }[] {
    const { spendCap } = this.run.deps;
    const scopes: { scope: BudgetScope; limit: number }[] = [];
    if (spendCap.perBatch !== undefined) {
      scopes.push({ scope: { kind: 'batch', batchId: this.run.message.batchId }, limit: spendCap.perBatch });
    }
    if (spendCap.perDay !== undefined) {
      scopes.push({
        scope: { kind: 'day', day: this.run.now().toISOString().slice(0, 10) },
        limit: spendCap.perDay,
      });
    }
    return scopes;
  }

  /** Whether every cap has room now, by reading (a HELD selfie looks before it leaves HELD). */
  async hasRoom(): Promise<boolean> {
    for (const { scope, limit } of this.scopes()) {
      const state = await this.run.deps.budget.read(scope);
      if (state.spent >= Math.max(limit, state.raisedLimit ?? 0)) return false;
    }
    return true;
  }

  /** Reserves one unit for the next call; false (with nothing left reserved) when a cap is reached. */
  async reserve(): Promise<boolean> {
    const reserved: BudgetScope[] = [];
    for (const { scope, limit } of this.scopes()) {
      if (!(await this.run.deps.budget.reserve(scope, limit))) {
        for (const taken of reserved) await this.run.deps.budget.refund(taken);
        return false;
      }
      reserved.push(scope);
    }
    this.reserved = reserved;
    return true;
  }

  /** The reserved call cost nothing (or was never made): give its units back. */
  async refund(): Promise<void> {
    const reserved = this.reserved;
    this.reserved = [];
    for (const scope of reserved) await this.run.deps.budget.refund(scope);
  }

  /** The call may have cost money: its units stay spent. */
  keep(): void {
    this.reserved = [];
  }
}
