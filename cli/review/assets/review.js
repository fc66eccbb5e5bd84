// The review page's behaviour, served as a file of its own so the CSP can forbid inline scripts.
// Everything it writes into the page goes through textContent, never HTML.
const token = document.querySelector('meta[name="review-token"]').content;
const items = Array.from(document.querySelectorAll('article.item'));
let current = -1;

function select(index) {
  if (index < 0 || index >= items.length) return;
  items[current]?.classList.remove('current');
  current = index;
  const item = items[current];
  item.classList.add('current');
  item.scrollIntoView({ block: 'nearest' });
  item.focus({ preventScroll: true });
}

/** The next (or previous) item still open; stays put when there is none. */
function move(step) {
  for (let i = current + step; i >= 0 && i < items.length; i += step) {
    if (items[i].dataset.state === 'open') return select(i);
  }
}

function say(item, text) {
  item.querySelector('.status').textContent = text;
}

async function decide(item, verdict) {
  if (item?.dataset.state !== 'open') return;
  const textarea = item.querySelector('textarea');
  const note = textarea.value.trim();
  if (verdict === 'DECLINED' && note === '') {
    say(item, 'A note is required to decline: type it, then press Enter.');
    textarea.focus();
    return;
  }
  item.dataset.state = 'sending';
  for (const button of item.querySelectorAll('button')) button.disabled = true;
  let response;
  let body = {};
  try {
    response = await fetch('/verdict', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-review-token': token },
      body: JSON.stringify({ selfieId: item.dataset.selfieId, verdict, note }),
    });
    body = await response.json();
  } catch (error) {
    body = { message: `The review server did not answer (${error.message}); try again.` };
  }
  if (response?.ok) {
    item.dataset.state = 'decided';
    say(item, `${body.review.verdict} by ${body.review.reviewer}${body.warning ? ` (${body.warning})` : ''}`);
    textarea.blur();
    move(1);
  } else if (response?.status === 409) {
    item.dataset.state = 'taken';
    say(item, body.message);
    textarea.blur();
    move(1);
  } else {
    item.dataset.state = 'open';
    for (const button of item.querySelectorAll('button')) button.disabled = false;
    say(item, body.message ?? `The review server answered ${response?.status}`);
  }
}

for (const [index, item] of items.entries()) {
  for (const button of item.querySelectorAll('button[data-verdict]')) {
    button.addEventListener('click', () => {
      select(index);
      decide(item, button.dataset.verdict);
    });
  }
}

document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const item = items[current];
  if (event.target instanceof HTMLTextAreaElement) {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      decide(event.target.closest('article.item'), 'DECLINED');
    } else if (event.key === 'Escape') {
      event.target.blur();
      item?.focus({ preventScroll: true });
    }
    return;
  }
  if (event.target instanceof HTMLInputElement) return;
  if (event.key === 'j' || event.key === 'ArrowDown') move(1);
  else if (event.key === 'k' || event.key === 'ArrowUp') move(-1);
  else if (event.key === 'a') decide(item, 'APPROVED');
  else if (event.key === 'd') decide(item, 'DECLINED');
  else return;
  event.preventDefault();
});

move(1);
