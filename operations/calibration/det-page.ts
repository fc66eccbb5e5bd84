import { escapeHtml } from '../../toolkit/html.ts';
import type { Calibration, Curve } from './calibrate.ts';
import { formatThreshold } from './calibrate.ts';
import type { Rate } from './rates.ts';

/** The same policy as the batch report: inline CSS and SVG only, nothing runs and nothing is fetched. */
export const CALIBRATION_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/**
 * The inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9):
 * a DET curve plots both error rates on normal-deviate axes, where normal score distributions give
 * straight lines.
 */
export function probit(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  if (p > 1 - low) return -probit(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
    (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1)
  );
}

/** The DET axes run from 0.1% to 60%; rates outside are drawn on the edge (a rate of 0 cannot be placed on a probit axis). */
const AXIS_MIN = 0.001;
const AXIS_MAX = 0.6;
const TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6];
const COLOURS: Record<Curve['id'], string> = {
  live_score: '#1565c0',
  combined_min_live: '#2e7d32',
  combined_max_pop: '#c62828',
};

const pct = (r: number | null) => (r === null ? '–' : `${(r * 100).toFixed(2)}%`);
const rateText = (r: Rate) =>
  r.rate === null
    ? 'no presentations'
    : `${pct(r.rate)} (${r.errors}/${r.total}; 95% CI ${pct(r.ci95?.low ?? null)}–${pct(r.ci95?.high ?? null)})`;

function detCurve(calibration: Calibration): string {
  const size = 420;
  const margin = { left: 56, bottom: 44, top: 12, right: 12 };
  const plot = size - margin.left - margin.right;
  const lo = probit(AXIS_MIN);
  const hi = probit(AXIS_MAX);
  const clamp = (r: number) => Math.min(AXIS_MAX, Math.max(AXIS_MIN, r));
  const x = (r: number) => margin.left + ((probit(clamp(r)) - lo) / (hi - lo)) * plot;
  const y = (r: number) => margin.top + plot - ((probit(clamp(r)) - lo) / (hi - lo)) * plot;
  const grid = TICKS.map(
    (t) =>
      `<line x1="${x(t).toFixed(1)}" y1="${margin.top}" x2="${x(t).toFixed(1)}" y2="${margin.top + plot}" class="g"/>` +
      `<line x1="${margin.left}" y1="${y(t).toFixed(1)}" x2="${margin.left + plot}" y2="${y(t).toFixed(1)}" class="g"/>` +
      `<text x="${x(t).toFixed(1)}" y="${margin.top + plot + 14}" text-anchor="middle" class="l">${t * 100}</text>` +
      `<text x="${margin.left - 4}" y="${(y(t) + 3).toFixed(1)}" text-anchor="end" class="l">${t * 100}</text>`,
  ).join('');
  const lines = calibration.curves
    .map((c) => {
      const pts = c.points
        .filter((p) => p.apcer.rate !== null && p.bpcer.rate !== null)
        .map((p) => `${x(p.apcer.rate as number).toFixed(1)},${y(p.bpcer.rate as number).toFixed(1)}`);
      return pts.length === 0
        ? ''
        : `<polyline class="curve" data-curve="${escapeHtml(c.id)}" fill="none" stroke="${COLOURS[c.id]}" stroke-width="2" points="${pts.join(' ')}"><title>${escapeHtml(c.title)}</title></polyline>`;
    })
    .join('');
  const current = calibration.current;
  const marker =
    current.apcer.rate !== null && current.bpcer.rate !== null
      ? `<circle id="current-point" cx="${x(current.apcer.rate).toFixed(1)}" cy="${y(current.bpcer.rate).toFixed(1)}" r="5" fill="#000"><title>current thresholds: APCER ${pct(current.apcer.rate)}, BPCER ${pct(current.bpcer.rate)}</title></circle>`
      : '';
  const axisLabels =
    `<text x="${margin.left + plot / 2}" y="${size - 6}" text-anchor="middle">APCER (%)</text>` +
    `<text x="14" y="${margin.top + plot / 2}" text-anchor="middle" transform="rotate(-90 14 ${margin.top + plot / 2})">BPCER (%)</text>`;
  return `<svg id="det" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" width="${size}" height="${size}" role="img" aria-label="DET curve: BPCER against APCER on normal-deviate axes"><rect x="${margin.left}" y="${margin.top}" width="${plot}" height="${plot}" fill="none" stroke="#999"/>${grid}${lines}${marker}${axisLabels}</svg>`;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1b1b1b;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta,.note{color:#555}table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}code{background:#f5f5f5;padding:1px 3px}
svg .g{stroke:#eee}svg text{font-size:11px;fill:#333}svg text.l{font-size:10px;fill:#555}
.legend span{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:4px}
`;

export interface CalibrationPageInput {
  calibration: Calibration;
  /** What was matched: `batch b1` or `decided 2026-11-01 … 2026-11-30`. */
  selection: string;
  labelsSource: string;
  warnings: string[];
  generatedAt: string;
}

/** One self-contained HTML page: the rates, the EERs, the recommended thresholds and the DET curve. */
export function renderCalibrationPage(input: CalibrationPageInput): string {
  const { calibration: c } = input;
  const th = c.thresholds;
  const thresholdsText =
    th.minLiveScore === undefined && th.maxPopScore === undefined
      ? 'none (the vendor status decides)'
      : [
          th.minLiveScore === undefined ? '' : `min-live-score ${th.minLiveScore}`,
          th.maxPopScore === undefined ? '' : `max-pop-score ${th.maxPopScore}`,
        ]
          .filter(Boolean)
          .join(', ');
  const row = (id: string, what: string, rates: { apcer: Rate; bpcer: Rate }) =>
    `<tr id="${id}"><th scope="row">${escapeHtml(what)}</th><td class="apcer">${escapeHtml(rateText(rates.apcer))}</td><td class="bpcer">${escapeHtml(rateText(rates.bpcer))}</td></tr>`;
  const eers = c.curves
    .map(
      (curve) =>
        `<tr data-curve="${escapeHtml(curve.id)}"><td><span style="background:${COLOURS[curve.id]}"></span>${escapeHtml(curve.title)}</td><td class="num eer">${curve.eer ? pct(curve.eer.eer) : '–'}</td><td class="num">${curve.eer ? escapeHtml(formatThreshold(curve.eer.threshold)) : '–'}</td></tr>`,
    )
    .join('');
  const target = c.target
    ? 'maxBpcer' in c.target
      ? `BPCER ≤ ${pct(c.target.maxBpcer)}, lowest APCER`
      : `APCER ≤ ${pct(c.target.maxApcer)}, lowest BPCER`
    : undefined;
  const recs = c.recommendations
    .map(
      (r) =>
        `<tr data-curve="${escapeHtml(r.curve)}"><td>${escapeHtml(c.curves.find((x) => x.id === r.curve)?.title ?? r.curve)}</td><td class="num">${escapeHtml(formatThreshold(r.threshold))}</td><td>${escapeHtml(rateText(r.rates.apcer))}</td><td>${escapeHtml(rateText(r.rates.bpcer))}</td><td>${r.flags ? `<code>${escapeHtml(r.flags)}</code><br><code>${escapeHtml(r.props ?? '')}</code>` : 'a score alone; not a rule the pipeline runs'}</td></tr>`,
    )
    .join('');
  const warnings = input.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CALIBRATION_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Liveness calibration: APCER and BPCER</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Presentation-attack error rates</h1>
<p class="meta">ISO/IEC 30107-3 terms, generated ${escapeHtml(input.generatedAt)} from ${escapeHtml(input.selection)}, labels from ${escapeHtml(input.labelsSource)}.
<span id="counts">${c.counts.bonaFide} bona fide, ${c.counts.attack} attack presentations</span>.
APCER: attacks accepted (decision VERIFIED). BPCER: bona fide presentations not accepted (REVIEW and NOT_VERIFIED).
Intervals are 95% Wilson score intervals.</p>
<h2>At the current thresholds</h2>
<table id="rates"><thead><tr><th></th><th>APCER</th><th>BPCER</th></tr></thead><tbody>
${row('rates-recorded', 'decisions as recorded', c.recorded)}
${row('rates-current', `pipeline rule at ${thresholdsText}`, c.current)}
</tbody></table>
<h2>Equal error rate</h2>
<table id="eer" class="legend"><thead><tr><th>threshold swept</th><th>EER</th><th>at t</th></tr></thead><tbody>${eers}</tbody></table>
<p class="note">The EER is the mean of APCER and BPCER at the swept threshold where they are closest.</p>
${
  target
    ? `<h2>Thresholds for ${escapeHtml(target)}</h2>
<table id="recommendations"><thead><tr><th>threshold swept</th><th>t</th><th>APCER</th><th>BPCER</th><th>pass as</th></tr></thead><tbody>${recs}</tbody></table>
${c.recommendations.length === 0 ? '<p class="note">No threshold meets the target on this set.</p>' : ''}`
    : ''
}
<h2>DET curve</h2>
<figure>${detCurve(c)}<figcaption class="note">BPCER against APCER on normal-deviate axes (0.1%–60%); rates of 0 are drawn on the axis edge. The dot is the pipeline rule at the current thresholds.</figcaption></figure>
<h2>Warnings (${input.warnings.length})</h2>
<ul id="warnings">${warnings}</ul>
</body>
</html>
`;
}
