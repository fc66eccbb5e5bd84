import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Fault } from './outcomes.ts';

/**
 * What the sandbox answered, in one word: `completed` (VERIFIED / NOT VERIFIED), `pending`, `server_error`
 * (500), `throttled` (429), `no_answer` (hang), `redirect` (307), `forbidden` (the HTML 403), `refused`
 * (400 or 401: the request did not pass validation).
 */
export type LedgerOutcome =
  | 'completed'
  | 'pending'
  | 'server_error'
  | 'throttled'
  | 'no_answer'
  | 'redirect'
  | 'forbidden'
  | 'refused';

/** One request to a verify endpoint, as the sandbox would bill it. */
export interface LedgerEntry {
  /** Position in the ledger, continuing across restarts. */
  seq: number;
  /** ISO time the answer was decided. */
  at: string;
  /** The reference sent, or the one the sandbox generated (`generatedReference`); null when unreadable. */
  transactionReference: string | null;
  generatedReference?: true;
  /** SHA-256 of the decoded image; null when the request never got that far. */
  sha256: string | null;
  /** null for a request left hanging. */
  httpStatus: number | null;
  responseCode: string | null;
  verificationStatus: string | null;
  outcome: LedgerOutcome;
  /** Whether this request debited the wallet. Summed over the ledger, it is what the vendor would bill. */
  charged: boolean;
  /** Charged, then answered only after `lateAfterMs` (the client has given up by then). */
  late: boolean;
  /** Set on a repeated reference (dedupeReferences on): the `seq` of the charged entry answered again. */
  replayOf?: number;
  fault?: Fault;
  /** The answer's transactionDate, so a replay after a restart returns the same body. */
  transactionDate?: string;
}

export type NewLedgerEntry = Omit<LedgerEntry, 'seq' | 'at'>;

/** The key faults are decided under: the caller's reference, else the image. */
export function faultKeyOf(
  entry: Pick<LedgerEntry, 'transactionReference' | 'generatedReference' | 'sha256'>,
) {
  if (entry.transactionReference !== null && !entry.generatedReference) return entry.transactionReference;
  return entry.sha256 === null ? null : `image:${entry.sha256}`;
}

/**
 * Every request, in memory and (optionally) as JSON lines written synchronously in arrival order, so a
 * SIGKILL loses at most the line in flight. An existing file is loaded first: charges survive restarts.
 */
export class ChargeLedger {
  readonly #entries: LedgerEntry[] = [];
  readonly #chargedByReference = new Map<string, LedgerEntry>();
  readonly #callsByKey = new Map<string, number>();
  #fd: number | null = null;

  constructor(file?: string) {
    if (!file) return;
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        try {
          this.#index(JSON.parse(line) as LedgerEntry);
        } catch {
          // A line cut short by a crash: its request was never answered.
        }
      }
      this.#fd = openSync(file, 'a');
      if (text.length > 0 && !text.endsWith('\n')) writeSync(this.#fd, '\n');
    } else {
      this.#fd = openSync(file, 'a');
    }
  }

  #index(entry: LedgerEntry): void {
    this.#entries.push(entry);
    if (
      entry.charged &&
      entry.transactionReference !== null &&
      !this.#chargedByReference.has(entry.transactionReference)
    ) {
      this.#chargedByReference.set(entry.transactionReference, entry);
    }
    const key = faultKeyOf(entry);
    if (key !== null) this.#callsByKey.set(key, (this.#callsByKey.get(key) ?? 0) + 1);
  }

  append(fields: NewLedgerEntry, at: Date = new Date()): LedgerEntry {
    const last = this.#entries[this.#entries.length - 1];
    const entry: LedgerEntry = { seq: (last?.seq ?? 0) + 1, at: at.toISOString(), ...fields };
    this.#index(entry);
    if (this.#fd !== null) writeSync(this.#fd, `${JSON.stringify(entry)}\n`);
    return entry;
  }

  /** Earlier requests under this fault key (see `faultKeyOf`). */
  callsFor(key: string): number {
    return this.#callsByKey.get(key) ?? 0;
  }

  chargedFor(transactionReference: string): LedgerEntry | undefined {
    return this.#chargedByReference.get(transactionReference);
  }

  entries(): LedgerEntry[] {
    return this.#entries.map((e) => ({ ...e }));
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}
