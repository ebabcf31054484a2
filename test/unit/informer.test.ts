// Paged lists and the controller's informer cache, against the in-memory KubeApi (which pages and
// replays changes from a resourceVersion as the API server does; e2e runs them on the real one).
import { ApiError, listPages } from '../../src/kube/api.js';
import { Informer } from '../../src/kube/informer.js';
import type { KObject } from '../../src/model/object.js';
import { MemoryKube } from './memory-kube.js';

const service = (i: number): KObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: `svc-${i}`, namespace: `ns-${i % 7}` },
  spec: { ports: [{ name: 'http', port: 9000 + (i % 3) }] },
});

function startInformer(kube: MemoryKube, namespace?: string) {
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
  });
  const done = informer.run();
  return { informer, errors, stop: () => (stop.abort(), done) };
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
