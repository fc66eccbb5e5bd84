import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

/** A small synthetic picture; `shade` varies the bytes, so each shade has its own SHA-256. */
export async function makeImage(shade: number, format: 'jpeg' | 'png' | 'webp' = 'jpeg'): Promise<Buffer> {
  const image = sharp({
    create: {
      width: 64,
      height: 64,
      channels: 3,
      background: { r: shade % 256, g: (shade * 7) % 256, b: 90 },
    },
  });
  return format === 'jpeg'
    ? image.jpeg().toBuffer()
    : format === 'png'
      ? image.png().toBuffer()
      : image.webp().toBuffer();
}

export interface CannedAnswer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface CannedServer {
  url: string;
  /** The request bodies received, parsed. */
  received: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * A canned-answer HTTP server for answers the sandbox never gives (malformed bodies, odd casing, echoes).
 * `answer` may look at the parsed request, e.g. to echo its selfie back.
 */
export async function startCannedServer(
  answer: (request: Record<string, unknown>, req: IncomingMessage) => CannedAnswer,
): Promise<CannedServer> {
  const received: Array<Record<string, unknown>> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      received.push(request);
      const { status, body, headers } = answer(request, req);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/sfx-v4-verify/v4/id-service`,
    received,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface RawServer {
  /** The vendor-shaped endpoint URL on this server. */
  url: string;
  /** TCP connections accepted so far: 0 proves nothing was ever sent here. */
  connections(): number;
  stop(): Promise<void>;
}

/**
 * A local HTTP server whose handler gets the request with its whole body read and may then misbehave at
 * the socket level (hang, destroy the socket, promise a longer body than it sends). Real HTTP, no mocks.
 */
export async function startRawServer(
  handle: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void,
): Promise<RawServer> {
  let connections = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/sfx-v4-verify/v4/id-service`,
    connections: () => connections,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A fetch that rewrites the JSON body on its way out, to send what the client never would (still real HTTP). */
export function tamperingFetch(
  rewrite: (body: Record<string, unknown>) => Record<string, unknown>,
): typeof fetch {
  return (input, init) => {
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
    return fetch(input, { ...init, body: JSON.stringify(rewrite(body)) });
  };
}
