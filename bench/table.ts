/** One measured number of the benchmark table; `target` says what it is judged against, if anything. */
export interface BenchRow {
  section: string;
  metric: string;
  value: string;
  target?: string;
  /** 'met' | 'missed' when there is a target; empty otherwise. */
  verdict?: 'met' | 'missed';
}

export interface BenchOptions {
  /** A smaller run (fewer selfies and iterations), for a quick look. */
  quick: boolean;
  /** Progress notes go here (stderr), so stdout holds only the table. */
  log: (line: string) => void;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export const fixed = (n: number, digits = 2) => n.toFixed(digits);

export function judged(row: Omit<BenchRow, 'verdict' | 'target'>, target: string, passes: boolean): BenchRow {
  return { ...row, target, verdict: passes ? 'met' : 'missed' };
}

/** A Markdown table, so the output pastes straight into docs/benchmarks.md. */
export function renderTable(rows: readonly BenchRow[]): string {
  const header = ['section', 'metric', 'value', 'target', 'verdict'];
  const lines = [header, header.map(() => '---')];
  for (const row of rows) {
    lines.push([row.section, row.metric, row.value, row.target ?? '', row.verdict ?? '']);
  }
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
