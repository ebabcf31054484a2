// acmg's state in the install namespace, sharded so it grows with the mesh: the ConfigMap
// `acmg-state` holds the install record and what sync derived; each migrated service's namespace
// has its own ConfigMap `acmg-state-<namespace>` with that namespace's migrations. Every shard is
// small, written only by runs that change that namespace, and guarded by its resourceVersion, so
// concurrent runs on different namespaces never conflict and runs on the same one retry and merge.
// State written by acmg before sharding (migrations inside `acmg-state`) is read as is and moved
// into shards by the first run that changes migrations.
import type { KObject } from '../model/object.js';
import { DEFAULT_INSTALL_NAMESPACE, STATE_NAME, shardName, type InstallRecord, type MigrationRecord, type State, type SyncedRecord } from '../model/state.js';
import { listenersProblems, migrationsProblems, objectProblems, shardProblems, stateRefusal } from '../model/state-validate.js';
import { COMPONENT, MANAGED_SELECTOR, acmgLabels } from '../render/labels.js';
import { VERSION } from '../version.js';
import { retryOnConflict, type KubeApi } from './api.js';
import { forEachBounded } from './bounded.js';
import { DECLARATIVE_STATUS_NAME } from './declarative-status.js';

/** The label that names the namespace a shard holds. */
export const SHARD_NAMESPACE_LABEL = 'acmg.io/state-namespace';
const SHARD_SELECTOR = `${MANAGED_SELECTOR},${COMPONENT}=state-shard`;

/** The state as read, with the objects it came from (for guarded writes). */
interface Loaded {
  main?: KObject;
  shards: Map<string, KObject>;
  /** Migrations still stored in the main ConfigMap (state written before sharding). */
  legacy: Record<string, MigrationRecord>;
  state: State;
}

/**
 * The state in these ConfigMaps, checked before anything acts on it (model/state-validate.ts):
 * state that is not JSON or breaks the rules is refused with exit 2, every problem named by its
 * ConfigMap, record and field.
 */
function decode(namespace: string, main: KObject | undefined, shards: KObject[]): Loaded {
  const problems = new Map<string, string[]>();
  const report = (configMap: string, ps: string[]) => {
    if (ps.length) problems.set(configMap, [...(problems.get(configMap) ?? []), ...ps]);
  };
  const parse = (configMap: string, data: Record<string, string> | undefined, key: string): unknown => {
    const text = data?.[key];
    if (!text) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      report(configMap, [`data.${key} is not valid JSON (${e instanceof Error ? e.message : String(e)})`]);
      return undefined;
    }
  };
  const data = (main?.data ?? {}) as Record<string, string>;
  const install = parse(STATE_NAME, data, 'install');
  const synced = parse(STATE_NAME, data, 'synced');
  const listeners = parse(STATE_NAME, data, 'listeners');
  const legacy = parse(STATE_NAME, data, 'migrations');
  report(STATE_NAME, [...objectProblems('install', install), ...objectProblems('synced', synced)]);
  if (listeners !== undefined) report(STATE_NAME, listenersProblems(listeners));
  const domain = (install as Partial<InstallRecord> | undefined)?.clusterDomain;
  const clusterDomain = typeof domain === 'string' ? domain : undefined;
  if (legacy !== undefined) report(STATE_NAME, migrationsProblems(legacy, { clusterDomain }));
  const byNamespace = new Map<string, KObject>();
  const fromShards: Record<string, MigrationRecord>[] = [];
  for (const s of [...shards].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0))) {
    const ns = s.metadata.labels?.[SHARD_NAMESPACE_LABEL];
    if (!ns) continue;
    const name = s.metadata.name;
    const identity = shardProblems(name, ns, shardName(ns));
    report(name, identity);
    byNamespace.set(ns, s);
    const records = parse(name, s.data, 'migrations');
    if (records === undefined) continue;
    report(name, migrationsProblems(records, identity.length ? { clusterDomain } : { clusterDomain, shardNamespace: ns }));
    fromShards.push(records as Record<string, MigrationRecord>);
  }
  const refused = stateRefusal(namespace, problems);
  if (refused) throw refused;
  const migrations: Record<string, MigrationRecord> = { ...((legacy ?? {}) as Record<string, MigrationRecord>) };
  for (const records of fromShards) Object.assign(migrations, records);
  return {
    main,
    shards: byNamespace,
    legacy: (legacy ?? {}) as Record<string, MigrationRecord>,
    state: {
      install: install as InstallRecord | undefined,
      migrations,
      synced: synced as SyncedRecord | undefined,
      ...(listeners !== undefined ? { listeners: listeners as Record<string, number> } : {}),
    },
  };
}

/** The main ConfigMap and the shards: all of them, or (scope) only those of some namespaces. */
async function load(kube: KubeApi, namespace: string, scope?: string[]): Promise<Loaded> {
  // Both requests at once, awaited together (a failure of one must not leave the other unhandled).
  const [main, shards] = await Promise.all([
    kube.get('v1', 'ConfigMap', STATE_NAME, namespace),
    scope
      ? Promise.all([...new Set(scope)].map((ns) => kube.get('v1', 'ConfigMap', shardName(ns), namespace))).then((xs) =>
          xs.filter((x): x is KObject => Boolean(x)),
        )
      : kube.list('v1', 'ConfigMap', { namespace, labelSelector: SHARD_SELECTOR }).then((l) => l.items),
  ]);
  const loaded = decode(namespace, main, shards);
  // State from before sharding is moved as a whole: then everything must be in view.
  if (scope && Object.keys(loaded.legacy).length) return load(kube, namespace);
  if (scope) {
    const inScope = new Set(scope);
    for (const [k, m] of Object.entries(loaded.state.migrations)) if (!inScope.has(m.namespace)) delete loaded.state.migrations[k];
  }
  return loaded;
}

/** Changes whenever any part of the state changes (the main ConfigMap or any shard). */
const fingerprintOf = ({ main, shards }: Loaded): string =>
  [main?.metadata.resourceVersion ?? '-', ...[...shards.values()].map((x) => `${x.metadata.name}=${x.metadata.resourceVersion}`).sort()].join(' ');

export async function stateFingerprint(kube: KubeApi, namespace: string): Promise<string> {
  return fingerprintOf(await load(kube, namespace));
}

/** The state and its fingerprint from one read (to tell afterwards whether anyone changed it). */
export async function readStateVersioned(kube: KubeApi, namespace: string): Promise<{ state: State; fingerprint: string }> {
  const loaded = await load(kube, namespace);
  return { state: loaded.state, fingerprint: fingerprintOf(loaded) };
}

/** The state; with a scope, only those namespaces' shards are read (the main ConfigMap always is). */
export async function readState(kube: KubeApi, namespace: string, scope?: { namespaces: string[] }): Promise<State> {
  return (await load(kube, namespace, scope?.namespaces)).state;
}

const sortedRecord = <T>(r: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Each namespace's records, keys sorted: grouped in one pass (a filter per namespace was 100 passes over 10,000). */
const recordsByNamespace = (migrations: Record<string, MigrationRecord>): Map<string, Record<string, MigrationRecord>> => {
  const out = new Map<string, [string, MigrationRecord][]>();
  for (const e of Object.entries(migrations)) {
    const list = out.get(e[1].namespace);
    if (list) list.push(e);
    else out.set(e[1].namespace, [e]);
  }
  return new Map([...out].map(([ns, es]) => [ns, Object.fromEntries(es.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))]));
};

/**
 * Read-modify-write with optimistic concurrency: only the shards whose migrations changed are
 * written (each guarded by its resourceVersion), then the main ConfigMap if the install record or
 * sync's record changed. A conflict re-reads everything and applies `mutate` again. With a scope,
 * only those namespaces' shards are read (and `mutate` sees only their migrations): a run that
 * journals one namespace does not read a hundred.
 */
export async function updateState(kube: KubeApi, namespace: string, mutate: (s: State) => State | void, scope?: { namespaces: string[] }): Promise<State> {
  return retryOnConflict(async () => {
    const cur = await load(kube, namespace, scope?.namespaces);
    const before = JSON.parse(JSON.stringify(cur.state)) as State;
    const next = mutate(cur.state) ?? cur.state;
    const touched = new Set<string>();
    for (const [k, m] of Object.entries(before.migrations)) if (JSON.stringify(next.migrations[k]) !== JSON.stringify(m)) touched.add(m.namespace);
    for (const [k, m] of Object.entries(next.migrations)) if (!before.migrations[k]) touched.add(m.namespace);
    // The first run that changes migrations moves those written before sharding into shards.
    const moveLegacy = touched.size > 0 && Object.keys(cur.legacy).length > 0;
    if (moveLegacy) for (const m of Object.values(cur.legacy)) touched.add(m.namespace);
    // The shards are independent (each guarded by its own resourceVersion): written a few at a
    // time. A conflict on one re-reads and writes again only what still differs, as one at a time.
    const byNamespace = recordsByNamespace(next.migrations);
    await forEachBounded([...touched].sort(), async (ns) => {
      const records = byNamespace.get(ns) ?? {};
      const data = { migrations: JSON.stringify(records) };
      const shard = cur.shards.get(ns);
      // An emptied shard is kept (written empty, guarded) rather than deleted: a delete would not
      // be guarded, and could drop a record another run has just added. Purge removes shards.
      if (shard) await kube.replace({ ...shard, apiVersion: 'v1', kind: 'ConfigMap', data });
      else if (Object.keys(records).length)
        await kube.create({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: shardName(ns), namespace, labels: { ...acmgLabels('state-shard', VERSION), [SHARD_NAMESPACE_LABEL]: ns } },
          data,
        });
    });
    const mainChanged =
      moveLegacy ||
      JSON.stringify(before.install) !== JSON.stringify(next.install) ||
      JSON.stringify(before.synced) !== JSON.stringify(next.synced) ||
      JSON.stringify(before.listeners ?? {}) !== JSON.stringify(next.listeners ?? {}) ||
      !cur.main;
    if (mainChanged && (next.install || next.synced || cur.main)) {
      const data: Record<string, string> = {};
      if (next.install) data.install = JSON.stringify(next.install);
      if (next.synced) data.synced = JSON.stringify(next.synced);
      if (next.listeners && Object.keys(next.listeners).length) data.listeners = JSON.stringify(sortedRecord(next.listeners));
      // Unmoved state written before sharding stays where it is.
      if (!moveLegacy && Object.keys(cur.legacy).length) data.migrations = JSON.stringify(cur.legacy);
      if (cur.main)
        await kube.replace({
          ...cur.main,
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { ...cur.main.metadata, labels: { ...cur.main.metadata.labels, ...acmgLabels('state', VERSION) } },
          data,
        });
      else await kube.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: STATE_NAME, namespace, labels: acmgLabels('state', VERSION) }, data });
    }
    return next;
  });
}

/** Deletes the main ConfigMap and every shard; true if anything was there. */
export async function deleteState(kube: KubeApi, namespace: string): Promise<boolean> {
  const shards = (await kube.list('v1', 'ConfigMap', { namespace, labelSelector: SHARD_SELECTOR })).items;
  let deleted = false;
  for (const s of shards) deleted = (await kube.delete('v1', 'ConfigMap', s.metadata.name, namespace)) || deleted;
  // The controller's declarative status (kube/declarative-status.ts) goes with the state it explains.
  deleted = (await kube.delete('v1', 'ConfigMap', DECLARATIVE_STATUS_NAME, namespace)) || deleted;
  return (await kube.delete('v1', 'ConfigMap', STATE_NAME, namespace)) || deleted;
}

/**
 * Finds acmg's state and reads it in one go. With an explicit namespace (-n), only there.
 * Otherwise the expected namespace first (a controller's own, POD_NAMESPACE; a GET needs no
 * cluster-wide permission), else by label anywhere; without any, an empty state.
 */
export async function locateState(kube: KubeApi, explicit?: string): Promise<{ namespace: string; state: State }> {
  // An explicit -n wins; then the controller's own namespace (POD_NAMESPACE); then the default.
  const hint = explicit ?? process.env.POD_NAMESPACE ?? DEFAULT_INSTALL_NAMESPACE;
  const here = await load(kube, hint);
  if (here.main || here.shards.size || explicit) return { namespace: hint, state: here.state };
  const found = await kube.list('v1', 'ConfigMap', { labelSelector: `${MANAGED_SELECTOR},${COMPONENT}=state` });
  const hit = found.items.find((c) => c.metadata.name === STATE_NAME);
  if (!hit) return { namespace: hint, state: here.state };
  return { namespace: hit.metadata.namespace!, state: (await load(kube, hit.metadata.namespace!)).state };
}
