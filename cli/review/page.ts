import { REVIEWABLE_DECISIONS, type ReviewableDecision } from '../../operations/review/verdicts.ts';
import type { SelfieResult } from '../../shared/results/records.ts';
import { html, type SafeHtml } from '../../toolkit/html.ts';

export interface ReviewPageInput {
  token: string;
  reviewer: string;
  where: string;
  items: SelfieResult[];
  total: number;
  batchId?: string;
  decisions: readonly ReviewableDecision[];
}

const score = (value: number | null | undefined) => (typeof value === 'number' ? value.toFixed(3) : '–');

function item(result: SelfieResult, index: number, token: string): SafeHtml {
  const image = `/image?${new URLSearchParams({ id: result.selfieId, token })}`;
  const field = (label: string, value: unknown, cls: string) =>
    html`<dt>${label}</dt><dd class="${cls}">${value === undefined || value === null || value === '' ? '–' : String(value)}</dd>`;
  return html`<article class="item" id="item-${index}" tabindex="-1" data-selfie-id="${result.selfieId}" data-state="open">
<img src="${image}" alt="the selfie under review" width="240">
<div class="facts">
<h2 class="key">${result.key}</h2>
<dl>
${field('decision', result.decision, 'decision')}
${field('reason', result.reason, 'reason')}
${field('vendor status', result.vendorStatus, 'vendor-status')}
${field('live_score', score(result.liveScore), 'live-score')}
${field('pop_score', score(result.popScore), 'pop-score')}
${field('vendor calls', result.attempts, 'attempts')}
${field('subject id', result.subjectId, 'subject-id')}
${field('correlation id', result.correlationId, 'correlation-id')}
${field('batch', result.batchId, 'batch')}
${field('decided at', result.decidedAt, 'decided-at')}
</dl>
<form class="verdict">
<label>note <span class="hint">(required to decline)</span><br><textarea name="note" maxlength="1000" rows="2"></textarea></label><br>
<button type="button" data-verdict="APPROVED">Approve <kbd>a</kbd></button>
<button type="button" data-verdict="DECLINED">Decline <kbd>d</kbd></button>
<p class="status" role="status"></p>
</form>
</div>
</article>`;
}

/** The reviewer's page. Every value goes through the escaping template; the script is a separate file. */
export function renderReviewPage(input: ReviewPageInput): string {
  const asset = (name: string) => `/${name}?${new URLSearchParams({ token: input.token })}`;
  const checkbox = (decision: ReviewableDecision) =>
    decision === 'REVIEW'
      ? ''
      : html`<label><input type="checkbox" name="include" value="${decision}"${input.decisions.includes(decision) ? html` checked` : ''}> ${decision}</label> `;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="review-token" content="${input.token}">
<title>Review selfies (${input.total})</title>
<link rel="stylesheet" href="${asset('review.css')}">
<script src="${asset('review.js')}" defer></script>
</head>
<body>
<header>
<h1>Selfies awaiting review <span id="total">${input.total}</span></h1>
<p class="meta">Reviewer <b id="reviewer">${input.reviewer}</b> on ${input.where}. Oldest first${input.items.length < input.total ? `, the first ${input.items.length}` : ''}.
Keys: <kbd>j</kbd>/<kbd>↓</kbd> next, <kbd>k</kbd>/<kbd>↑</kbd> previous, <kbd>a</kbd> approve, <kbd>d</kbd> decline (type the note, then <kbd>Enter</kbd>), <kbd>Esc</kbd> leaves the note.</p>
<form id="filter" method="get" action="/">
<input type="hidden" name="token" value="${input.token}">
<label>batch <input name="batch" value="${input.batchId ?? ''}" placeholder="all batches"></label>
${REVIEWABLE_DECISIONS.map(checkbox)}
<button type="submit">Filter</button>
</form>
</header>
<main id="items">
${input.items.length === 0 ? html`<p id="empty">Nothing is waiting for review.</p>` : input.items.map((r, i) => item(r, i, input.token))}
</main>
</body>
</html>
`.value;
}

export const REVIEW_CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{padding:12px 24px;background:#fff;border-bottom:1px solid #ddd;position:sticky;top:0;z-index:1}
h1{font-size:20px;margin:0}.meta{color:#555;margin:4px 0}
main{padding:12px 24px}
.item{display:flex;gap:16px;background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;margin-bottom:12px;scroll-margin-top:130px}
.item.current{outline:3px solid #1565c0}
.item[data-state="decided"],.item[data-state="taken"]{opacity:.55}
.item img{width:240px;height:auto;background:#eee;object-fit:contain}
.key{font-size:15px;margin:0 0 6px;word-break:break-all}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0 0 8px}dt{color:#555}dd{margin:0;word-break:break-all}
textarea{width:420px;max-width:100%}.hint{color:#777;font-size:12px}
.status{min-height:1.4em;margin:4px 0 0;font-weight:600}
kbd{border:1px solid #bbb;border-radius:3px;padding:0 4px;font-size:12px;background:#f5f5f5}
`;
