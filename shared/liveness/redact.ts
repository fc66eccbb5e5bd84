/** What replaces request data found in a vendor answer. */
export const REDACTED = '[redacted]';

/** A run this long of base64 characters is treated as (part of) an image echoed back, whatever it holds. */
const BASE64_RUN = /[A-Za-z0-9+/_-]{100,}={0,2}/g;

function redactString(value: string, secrets: readonly string[]): string {
  let out = value;
  for (const secret of secrets) {
    if (secret.length > 0 && out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out.replace(BASE64_RUN, REDACTED);
}

/**
 * A copy of a parsed JSON value with every occurrence of the given secrets (the API key, the selfie's
 * base64) and every long base64-like run replaced. Vendors echo requests back in error bodies; results and
 * logs must never carry them.
 */
export function redactSecrets<T>(value: T, secrets: readonly string[]): T {
  if (typeof value === 'string') return redactString(value, secrets) as T;
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, secrets)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = redactSecrets(item, secrets);
    return out as T;
  }
  return value;
}

/** A short, single-line, secret-free text for a result's `detail`. */
export function safeDetail(text: string, secrets: readonly string[], maxLength = 160): string {
  const oneLine = redactString(text, secrets).replace(/\s+/g, ' ').trim();
  return oneLine.length > maxLength ? `${oneLine.slice(0, maxLength - 1)}…` : oneLine;
}
