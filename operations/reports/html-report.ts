import { DECISIONS } from '../../shared/decision.ts';
import { html, SafeHtml } from '../../toolkit/html.ts';
import { reviewCounts } from '../review/verdicts.ts';
import { type BatchReportData, latencyBins, MAX_ATTENTION_ROWS, percentile } from './batch-report.ts';

const DECISION_COLOURS: Record<string, string> = {
  VERIFIED: '#2e7d32',
  NOT_VERIFIED: '#c62828',
  REVIEW: '#ef6c00',
  REJECTED: '#6d4c41',
  FAILED: '#455a64',
  RECEIVED: '#90a4ae',
  PROCESSING: '#90a4ae',
};

interface Bar {
  label: string;
  value: number;
  colour?: string;
}

/** A vertical bar chart as inline SVG (no script, no font download), with its numbers as text too. */
function barChart(title: string, bars: Bar[], id: string): SafeHtml {
  const width = 560;
  const height = 220;
  const top = 28;
  const bottom = 40;
  const left = 36;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const slot = (width - left - 8) / Math.max(1, bars.length);
  const barWidth = Math.max(4, slot * 0.7);
  const plot = height - top - bottom;
  const rects = bars.map((b, i) => {
    const h = Math.round((b.value / max) * plot);
    const x = left + i * slot + (slot - barWidth) / 2;
    const y = top + plot - h;
    const centre = (x + barWidth / 2).toFixed(1);
    return html`<rect x="${x.toFixed(1)}" y="${y}" width="${barWidth.toFixed(1)}" height="${h}" fill="${b.colour ?? '#1565c0'}"><title>${b.label}: ${b.value}</title></rect><text x="${centre}" y="${y - 4}" text-anchor="middle" class="v">${b.value}</text><text x="${centre}" y="${height - bottom + 14}" text-anchor="middle" class="l">${b.label}</text>`;
  });
  return html`<figure id="${id}"><figcaption>${title}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${title}"><line x1="${left}" y1="${top + plot}" x2="${width - 4}" y2="${top + plot}" stroke="#999"/>${rects}</svg></figure>`;
}

const scoreLabels = Array.from({ length: 10 }, (_, i) => `${i * 10}–${i * 10 + 10}`);

function money(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).format(amount);
  } catch {
    return `${amount.toFixed(2)} ${currency}`;
  }
}

/** A constant of this module, not data: the one piece that goes into the page unescaped. */
const STYLE = new SafeHtml(`
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1b1b1b;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:110px}
.card b{display:block;font-size:20px}.card span{color:#555;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}
svg text.v{font-size:11px;fill:#333}svg text.l{font-size:10px;fill:#555}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.key,td.reason{word-break:break-all}.note{color:#555;font-size:12px}
`);

/**
 * One self-contained HTML file: inline CSS and SVG, no script, no external resource (the CSP forbids
 * them). Built with the escaping template: every value from the data (keys and reasons come from
 * uploaders and the vendor) is escaped unless it is markup this module made.
 */
export function renderBatchReport(data: BatchReportData): string {
  const states = [...DECISIONS, 'RECEIVED', 'PROCESSING'].filter(
    (s) => (DECISIONS as readonly string[]).includes(s) || (data.byState[s] ?? 0) > 0,
  );
  const lat = data.latenciesMs;
  const retries = data.callsPerSelfie.reduce((sum, n, calls) => sum + (n ?? 0) * Math.max(0, calls - 1), 0);
  const cost = data.price ? money(data.paidCalls * data.price.perCall, data.price.currency) : undefined;
  const card = (id: string, value: string | number, label: string) =>
    html`<div class="card" id="${id}"><b>${value}</b><span>${label}</span></div>`;

  const countsRows = states.map(
    (s) =>
      html`<tr><th scope="row">${s}</th><td class="num" data-count="${s}">${data.byState[s] ?? 0}</td></tr>`,
  );
  const score = (n: number | null | undefined) => (typeof n === 'number' ? n.toFixed(3) : '');
  const attentionRows = data.attention.map(
    (r) =>
      html`<tr data-decision="${r.decision}"><td>${r.decision}</td><td class="key">${r.key}</td><td class="reason">${r.reason}</td><td>${r.vendorStatus}</td><td class="num">${score(r.liveScore)}</td><td class="num">${score(r.popScore)}</td><td class="num">${r.attempts}</td><td>${r.decidedAt}</td><td class="subject">${r.subjectId}</td><td class="correlation">${r.correlationId}</td></tr>`,
  );
  const more =
    data.attentionTotal > data.attention.length
      ? html`<p class="note">Showing the first ${MAX_ATTENTION_ROWS} of ${data.attentionTotal}. Export them all with <code>liveness-batch audit --batch ${data.batchId} --decision D --format csv</code>.</p>`
      : '';
  const outcomes = Object.entries(data.attemptsByOutcome)
    .map(([o, n]) => `${o} ${n}`)
    .join(', ');
  const pct = (q: number) => {
    const v = percentile(lat, q);
    return v === undefined ? '–' : `${v} ms`;
  };

  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Batch ${data.batchId}: liveness verification report</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Batch <span id="batch-id">${data.batchId}</span></h1>
<p class="meta">Liveness verification report, generated ${data.generatedAt} from the results table. Scores are the vendor's (0–100).</p>
<div class="cards">
${card('card-results', data.results, 'selfies')}
${card('card-paid', data.paidCalls, 'paid vendor calls')}
${card('card-uncertain', data.uncertainCalls, 'uncertain calls (may have cost money; reconcile settles them)')}
${card('card-cost', cost ?? 'n/a', data.price ? `estimated cost at ${money(data.price.perCall, data.price.currency)} per call` : 'estimated cost (pass --price-per-call)')}
${card('card-calls', data.vendorCalls, 'vendor calls in all')}
${card('card-retries', retries, 'retries')}
${card('card-duplicates', data.duplicatesReused, 'duplicates reused (not paid)')}
${card('card-attention', data.attentionTotal, 'need review or failed')}
${data.summary ? card('card-reviewed', `${reviewCounts(data.summary).reviewed} / ${reviewCounts(data.summary).awaiting}`, 'reviewed / awaiting review') : ''}
</div>
<h2>Decisions</h2>
<div class="charts">
<table id="decision-counts" style="width:auto"><thead><tr><th>decision</th><th>selfies</th></tr></thead><tbody>${countsRows}</tbody></table>
${barChart(
  'Selfies per decision',
  states.map((s) => ({ label: s, value: data.byState[s] ?? 0, colour: DECISION_COLOURS[s] ?? '#1565c0' })),
  'chart-decisions',
)}
</div>
<h2>Scores</h2>
<div class="charts">
${barChart(
  'live_score',
  data.liveScoreBins.map((value, i) => ({ label: scoreLabels[i] ?? '', value, colour: '#2e7d32' })),
  'chart-live',
)}
${barChart(
  'pop_score',
  data.popScoreBins.map((value, i) => ({ label: scoreLabels[i] ?? '', value, colour: '#c62828' })),
  'chart-pop',
)}
</div>
<h2>Vendor calls</h2>
<p id="latency-summary">${lat.length} timed calls; latency p50 ${pct(0.5)}, p90 ${pct(0.9)}, p99 ${pct(0.99)}, max ${lat.length ? `${lat[lat.length - 1]} ms` : '–'}. Attempt outcomes: ${outcomes}.</p>
<div class="charts">
${barChart('Vendor latency in ms (from attempt records)', latencyBins(lat), 'chart-latency')}
${barChart(
  'Selfies by number of vendor calls',
  Array.from(data.callsPerSelfie, (value, calls) => ({
    label: String(calls),
    value: value ?? 0,
    colour: '#6a1b9a',
  })),
  'chart-calls',
)}
</div>
<h2>Needs review or failed (${data.attentionTotal})</h2>
<table id="attention">
<thead><tr><th>decision</th><th>key</th><th>reason</th><th>vendor status</th><th>live</th><th>pop</th><th>calls</th><th>decided at</th><th>subject id</th><th>correlation id</th></tr></thead>
<tbody>${attentionRows}</tbody>
</table>
${more}
</body>
</html>
`.toString();
}
