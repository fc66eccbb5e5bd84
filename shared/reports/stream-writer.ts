import type { Writable } from 'node:stream';

/**
 * Writes text to a stream and waits for 'drain' whenever the stream's buffer is full, so a slow
 * consumer (a pipe, a file on a slow disk) slows the producer down instead of piling rows up in memory.
 */
export class BackpressureWriter {
  constructor(private readonly out: Writable) {}

  async write(text: string): Promise<void> {
    if (text.length === 0) return;
    if (this.out.write(text)) return;
    const out = this.out;
    await new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        out.off('drain', onDrain);
        out.off('error', onError);
        out.off('close', onClose);
      };
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onError = (error: Error) => {
        cleanup();
        reject(error);
      };
      const onClose = () => {
        cleanup();
        reject(new Error('the output closed before everything was written'));
      };
      out.on('drain', onDrain);
      out.on('error', onError);
      out.on('close', onClose);
    });
  }
}
