import { once } from 'node:events';
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
    // once() rejects on 'error'; a close before 'drain' must fail too, or the writer waits forever.
    // The abort removes whichever listener did not fire, so long outputs do not pile listeners up.
    const done = new AbortController();
    try {
      await Promise.race([
        once(this.out, 'drain', { signal: done.signal }),
        once(this.out, 'close', { signal: done.signal }).then(() => {
          throw new Error('the output closed before everything was written');
        }),
      ]);
    } finally {
      done.abort();
    }
  }
}
