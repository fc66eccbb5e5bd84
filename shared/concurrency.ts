/**
 * Runs `work` over `items` with at most `limit` in flight. A slot is refilled as soon as any item
 * finishes, so one slow item never idles the others (unlike fixed chunks of `limit`).
 */
export async function forEachWithConcurrency<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}
