import { describe, expect, it } from 'vitest';
import { concurrencyLimit } from '../../shared/concurrency.ts';

/** A promise the test settles by hand, so what runs when is decided by the test, not by timers. */
function deferred() {
  let resolve: () => void = () => undefined;
  let reject: (error: Error) => void = () => undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('concurrencyLimit (the worker gates its records with it)', () => {
  it('runs at most the limit at once, starts the next in order as each ends, failures included', async () => {
    // Prepare
    const inTurn = concurrencyLimit(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((gate, i) =>
      inTurn(async () => {
        started.push(i);
        await gate.promise;
        return i;
      }),
    );
    const outcomes = Promise.allSettled(runs);

    // Act / Assess: two run, the others wait; a failure frees its slot like a success
    await settle();
    expect(started).toEqual([0, 1]);
    gates[1]?.reject(new Error('record failed'));
    await settle();
    expect(started).toEqual([0, 1, 2]);
    gates[0]?.resolve();
    await settle();
    expect(started).toEqual([0, 1, 2, 3]);
    gates[2]?.resolve();
    gates[3]?.resolve();
    expect(await outcomes).toMatchObject([
      { status: 'fulfilled', value: 0 },
      { status: 'rejected' },
      { status: 'fulfilled', value: 2 },
      { status: 'fulfilled', value: 3 },
    ]);
  });
});
