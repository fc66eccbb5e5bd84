import type { DecisionRange } from './audit-queries.ts';

const DURATION_UNITS_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** `30d`, `12h`, `90m`, `45s`, `2w` → milliseconds; undefined when the text is not such a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = match[2] as keyof typeof DURATION_UNITS_MS;
  return amount > 0 ? amount * DURATION_UNITS_MS[unit] : undefined;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A decision-date range from user input. Dates are UTC days and both ends are inclusive
 * (`--from 2026-01-01 --to 2026-01-31` is all of January); full ISO instants are [from, to).
 * Returns an error message instead when the input is unusable.
 */
export function parseDecisionRange(from: string, to: string): DecisionRange | string {
  const start = DATE_ONLY.test(from) ? `${from}T00:00:00.000Z` : INSTANT.test(from) ? from : undefined;
  if (!start || Number.isNaN(Date.parse(start))) {
    return `--from must be a date (2026-01-31) or an ISO instant (2026-01-31T12:00:00Z), got "${from}"`;
  }
  let end: number;
  if (DATE_ONLY.test(to)) end = Date.parse(`${to}T00:00:00.000Z`) + DURATION_UNITS_MS.d;
  else if (INSTANT.test(to)) end = Date.parse(to);
  else end = Number.NaN;
  if (Number.isNaN(end)) {
    return `--to must be a date (2026-01-31) or an ISO instant (2026-01-31T12:00:00Z), got "${to}"`;
  }
  const range = { from: new Date(Date.parse(start)).toISOString(), to: new Date(end).toISOString() };
  if (range.from >= range.to) return '--from must be before --to';
  if (Date.parse(range.to) - Date.parse(range.from) > 366 * DURATION_UNITS_MS.d) {
    return 'the range may span at most 366 days (one index partition is read per day); split it';
  }
  return range;
}
