// acmg's record of what it did, in a ConfigMap in the install namespace: the install (profile,
// values, version, objects) and every migration with its journal. Later commands, rollback and
// uninstall read it; every write is guarded by resourceVersion and retried on conflict.
import type { Spec } from '../profile/schema.js';
import { acmgLabels } from '../render/labels.js';
import { VERSION } from '../version.js';
import { retryOnConflict, type KObject, type Kube } from './client.js';

export const STATE_NAME = 'acmg-state';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface InstallRecord {
  version: string;
  profile: string;
  values: Spec;
  clusterDomain: string;
  objects: ObjectRef[];
  installedAt: string;
  /** Set while an install is applying; cleared when it completed. */
  inProgress?: boolean;
}

export type Approach = 'keep-service' | 'replace-service';
export type StepName = 'gateway-ports' | 'route' | 'replacement-service' | 'dns' | 'injection-label' | 'restart' | 'delete-original';

export interface MigrationRecord {
  namespace: string;
  service: string;
  approach: Approach;
  fqdn: string;
  /** The ports the gateway opened for this service. */
  ports: { name: string; port: number; protocol: string }[];
  /** Approach 2: the replacement Service's name, and the original Service to recreate on rollback. */
  replacement?: string;
  originalService?: KObject;
  /** The namespace's istio-injection label before acmg changed it (null: it had none). */
  previousInjection?: string | null;
  /** Completed steps, in order. */
  journal: StepName[];
  /** complete when every step is done; an interrupted run leaves in-progress. */
  phase: 'in-progress' | 'complete';
  migratedAt: string;
}

/** What `acmg sync` derived from VirtualServices bound to the acmg Gateway (gateway ports). */
export interface SyncedRecord {
  ports: { name: string; port: number; protocol: string }[];
  syncedAt: string;
}

export interface State {
  install?: InstallRecord;
  migrations: Record<string, MigrationRecord>; // key: namespace/service
  synced?: SyncedRecord;
}

export const migrationKey = (ns: string, svc: string) => `${ns}/${svc}`;

/** acmg's state is one ConfigMap; the API server refuses data over 1 MiB. */
export const STATE_LIMIT_BYTES = 1024 * 1024;

/** Bytes the state's data takes (what the ConfigMap stores). */
export function stateBytes(st: State): number {
  return (
    Buffer.byteLength(JSON.stringify(st.migrations)) +
    (st.install ? Buffer.byteLength(JSON.stringify(st.install)) : 0) +
    (st.synced ? Buffer.byteLength(JSON.stringify(st.synced)) : 0)
  );
}

function decode(cm: KObject | undefined): State {
  const data = (cm?.data ?? {}) as Record<string, string>;
  return {
    install: data.install ? JSON.parse(data.install) : undefined,
    migrations: data.migrations ? JSON.parse(data.migrations) : {},
    synced: data.synced ? JSON.parse(data.synced) : undefined,
  };
}

export async function readState(kube: Kube, namespace: string): Promise<State> {
  return decode(await kube.get('v1', 'ConfigMap', STATE_NAME, namespace));
}

/** Read-modify-write of the state with optimistic concurrency (concurrent migrate runs merge). */
export async function updateState(kube: Kube, namespace: string, mutate: (s: State) => State | void): Promise<State> {
  return retryOnConflict(async () => {
    const cm = await kube.get('v1', 'ConfigMap', STATE_NAME, namespace);
    const cur = decode(cm);
    const next = mutate(cur) ?? cur;
    const data: Record<string, string> = { migrations: JSON.stringify(next.migrations) };
    if (next.install) data.install = JSON.stringify(next.install);
    if (next.synced) data.synced = JSON.stringify(next.synced);
    if (cm)
      await kube.replace({
        ...cm,
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { ...cm.metadata, labels: { ...cm.metadata.labels, ...acmgLabels('state', VERSION) } },
        data,
      });
    else await kube.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: STATE_NAME, namespace, labels: acmgLabels('state', VERSION) }, data });
    return next;
  });
}

export async function deleteState(kube: Kube, namespace: string): Promise<boolean> {
  return kube.delete('v1', 'ConfigMap', STATE_NAME, namespace);
}

/** Where the state lives when the caller does not know the install namespace: look it up by label. */
/**
 * Finds acmg's state and reads it in one go: the expected namespace first (a controller's own; a
 * GET needs no cluster-wide permission), else by label anywhere. Without any, an empty state in
 * `fallback`.
 */
export async function locateState(kube: Kube, fallback: string): Promise<{ namespace: string; state: State }> {
  const hint = process.env.POD_NAMESPACE ?? fallback;
  const here = await kube.get('v1', 'ConfigMap', STATE_NAME, hint);
  if (here) return { namespace: hint, state: decode(here) };
  const found = await kube.list('v1', 'ConfigMap', { labelSelector: 'app.kubernetes.io/managed-by=acmg,app.kubernetes.io/component=state' });
  const hit = found.items.find((c) => c.metadata.name === STATE_NAME);
  return { namespace: hit?.metadata.namespace ?? fallback, state: decode(hit) };
}
