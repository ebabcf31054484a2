// acmg's record of what it did, in a ConfigMap in the install namespace: the install (profile,
// values, version, objects) and every migration with its journal. Later commands, rollback and
// uninstall read it; every write is guarded by resourceVersion and retried on conflict.
import { acmgLabels } from '../render/labels.js';
import { VERSION } from '../version.js';
import type { KObject } from '../model/object.js';
import { DEFAULT_INSTALL_NAMESPACE, STATE_NAME, type State } from '../model/state.js';
import { retryOnConflict, type KubeApi } from './api.js';

function decode(cm: KObject | undefined): State {
  const data = (cm?.data ?? {}) as Record<string, string>;
  return {
    install: data.install ? JSON.parse(data.install) : undefined,
    migrations: data.migrations ? JSON.parse(data.migrations) : {},
    synced: data.synced ? JSON.parse(data.synced) : undefined,
  };
}

export async function readState(kube: KubeApi, namespace: string): Promise<State> {
  return decode(await kube.get('v1', 'ConfigMap', STATE_NAME, namespace));
}

/** Read-modify-write of the state with optimistic concurrency (concurrent migrate runs merge). */
export async function updateState(kube: KubeApi, namespace: string, mutate: (s: State) => State | void): Promise<State> {
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

export async function deleteState(kube: KubeApi, namespace: string): Promise<boolean> {
  return kube.delete('v1', 'ConfigMap', STATE_NAME, namespace);
}

/**
 * Finds acmg's state and reads it in one go. With an explicit namespace (-n), only there.
 * Otherwise the expected namespace first (a controller's own, POD_NAMESPACE; a GET needs no
 * cluster-wide permission), else by label anywhere; without any, an empty state.
 */
export async function locateState(kube: KubeApi, explicit?: string): Promise<{ namespace: string; state: State }> {
  // An explicit -n wins; then the controller's own namespace (POD_NAMESPACE); then the default.
  const hint = explicit ?? process.env.POD_NAMESPACE ?? DEFAULT_INSTALL_NAMESPACE;
  const here = await kube.get('v1', 'ConfigMap', STATE_NAME, hint);
  if (here || explicit) return { namespace: hint, state: decode(here) };
  const found = await kube.list('v1', 'ConfigMap', { labelSelector: 'app.kubernetes.io/managed-by=acmg,app.kubernetes.io/component=state' });
  const hit = found.items.find((c) => c.metadata.name === STATE_NAME);
  return { namespace: hit?.metadata.namespace ?? hint, state: decode(hit) };
}
