// An in-memory KubeApi for unit tests of the use cases (plan, apply, journal, rollback) in
// milliseconds. It models only what those use cases rely on: resourceVersion conflicts, create
// conflicts, merge patches, ClusterIP allocation, Deployments that become Available and
// EndpointSlices for Services (kwok and the controllers do that in the e2e cluster). It is not an
// API server: everything it does not model is proven by the e2e tests against the real one.
import { ApiError, type DeleteOptions, type KubeApi, type ListOptions, type ListResult, type WatchOptions } from '../../src/kube/api.js';
import { updateState } from '../../src/kube/state.js';
import type { KObject } from '../../src/model/object.js';
import type { Spec } from '../../src/profile/schema.js';

type Verb = 'get' | 'list' | 'apply' | 'create' | 'replace' | 'patch' | 'delete' | 'watch';

export interface Call {
  verb: Verb;
  /** With kind, what RBAC names (a Gateway is Istio's or the Gateway API's). */
  apiVersion: string;
  kind: string;
  namespace?: string;
  name?: string;
  /** A server-side dry run: judged, never stored (not a write). */
  dryRun?: true;
}

const clone = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;
const keyOf = (apiVersion: string, kind: string, name: string, namespace?: string) => `${apiVersion}|${kind}|${namespace ?? ''}|${name}`;

function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Does o belong to the collection a list or watch asks for (kind, namespace, label and name selectors)? */
function inCollection(o: KObject, apiVersion: string, kind: string, opts: ListOptions): boolean {
  const name = /metadata\.name=([^,]+)/.exec(opts.fieldSelector ?? '')?.[1];
  return (
    o.apiVersion === apiVersion &&
    o.kind === kind &&
    (!opts.namespace || o.metadata.namespace === opts.namespace) &&
    matchesLabels(o, opts.labelSelector) &&
    (!name || o.metadata.name === name)
  );
}

/** A list or watch of one object by its field selector metadata.name: RBAC matches that name to a rule's resourceNames. */
function selectedName(opts: ListOptions): { name?: string } {
  const name = /metadata\.name=([^,]+)/.exec(opts.fieldSelector ?? '')?.[1];
  return name ? { name } : {};
}

function matchesLabels(o: KObject, selector?: string): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    const have = o.metadata.labels?.[k!];
    return v === undefined ? have !== undefined : have === v;
  });
}

export class MemoryKube implements KubeApi {
  readonly server = 'memory://test';
  requests = 0;
  /** Every call, in order (tests assert orders of effects on it). */
  readonly calls: Call[] = [];
  private objects = new Map<string, KObject>();
  private rv = 1;
  /** Every change, for watches from a resourceVersion. */
  private events: { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; obj: KObject }[] = [];
  /** Watches from a resourceVersion below this fail with 410 Gone (etcd compaction). */
  compactedBelow = 0;
  private ips = 10;
  /** Make a call fail: return an error to throw it, undefined to let it through. */
  failWhen?: (call: Call, obj?: KObject) => Error | undefined;
  /** Runs as each watch starts (after failWhen), with its options: a test can keep the watch open or listen on its signal. */
  watchHook?: (opts: WatchOptions) => Promise<void> | void;

  private record(call: Call, obj?: KObject): void {
    this.requests++;
    this.calls.push(call);
    const e = this.failWhen?.(call, obj);
    if (e) throw e;
  }

  /** Writes (not reads), as "verb Kind ns/name". */
  writes(): string[] {
    return this.calls
      .filter((c) => !['get', 'list', 'watch'].includes(c.verb) && !c.dryRun)
      .map((c) => `${c.verb} ${c.kind} ${c.namespace ? `${c.namespace}/` : ''}${c.name}`);
  }

  /** Puts objects in place without counting calls (the cluster as a test starts from). */
  seed(...objs: KObject[]): void {
    for (const o of objs) this.store(clone(o), true);
  }

  peek(apiVersion: string, kind: string, name: string, namespace?: string): KObject | undefined {
    const o = this.objects.get(keyOf(apiVersion, kind, name, namespace));
    return o && clone(o);
  }

  private store(o: KObject, isNew: boolean): KObject {
    o.metadata = { ...o.metadata, resourceVersion: String(this.rv++) };
    if (isNew) o.metadata.uid = `uid-${this.rv}`;
    if (o.kind === 'Service' && o.spec && !o.spec.clusterIP) o.spec.clusterIP = `10.96.0.${this.ips++}`;
    if (o.kind === 'Deployment') {
      // As the Deployment controller and kwok would have it: every replica available.
      const replicas = o.spec?.replicas ?? 1;
      o.metadata.generation = Number(o.metadata.generation ?? 0) + 1;
      o.status = {
        observedGeneration: o.metadata.generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
        conditions: [{ type: 'Available', status: 'True' }],
      };
    }
    this.objects.set(keyOf(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace), o);
    this.events.push({ rv: Number(o.metadata.resourceVersion), type: isNew ? 'ADDED' : 'MODIFIED', obj: clone(o) });
    return clone(o);
  }

  async serverVersion() {
    return { gitVersion: 'v1.35.4', major: '1', minor: '35' };
  }

  async get<T extends KObject = KObject>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T | undefined> {
    this.record({ verb: 'get', apiVersion, kind, namespace, name });
    return this.peek(apiVersion, kind, name, namespace) as T | undefined;
  }

  async list<T extends KObject = KObject>(apiVersion: string, kind: string, opts: ListOptions = {}): Promise<ListResult<T>> {
    this.record({ verb: 'list', apiVersion, kind, namespace: opts.namespace, ...selectedName(opts) });
    if (kind === 'EndpointSlice') return { items: this.endpointSlices(opts) as T[], resourceVersion: String(this.rv) };
    const items = [...this.objects.values()].filter((o) => inCollection(o, apiVersion, kind, opts));
    // Pages as the API server does: a continue token while more items follow (here an offset).
    const from = Number(opts.continue ?? 0);
    const to = opts.limit ? from + opts.limit : items.length;
    return { items: clone(items.slice(from, to)) as T[], resourceVersion: String(this.rv - 1), continue: to < items.length ? String(to) : undefined };
  }

  /** One ready slice per Service, with its ports (what the EndpointSlice controller would publish). */
  private endpointSlices(opts: ListOptions): KObject[] {
    const svcName = /kubernetes\.io\/service-name=([^,]+)/.exec(opts.labelSelector ?? '')?.[1];
    const svc = svcName && this.objects.get(keyOf('v1', 'Service', svcName, opts.namespace));
    if (!svc) return [];
    return [
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${svcName}-x`, namespace: opts.namespace },
        endpoints: [{ addresses: ['10.244.0.9'], conditions: { ready: true } }],
        ports: (svc.spec?.ports ?? []).map((p: any) => ({ name: p.name, port: p.targetPort ?? p.port })),
      },
    ];
  }

  async apply<T extends KObject = KObject>(obj: KObject, opts: { dryRun?: boolean } = {}): Promise<T> {
    this.record(
      {
        verb: 'apply',
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        namespace: obj.metadata.namespace,
        name: obj.metadata.name,
        ...(opts.dryRun ? { dryRun: true as const } : {}),
      },
      obj,
    );
    const live = this.objects.get(keyOf(obj.apiVersion, obj.kind, obj.metadata.name, obj.metadata.namespace));
    const next = clone(obj);
    if (live) {
      next.metadata = { ...live.metadata, ...next.metadata, uid: live.metadata.uid, generation: live.metadata.generation };
      if (live.kind === 'Service' && next.spec) next.spec.clusterIP = live.spec?.clusterIP;
    }
    if (opts.dryRun) return next as T;
    return this.store(next, !live) as T;
  }

  async create<T extends KObject = KObject>(obj: KObject, opts: { dryRun?: boolean } = {}): Promise<T> {
    this.record({ verb: 'create', apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name }, obj);
    if (this.objects.has(keyOf(obj.apiVersion, obj.kind, obj.metadata.name, obj.metadata.namespace))) {
      throw new ApiError(409, 'AlreadyExists', `${obj.kind} "${obj.metadata.name}" already exists`, 'POST', obj.kind);
    }
    if (opts.dryRun) return clone(obj) as T;
    return this.store(clone(obj), true) as T;
  }

  async replace<T extends KObject = KObject>(obj: KObject): Promise<T> {
    this.record({ verb: 'replace', apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name }, obj);
    const live = this.objects.get(keyOf(obj.apiVersion, obj.kind, obj.metadata.name, obj.metadata.namespace));
    if (!live) throw new ApiError(404, 'NotFound', `${obj.kind} "${obj.metadata.name}" not found`, 'PUT', obj.kind);
    if (obj.metadata.resourceVersion !== live.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again', 'PUT', obj.kind);
    }
    return this.store(clone(obj), false) as T;
  }

  async mergePatch<T extends KObject = KObject>(apiVersion: string, kind: string, name: string, namespace: string | undefined, patch: unknown): Promise<T> {
    this.record({ verb: 'patch', apiVersion, kind, namespace, name });
    const live = this.objects.get(keyOf(apiVersion, kind, name, namespace));
    if (!live) throw new ApiError(404, 'NotFound', `${kind} "${name}" not found`, 'PATCH', kind);
    return this.store(mergePatch(clone(live), patch), false) as T;
  }

  async delete(apiVersion: string, kind: string, name: string, namespace?: string, opts: DeleteOptions = {}): Promise<boolean> {
    this.record({ verb: 'delete', apiVersion, kind, namespace, name });
    const key = keyOf(apiVersion, kind, name, namespace);
    const live = this.objects.get(key);
    // As the API server: preconditions that do not hold are a 409, and nothing is deleted.
    const pre = opts.preconditions;
    if (live && pre && ((pre.uid && pre.uid !== live.metadata.uid) || (pre.resourceVersion && pre.resourceVersion !== live.metadata.resourceVersion)))
      throw new ApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${live.metadata.uid}`, 'DELETE', kind);
    if (live) this.events.push({ rv: this.rv++, type: 'DELETED', obj: clone(live) });
    return this.objects.delete(key);
  }

  /**
   * From a resourceVersion: replays the matching changes after it, then ends (as a watch that times
   * out); 410 if that version is compacted. Without one: the current objects as ADDED, then ends.
   */
  async watch(apiVersion: string, kind: string, opts: WatchOptions, onEvent: (type: string, obj: KObject) => boolean | void): Promise<boolean> {
    this.record({ verb: 'watch', apiVersion, kind, namespace: opts.namespace, ...selectedName(opts) });
    await this.watchHook?.(opts);
    if (!opts.resourceVersion) {
      const { items } = await this.list(apiVersion, kind, opts);
      for (const o of items) if (onEvent('ADDED', o)) return true;
      return false;
    }
    const from = Number(opts.resourceVersion);
    if (from < this.compactedBelow) throw new ApiError(410, 'Expired', `too old resource version: ${from}`, 'GET', kind);
    for (const ev of this.events) {
      if (ev.rv <= from || !inCollection(ev.obj, apiVersion, kind, opts)) continue;
      if (onEvent(ev.type, clone(ev.obj))) return true;
    }
    opts.onBookmark?.(String(this.rv - 1));
    return false;
  }

  close(): void {}
}

/** Records in acmg's state, as install would, that these rendered objects are acmg's install (profile minimal, version 0.0.0-test). */
export async function recordInstall(kube: KubeApi, spec: Spec, objects: KObject[], o: { namespace?: string; clusterDomain?: string } = {}): Promise<void> {
  await updateState(kube, o.namespace ?? 'istio-system', (st) => {
    st.install = {
      version: '0.0.0-test',
      profile: 'minimal',
      values: spec,
      clusterDomain: o.clusterDomain ?? 'cluster.local',
      objects: objects.map((x) => ({ apiVersion: x.apiVersion, kind: x.kind, name: x.metadata.name, namespace: x.metadata.namespace })),
      installedAt: '2026-01-01T00:00:00Z',
    };
  });
}
