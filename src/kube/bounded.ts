// Requests that do not depend on each other (per-service writes, the shards of acmg's state) run a
// few at a time: on a busy API server each request waits mostly on others (admission webhooks,
// etcd), so 10,000 of them one by one take most of an hour. The API server's priority and fairness
// still bounds what one client may take.

/** Requests in flight at most, per step (kubectl's default burst is far higher; this stays polite). */
export const WRITE_CONCURRENCY = 8;

/**
 * Runs fn over items with at most `limit` running at once, in order of start. After the first
 * failure nothing new starts; the ones running are awaited (so what happened is known when it
 * returns) and the first error is thrown.
 */
export async function forEachBounded<T>(items: readonly T[], fn: (item: T) => Promise<unknown>, limit = WRITE_CONCURRENCY): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}
