import { buildApp } from 'fauxqs';

export interface S3SqsEmulator {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * fauxqs serves S3 and SQS on one port inside this process. Its own `startFauxqs` listens on every
 * interface, so the app is built here and bound to loopback only.
 */
export async function startS3SqsEmulator(port = 0): Promise<S3SqsEmulator> {
  const app = buildApp({ logger: false, host: 'localhost' });
  const address = await app.listen({ port, host: '127.0.0.1' });
  const endpoint = address.replace('localhost', '127.0.0.1');
  return {
    endpoint,
    port: Number(new URL(endpoint).port),
    stop: () => app.close(),
  };
}
