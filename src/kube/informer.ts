// A watch-backed cache of one kind, as client-go's informers: listed once in pages (no response
// holds every object), then kept current by a watch resumed from the last resourceVersion seen
// (bookmarks included), and listed again only when the server has compacted that version (410).
// Objects are kept in the projected form the caller needs: managedFields, status and annotations
// are most of a VirtualService's size, and the controller keeps 10,000 or more of them.
import { ApiError, listPages, type KubeApi, type ListOptions } from './api.js';
import type { KObject } from '../model/object.js';

export interface InformerOptions<T> {
  apiVersion: string;
  kind: string;
  namespace?: string;
  /** Only objects of this field selector (metadata.name=X: RBAC can then grant list and watch on that name alone). */
  fieldSelector?: string;
  /** What to keep of each object (keep it small). */
  project: (o: KObject) => T;
  /** Called after the first list and after each change applied. */
  onChange: () => void;
  /** Called when a list or watch request fails; the informer retries after retryMs. */
  onError: (e: unknown, retryMs: number) => void;
  /** Called when a request succeeds (liveness). */
  onSuccess: () => void;
  /** Called after each full list (the first, and any after a 410). */
  onList?: () => void;
  signal: AbortSignal;
  pageSize?: number;
  /** How long one watch request lasts before it is resumed (the server ends it). */
  watchSeconds?: number;
  /** A watch that ends sooner than this is resumed after a backoff that starts at it and doubles to 30 s (no busy loop on a server that closes at once). */
  minWatchMs?: number;
}

const keyOf = (o: KObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class Informer<T> {
  private items = new Map<string, T>();
  private resourceVersion = '';
  /** Lists done (1 unless the server compacted the version a watch resumed from). */
  lists = 0;

  constructor(
    private readonly kube: KubeApi,
    private readonly o: InformerOptions<T>,
  ) {}

  get synced(): boolean {
    return this.lists > 0;
  }

  /** The cached objects, by "namespace/name" (namespace empty for cluster-scoped ones). */
  get cache(): ReadonlyMap<string, T> {
    return this.items;
  }

  /** Lists, then watches until the signal aborts; retries failures and watches that end at once with backoff (1 s doubling to 30 s). */
  async run(): Promise<void> {
    const minWatchMs = this.o.minWatchMs ?? 1000;
    let delay = 0;
    while (!this.o.signal.aborted) {
      try {
        if (!this.resourceVersion) await this.relist();
        const started = Date.now();
        await this.watchOnce();
        // A watch the server ends at once (it closes every watch, or a proxy does) is backed off like
        // a failure: resuming it every minWatchMs for ever would be a request a second per informer,
        // and an early end must not reset the backoff of failures either. A watch that lasted does.
        delay = Date.now() - started < minWatchMs ? nextBackoff(delay, minWatchMs) : 0;
        await abortableSleep(delay, this.o.signal);
      } catch (e) {
        if (this.o.signal.aborted) return;
        // The version to resume from is gone: only a new list can tell what changed since.
        if (e instanceof ApiError && e.status === 410) this.resourceVersion = '';
        delay = nextBackoff(delay);
        this.o.onError(e, delay);
        await abortableSleep(delay, this.o.signal);
      }
    }
  }

  private async relist(): Promise<void> {
    const fresh = new Map<string, T>();
    const { apiVersion, kind, namespace, fieldSelector, project } = this.o;
    // listPages starts again from the first page when a continue token expires (410): the pages read
    // before it may hold objects deleted since, so a first page (no continue token) empties the map.
    const pager: KubeApi = Object.create(this.kube);
    pager.list = <L extends KObject>(av: string, k: string, opts?: ListOptions) => {
      if (!opts?.continue) fresh.clear();
      return this.kube.list<L>(av, k, opts);
    };
    const rv = await listPages(pager, apiVersion, kind, { namespace, fieldSelector }, (item) => fresh.set(keyOf(item), project(item)), this.o.pageSize);
    this.items = fresh;
    this.resourceVersion = rv;
    this.lists++;
    this.o.onList?.();
    this.o.onSuccess();
    this.o.onChange();
  }

  private async watchOnce(): Promise<void> {
    const { apiVersion, kind, namespace, fieldSelector, project, signal } = this.o;
    // Each watch gets a signal of its own, linked to the informer's only while it runs: the client adds
    // an abort listener to the signal it is given and keeps it, and the informer's signal outlives
    // thousands of watches (3,000 watches: 3,000 listeners, each holding its request, +5.5 MiB).
    const watch = new AbortController();
    const abort = () => watch.abort();
    signal.addEventListener('abort', abort, { once: true });
    if (signal.aborted) watch.abort(); // aborted during the relist: the listener would never fire
    try {
      await this.kube.watch(
        apiVersion,
        kind,
        {
          namespace,
          fieldSelector,
          resourceVersion: this.resourceVersion,
          signal: watch.signal,
          timeoutSeconds: this.o.watchSeconds ?? 300,
          onBookmark: (rv) => (this.resourceVersion = rv),
        },
        (type, obj) => {
          if (type === 'DELETED') this.items.delete(keyOf(obj));
          else this.items.set(keyOf(obj), project(obj));
          if (obj.metadata.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
          this.o.onChange();
          return false;
        },
      );
    } finally {
      signal.removeEventListener('abort', abort);
    }
    this.o.onSuccess();
  }
}

/** Retry delays: 1s (or firstMs), 2s, 4s … up to 30s. */
export function nextBackoff(previousMs: number, firstMs = 1000): number {
  return Math.min(30_000, previousMs ? previousMs * 2 : firstMs);
}

/** Resolves after ms, or at once when the signal aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
