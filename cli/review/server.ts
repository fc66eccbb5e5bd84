import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { AuditQueries } from '../../operations/audit-queries.ts';
import { listAwaitingReview } from '../../operations/review/awaiting.ts';
import { toReviewEventDetail, toReviewPutEventsEntry } from '../../operations/review/review-event.ts';
import { MAX_REVIEW_NOTE, REVIEW_VERDICTS } from '../../operations/review/review-record.ts';
import {
  REVIEWABLE_DECISIONS,
  type ReviewableDecision,
  ReviewVerdicts,
} from '../../operations/review/verdicts.ts';
import { type EventPublisher, publishAll } from '../../shared/events/publisher.ts';
import { REVIEW_CSS, renderReviewPage } from './page.ts';

/**
 * Only this server's own files: scripts and styles from the same origin (never inline), images from
 * the same origin (streamed from the bucket), requests back to the same origin, no frames, no forms
 * elsewhere, no <base>.
 */
export const REVIEW_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const SCRIPT = readFileSync(new URL('./assets/review.js', import.meta.url), 'utf8');
const MAX_BODY_BYTES = 16 * 1024;
const IMAGE_TYPES: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

export interface ReviewServerOptions {
  db: DynamoDBDocumentClient;
  tableName: string;
  s3: Pick<S3Client, 'send'>;
  /** The selfie bucket; images are only read from it. */
  bucket: string;
  publisher: EventPublisher;
  eventBusName: string;
  /** Who decides: recorded with each verdict. */
  reviewer: string;
  /** Shown on the page: which cloud this is. */
  where: string;
  /** The default list; the page's filter can change batch and decisions per request. */
  decisions: readonly ReviewableDecision[];
  batchId?: string;
  /** Without a batch: selfies decided within this long before each page load. */
  sinceMs: number;
  limit?: number;
  /** Tests fix it; otherwise 32 random bytes. */
  token?: string;
  now?: () => Date;
  /** Told of each verdict and of events that could not be published. */
  log?: (line: string) => void;
}

export interface RunningReviewServer {
  /** The URL to open, token included. */
  url: string;
  origin: string;
  token: string;
  close(): Promise<void>;
}

const verdictBodySchema = z.object({
  selfieId: z.string().min(1).max(2048),
  verdict: z.enum(REVIEW_VERDICTS),
  note: z.string().trim().max(MAX_REVIEW_NOTE).optional(),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The reviewer's web server, on 127.0.0.1 at a random port. Every request must carry the token
 * (query `token` for pages, images and assets; header `x-review-token` for verdicts, which a
 * cross-site form cannot set) and a Host of 127.0.0.1 or localhost at this port (a DNS-rebinding
 * page has its own host name). No CORS headers are ever sent, so no other origin may read answers.
 */
export async function startReviewServer(options: ReviewServerOptions): Promise<RunningReviewServer> {
  const token = options.token ?? randomBytes(32).toString('base64url');
  const expected = Buffer.from(token);
  const verdicts = new ReviewVerdicts(options.db, options.tableName);
  const queries = new AuditQueries(options.db, options.tableName);
  const now = options.now ?? (() => new Date());
  const log = options.log ?? (() => undefined);
  let port = 0;

  const tokenMatches = (given: string | null | undefined) => {
    const candidate = Buffer.from(given ?? '');
    return candidate.length === expected.length && timingSafeEqual(candidate, expected);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      throw new HttpError(421, 'This server answers only to 127.0.0.1 or localhost.');
    }
    const url = new URL(req.url ?? '/', `http://${host}`);
    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /verdict') {
      if (!tokenMatches(String(req.headers['x-review-token'] ?? '')))
        throw new HttpError(403, 'Wrong or missing token.');
      return verdict(req, res);
    }
    if (!tokenMatches(url.searchParams.get('token'))) {
      throw new HttpError(403, 'Wrong or missing token: open the URL `liveness-batch review` printed.');
    }
    if (route === 'GET /') return page(url, res);
    if (route === 'GET /review.js') return send(res, 200, 'text/javascript; charset=utf-8', SCRIPT);
    if (route === 'GET /review.css') return send(res, 200, 'text/css; charset=utf-8', REVIEW_CSS);
    if (route === 'GET /image') return image(url.searchParams.get('id') ?? '', res);
    throw new HttpError(req.method === 'GET' || req.method === 'POST' ? 404 : 405, 'Not here.');
  };

  const page = async (url: URL, res: ServerResponse) => {
    const batchId =
      url.searchParams.get('batch')?.trim() || (url.searchParams.has('batch') ? undefined : options.batchId);
    const included = url.searchParams.getAll('include');
    const decisions: ReviewableDecision[] = url.searchParams.has('batch')
      ? ['REVIEW', ...REVIEWABLE_DECISIONS.filter((d) => d !== 'REVIEW' && included.includes(d))]
      : [...options.decisions];
    const list = await listAwaitingReview(queries, {
      decisions,
      ...(batchId ? { batchId } : {}),
      range: {
        from: new Date(now().getTime() - options.sinceMs).toISOString(),
        // A minute ahead: a decision written while the page loads is not missed.
        to: new Date(now().getTime() + 60_000).toISOString(),
      },
      limit: options.limit ?? 200,
    });
    send(
      res,
      200,
      'text/html; charset=utf-8',
      renderReviewPage({
        token,
        reviewer: options.reviewer,
        where: options.where,
        items: list.items,
        total: list.total,
        ...(batchId ? { batchId } : {}),
        decisions,
      }),
    );
  };

  const image = async (selfieId: string, res: ServerResponse) => {
    const result = selfieId ? await verdicts.getResult(selfieId) : undefined;
    if (!result || result.bucket !== options.bucket) throw new HttpError(404, 'No such selfie.');
    let object: GetObjectCommandOutput;
    try {
      object = await options.s3.send(
        new GetObjectCommand({
          Bucket: result.bucket,
          Key: result.key,
          ...(result.versionId ? { VersionId: result.versionId } : {}),
        }),
      );
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') {
        throw new HttpError(
          404,
          'The upload is no longer in the bucket (retention or purge; the local cloud also drops the oldest NOT_VERIFIED, then REVIEW, images beyond its review-image memory budget, 64 MiB by default).',
        );
      }
      throw error;
    }
    // Streamed through, never buffered on disk; the type comes from preflight's sniffing, never the key.
    res.writeHead(200, {
      ...securityHeaders,
      'content-type': IMAGE_TYPES[result.preflight?.format ?? ''] ?? 'application/octet-stream',
    });
    await pipeline(object.Body as Readable, res);
  };

  const verdict = async (req: IncomingMessage, res: ServerResponse) => {
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      throw new HttpError(415, 'Send JSON.');
    }
    const parsed = verdictBodySchema.safeParse(await readJson(req));
    if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => i.message).join('; '));
    const { selfieId, verdict: choice } = parsed.data;
    const note = parsed.data.note || undefined;
    if (choice === 'DECLINED' && !note) throw new HttpError(400, 'A note is required to decline.');
    const outcome = await verdicts.record({
      selfieId,
      verdict: choice,
      ...(note ? { note } : {}),
      reviewer: options.reviewer,
      at: now().toISOString(),
    });
    if (outcome.kind === 'missing') throw new HttpError(404, 'No such selfie.');
    if (outcome.kind === 'not-reviewable') {
      throw new HttpError(409, `This selfie is ${outcome.state} now; it is not waiting for review.`);
    }
    if (outcome.kind === 'already-reviewed') {
      const first = outcome.review;
      return sendJson(res, 409, {
        message: `Already decided: ${first.verdict} by ${first.reviewer} at ${first.at}.`,
        review: first,
      });
    }
    log(`${outcome.review.verdict} ${selfieId} by ${outcome.review.reviewer}`);
    // The verdict is recorded; the event tells the webhook and consumers. A failure to publish does
    // not undo the verdict (the table is the record): the reviewer is told, and so is the terminal.
    const detail = toReviewEventDetail(outcome.result, outcome.review);
    const unpublished = await publishAll(
      options.publisher,
      [toReviewPutEventsEntry(detail, options.eventBusName)],
      {
        maxResendRounds: 3,
      },
    );
    const warning = unpublished[0]
      ? `recorded, but the event was not published (${unpublished[0].errorCode}); the history item holds the verdict`
      : undefined;
    if (warning) log(`${selfieId}: ${warning}`);
    return sendJson(res, 200, { review: outcome.review, ...(warning ? { warning } : {}) });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpError) {
        sendJson(res, error.status, { message: error.message });
        return;
      }
      log(`review server: ${error instanceof Error ? error.message : String(error)}`);
      sendJson(res, 500, { message: 'The review server failed; see its terminal.' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/?${new URLSearchParams({ token })}`,
    origin,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const securityHeaders = {
  'content-security-policy': REVIEW_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // The token is in the URL: never send it on as a Referer.
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...securityHeaders, 'content-type': type });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'Too large.');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'Not JSON.');
  }
}
