// forEachBounded: at most `limit` at once, every item once, and after a failure nothing new starts.
import { forEachBounded } from '../../src/ops/bounded.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('bounded concurrency', () => {
  test('every item once, never more than the limit in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    await forEachBounded(
      Array.from({ length: 50 }, (_, i) => i),
      async (i) => {
        most = Math.max(most, ++inFlight);
        await tick();
        seen.push(i);
        inFlight--;
      },
      4,
    );
    expect(most).toBe(4);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  test('after a failure nothing new starts, the running ones finish, the first error is thrown', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const e = await forEachBounded(
      Array.from({ length: 20 }, (_, i) => i),
      async (i) => {
        started.push(i);
        if (i === 2) throw new Error('item 2 failed');
        await tick();
        if (i === 3) throw new Error('item 3 failed too');
        finished.push(i);
      },
      4,
    ).catch((x: Error) => x);
    expect((e as Error).message).toBe('item 2 failed');
    expect(started).toEqual([0, 1, 2, 3]); // the four started at once; none after 2 failed
    expect(finished.sort()).toEqual([0, 1]); // awaited before it returned (3 failed too: not reported)
  });

  test('no items: nothing runs', async () => {
    await forEachBounded([], () => Promise.reject(new Error('never')));
  });
});
