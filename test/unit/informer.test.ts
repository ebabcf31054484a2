// Paged lists and the controller's informer cache, against the in-memory KubeApi (which pages and
// replays changes from a resourceVersion as the API server does; e2e runs them on the real one).
// How its watches are resumed over minutes runs on jest's fake timers: no real time passes.
import { getEventListeners } from 'node:events';
import { jest } from '@jest/globals';
import { ApiError, listPages } from '../../src/kube/api.js';
import { abortableSleep, Informer, type InformerOptions } from '../../src/kube/informer.js';
import type { KObject } from '../../src/model/object.js';
import { MemoryKube } from './memory-kube.js';

const service = (i: number): KObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: `svc-${i}`, namespace: `ns-${i % 7}` },
  spec: { ports: [{ name: 'http', port: 9000 + (i % 3) }] },
});

function startInformer(kube: MemoryKube, namespace?: string, options: Partial<Omit<InformerOptions<unknown>, 'project'>> = {}) {
  const stop = new AbortController();
  const errors: unknown[] = [];
  const informer = new Informer(kube, {
    apiVersion: 'v1',
    kind: 'Service',
    namespace,
    project: (o) => ({ port: o.spec?.ports?.[0]?.port as number }),
    onChange: () => {},
    onError: (e) => errors.push(e),
    onSuccess: () => {},
    signal: stop.signal,
    pageSize: 50,
    minWatchMs: 5,
    ...options,
  });
  const done = informer.run();
  return { informer, errors, signal: stop.signal, stop: () => (stop.abort(), done) };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('paged lists', () => {
  test('every item once, in pages of the given size; the resourceVersion of the first page', async () => {
    const kube = new MemoryKube();
    kube.seed(...Array.from({ length: 1234 }, (_, i) => service(i)));
    const seen: string[] = [];
    const rv = await listPages(kube, 'v1', 'Service', {}, (s) => seen.push(`${s.metadata.namespace}/${s.metadata.name}`), 100);
    expect(seen).toHaveLength(1234);
    expect(new Set(seen).size).toBe(1234);
    expect(kube.calls.filter((c) => c.verb === 'list')).toHaveLength(13);
    expect(rv).toBe((await kube.list('v1', 'Service', { limit: 1 })).resourceVersion);
  });

  test('an expired continue token (410) restarts the list; a 410 on the first page is the caller’s', async () => {
    const kube = new MemoryKube();
    kube.seed(...Array.from({ length: 250 }, (_, i) => service(i)));
    let lists = 0;
    kube.failWhen = (c) => (c.verb === 'list' && ++lists === 2 ? new ApiError(410, 'Expired', 'continue token expired', 'GET', 'services') : undefined);
    const seen = new Set<string>();
    await listPages(kube, 'v1', 'Service', {}, (s) => seen.add(s.metadata.name), 100);
    expect(seen.size).toBe(250);
    expect(lists).toBe(5); // page 1, expired page 2, then pages 1-3 again

    kube.failWhen = (c) => (c.verb === 'list' ? new ApiError(410, 'Expired', 'gone', 'GET', 'services') : undefined);
    await expect(listPages(kube, 'v1', 'Service', {}, () => {})).rejects.toThrow(/gone/);
  });
});

describe('the informer cache', () => {
  test('lists in pages, then follows adds, changes and deletes from the watch (no second list)', async () => {
    const kube = new MemoryKube();
    kube.seed(...Array.from({ length: 120 }, (_, i) => service(i)));
    const run = startInformer(kube);
    await until(() => run.informer.synced, 'the first list');
    expect(run.informer.cache.size).toBe(120);
    expect(run.informer.cache.get('ns-1/svc-1')).toEqual({ port: 9001 });

    await kube.create(service(500));
    await kube.mergePatch('v1', 'Service', 'svc-1', 'ns-1', { spec: { ports: [{ name: 'http', port: 7777 }] } });
    await kube.delete('v1', 'Service', 'svc-2', 'ns-2');
    await until(() => run.informer.cache.get('ns-1/svc-1')?.port === 7777 && !run.informer.cache.has('ns-2/svc-2'), 'the changes');
    expect(run.informer.cache.get('ns-3/svc-500')).toEqual({ port: 9002 });
    expect(run.informer.cache.size).toBe(120);
    expect(run.informer.lists).toBe(1);
    expect(kube.calls.filter((c) => c.verb === 'list')).toHaveLength(3); // 120 items in pages of 50
    await run.stop();
    expect(run.errors).toEqual([]);
  });

  test('a compacted resourceVersion (410) makes it list again, dropping what was deleted meanwhile', async () => {
    const kube = new MemoryKube();
    kube.seed(...Array.from({ length: 10 }, (_, i) => service(i)));
    const run = startInformer(kube);
    await until(() => run.informer.synced, 'the first list');
    kube.compactedBelow = Number.MAX_SAFE_INTEGER; // every resume is too old from now on
    await kube.delete('v1', 'Service', 'svc-3', 'ns-3');
    await until(() => run.informer.lists >= 2, 'a second list');
    kube.compactedBelow = 0;
    expect(run.informer.cache.has('ns-3/svc-3')).toBe(false);
    expect(run.informer.cache.size).toBe(9);
    expect(run.errors.some((e) => e instanceof ApiError && e.status === 410)).toBe(true);
    await run.stop();
  });

  test('a list whose continue token expires (410) starts its cache again: what was deleted meanwhile is dropped', async () => {
    const kube = new MemoryKube();
    kube.seed(...Array.from({ length: 120 }, (_, i) => service(i)));
    let lists = 0;
    kube.failWhen = (c) => {
      if (c.verb !== 'list' || ++lists !== 2) return undefined;
      void kube.delete('v1', 'Service', 'svc-0', 'ns-0'); // on the first page, already read
      return new ApiError(410, 'Expired', 'continue token expired', 'GET', 'services');
    };
    const run = startInformer(kube);
    await until(() => run.informer.synced, 'the first list');
    expect(run.informer.cache.has('ns-0/svc-0')).toBe(false);
    expect(run.informer.cache.size).toBe(119);
    expect(run.informer.lists).toBe(1); // listPages restarted it; no error reached the informer
    expect(run.errors).toEqual([]);
    await run.stop();
  });

  test('namespaced: only that namespace is cached; changes elsewhere are not seen', async () => {
    const kube = new MemoryKube();
    kube.seed(...Array.from({ length: 21 }, (_, i) => service(i)));
    const run = startInformer(kube, 'ns-0');
    await until(() => run.informer.synced, 'the first list');
    expect([...run.informer.cache.keys()].sort()).toEqual(['ns-0/svc-0', 'ns-0/svc-14', 'ns-0/svc-7']);
    await kube.create(service(22)); // ns-1
    await kube.create(service(28)); // ns-0
    await until(() => run.informer.cache.has('ns-0/svc-28'), 'the change in ns-0');
    expect(run.informer.cache.has('ns-1/svc-22')).toBe(false);
    expect(run.informer.cache.size).toBe(4);
    await run.stop();
  });
});

describe('the informer’s watches over time', () => {
  afterEach(() => jest.useRealTimers());

  test('each watch’s abort listener goes when it ends: after 200 watches the informer’s signal holds one, and stopping ends the open watch', async () => {
    jest.useFakeTimers();
    const kube = new MemoryKube();
    kube.seed(service(1));
    let aborted = 0;
    // As the real client does: a listener on the watch's signal, never removed. Each watch stays open
    // for minWatchMs, so none is backed off.
    kube.watchHook = async (opts) => {
      opts.signal!.addEventListener('abort', () => aborted++);
      await abortableSleep(1000, opts.signal!);
    };
    const run = startInformer(kube, undefined, { minWatchMs: 1000 });
    await jest.advanceTimersByTimeAsync(200_500);
    expect(kube.calls.filter((c) => c.verb === 'watch').length).toBeGreaterThanOrEqual(200);
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(1); // the open watch's link
    await run.stop();
    expect(aborted).toBe(1);
  });

  test('a watch that ends at once is resumed after 1 s, 2 s, 4 s … 30 s, not every second; a watch that lasts resets it; stopping ends the wait', async () => {
    jest.useFakeTimers();
    const kube = new MemoryKube();
    kube.seed(service(1));
    const t0 = Date.now();
    const started: number[] = [];
    let holdMs = 0;
    kube.watchHook = async (opts) => {
      started.push(Date.now() - t0);
      if (holdMs) await abortableSleep(holdMs, opts.signal!);
    };
    const run = startInformer(kube, undefined, { minWatchMs: 1000 });
    await jest.advanceTimersByTimeAsync(92_000);
    expect(started).toEqual([0, 1000, 3000, 7000, 15_000, 31_000, 61_000, 91_000]);

    holdMs = 1000; // the watch at 121 s lasts 1 s: the one after it starts at once
    await jest.advanceTimersByTimeAsync(121_500 - 92_000);
    holdMs = 0;
    await jest.advanceTimersByTimeAsync(1500);
    expect(started.slice(-3)).toEqual([121_000, 122_000, 123_000]);
    await run.stop(); // during the 2 s wait: no time passes
    expect(started).toHaveLength(11);
    expect(run.errors).toEqual([]);
  });

  test('watches that fail and end at once by turns back off together: an early end does not reset the failures’ backoff', async () => {
    jest.useFakeTimers();
    const kube = new MemoryKube();
    const t0 = Date.now();
    const started: number[] = [];
    const retries: number[] = [];
    kube.failWhen = (c) => {
      if (c.verb !== 'watch') return undefined;
      started.push(Date.now() - t0);
      return started.length % 2 ? new ApiError(500, 'InternalError', 'etcd is down', 'GET', 'services') : undefined;
    };
    const run = startInformer(kube, undefined, { minWatchMs: 1000, onError: (_e, retryMs) => retries.push(retryMs) });
    await jest.advanceTimersByTimeAsync(16_000);
    expect(started).toEqual([0, 1000, 3000, 7000, 15_000]);
    expect(retries).toEqual([1000, 4000, 16_000]);
    await run.stop();
  });
});
