// Keeps the gateway listening on exactly what acmg's state asks for: the shared gateway Service and
// Istio Gateway on the profile's ports plus those acmg sync derived, and a door per migrated
// namespace (render/namespace-gateway.ts) on listener ports handed out here, once, under the main
// state ConfigMap's resourceVersion. Doors of the run's own namespaces with no migration left are
// removed; never another namespace's (a run may have read the state just before another run recorded
// that namespace's first migration, and would pull its door from under it).
// Converges under concurrent runs: after applying, it re-reads the state and goes again if another
// run changed it meanwhile.
import { AcmgError, ExitCode } from '../errors.js';
import { listPagesIfServed, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import { readStateVersioned, stateFingerprint, updateState } from '../kube/state.js';
import { listenerKey, type InstallRecord } from '../model/state.js';
import type { GatewayPort } from '../profile/schema.js';
import { renderManifests } from '../render/index.js';
import { gatewaySelector } from '../render/gateway.js';
import { COMPONENT, MANAGED_SELECTOR } from '../render/labels.js';
import { allocateListenerPorts, NAMESPACE_LABEL, namespaceGatewayName, renderNamespaceGateway, type NamespaceListener } from '../render/namespace-gateway.js';
import { ISTIO_NETWORKING_VERSION } from '../render/istio-gateway.js';
import { GATEWAY_API_VERSION, routingApiOf, type RoutingApi } from '../render/gateway-api.js';
import { VERSION } from '../version.js';
import { forEachBounded } from './bounded.js';
import { listenersOf, namespacePorts, reservedListenerPorts, withEffectivePorts } from './gateway-ports.js';

const DOOR_SELECTOR = `${MANAGED_SELECTOR},${COMPONENT}=namespace-gateway`;

/** The gateway Service's ClusterIP (exit 3 if it has none). */
export async function gatewayClusterIP(kube: KubeApi, install: InstallRecord): Promise<string> {
  const ns = install.values.namespace;
  const svc = await kube.get('v1', 'Service', install.values.gateway.name, ns);
  const ip: string | undefined = svc?.spec?.clusterIP;
  if (!ip || ip === 'None')
    throw new AcmgError(ExitCode.Cluster, `the gateway Service ${ns}/${install.values.gateway.name} has no ClusterIP`, 'check it with: acmg status');
  return ip;
}

/** The address each migrated namespace's names answer: its door Service's ClusterIP, by namespace (one list). */
export async function doorAddresses(kube: KubeApi, install: InstallRecord): Promise<Map<string, string>> {
  const list = await kube.list('v1', 'Service', { namespace: install.values.namespace, labelSelector: DOOR_SELECTOR });
  const out = new Map<string, string>();
  for (const s of list.items) {
    const ns = s.metadata.labels?.[NAMESPACE_LABEL];
    const ip: string | undefined = s.spec?.clusterIP;
    if (ns && ip && ip !== 'None' && s.metadata.name === namespaceGatewayName(ns)) out.set(ns, ip);
  }
  return out;
}

export interface GatewaySync {
  /** The shared gateway's ports, as applied in the final, stable round. */
  ports: GatewayPort[];
  /** Each migrated namespace's door: its Service name and listeners. */
  doors: Map<string, { name: string; listeners: NamespaceListener[] }>;
}

const sameRecord = (a: Record<string, number>, b: Record<string, number>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/**
 * Applies the shared gateway's ports and the namespaces' doors. `namespaces` limits which doors are
 * applied or removed (a run touches its own); default: every one.
 * `doors: false` (acmg sync, whose controller may not create or delete Services) applies the shared
 * gateway only. `excluding`: migration keys a rollback is undoing (not yet forgotten), whose ports
 * it closes.
 */
export async function syncGatewayPorts(
  kube: KubeApi,
  install: InstallRecord,
  scope: { namespaces?: string[]; doors?: boolean; excluding?: string[] } = {},
): Promise<GatewaySync> {
  const ns = install.values.namespace;
  const reserved = reservedListenerPorts(install.values);
  const api = routingApiOf(install.values);
  let result: GatewaySync = { ports: [], doors: new Map() };
  for (let i = 0; i < 20; i++) {
    const { state, fingerprint: before } = await readStateVersioned(kube, ns);
    // Listener ports: every migrated (namespace, port) has one; given ones are kept, unused ones freed.
    const byNamespace = namespacePorts(state, new Set(scope.excluding ?? []));
    const wanted = [...byNamespace].flatMap(([n, ps]) => ps.map((p) => listenerKey(n, p.port)));
    const wantedSet = new Set(wanted);
    const keep = (cur: Record<string, number>) => Object.fromEntries(Object.entries(cur).filter(([k]) => wantedSet.has(k)));
    const current = state.listeners ?? {};
    if (scope.doors !== false && !sameRecord(allocateListenerPorts(keep(current), wanted, reserved), current)) {
      await updateState(kube, ns, (st) => void (st.listeners = allocateListenerPorts(keep(st.listeners ?? {}), wanted, reserved)), { namespaces: [] });
      continue;
    }
    const spec = withEffectivePorts(install.values, state);
    const objs = renderManifests(
      { apiVersion: 'acmg.io/v1alpha1', kind: 'AcmgOperator', metadata: {}, spec },
      { clusterDomain: install.clusterDomain, version: VERSION },
    );
    for (const o of objs) {
      if ((o.kind === 'Service' && o.metadata.name === spec.gateway.name) || o.kind === 'Gateway') await kube.apply(o);
    }
    const doors = new Map<string, { name: string; listeners: NamespaceListener[] }>();
    const toApply: { n: string; listeners: NamespaceListener[] }[] = [];
    for (const [n, ports] of byNamespace) {
      const listeners = listenersOf(ports, state.listeners, n);
      doors.set(n, { name: namespaceGatewayName(n), listeners });
      if (scope.doors === false || (scope.namespaces && !scope.namespaces.includes(n))) continue;
      toApply.push({ n, listeners });
    }
    // Each door's objects in order (its Service, then its Gateway), a few doors at a time.
    await forEachBounded(toApply, async ({ n, listeners }) => {
      for (const o of renderNamespaceGateway({
        namespace: n,
        installNamespace: ns,
        selector: gatewaySelector(install.values),
        listeners,
        version: VERSION,
        api,
      }))
        await kube.apply(o);
    });
    if (scope.doors !== false) await removeStaleDoors(kube, ns, api, new Set(doors.keys()), scope.namespaces);
    result = { ports: spec.gateway.ports, doors };
    if ((await stateFingerprint(kube, ns)) === before) break;
  }
  return result;
}

/** The Gateway kinds a door has had: Istio's, and the Gateway API's (whose CRD may not be installed). */
const doorGatewayKind = (api: RoutingApi) => [api === 'gateway-api' ? GATEWAY_API_VERSION : ISTIO_NETWORKING_VERSION, 'Gateway'] as const;

/** acmg's door objects of a kind in the install namespace; none where the kind is not served. */
async function listDoorObjects(kube: KubeApi, ns: string, apiVersion: string, kind: string): Promise<KObject[]> {
  const found: KObject[] = [];
  await listPagesIfServed(kube, apiVersion, kind, { namespace: ns, labelSelector: DOOR_SELECTOR }, (o) => void found.push(o));
  return found;
}

/** Deletes the doors (Service and Gateway) of namespaces (of `only`, if given) that have no migration left. */
async function removeStaleDoors(kube: KubeApi, ns: string, api: RoutingApi, live: Set<string>, only?: string[]): Promise<void> {
  for (const [apiVersion, kind] of [['v1', 'Service'] as const, doorGatewayKind(api)]) {
    const stale = (await listDoorObjects(kube, ns, apiVersion, kind)).filter((o) => {
      const n = o.metadata.labels?.[NAMESPACE_LABEL];
      return !(only && (!n || !only.includes(n))) && (!n || !live.has(n));
    });
    // Independent deletes, a few at a time (one by one, 100 doors took 3 s of a rollback, issue #25).
    await forEachBounded(stale, (o) => kube.delete(apiVersion, kind, o.metadata.name, ns));
  }
}

/** Every door's Gateway of one API (acmg's, in the install namespace `ns`). */
export const doorGateways = (kube: KubeApi, ns: string, api: RoutingApi): Promise<KObject[]> => listDoorObjects(kube, ns, ...doorGatewayKind(api));

/** Deletes every door's Gateway of one API (ops/routing-switch.ts: once the other API's are in place). */
export async function removeDoorGateways(kube: KubeApi, ns: string, api: RoutingApi): Promise<void> {
  const [apiVersion, kind] = doorGatewayKind(api);
  await forEachBounded(await doorGateways(kube, ns, api), (o) => kube.delete(apiVersion, kind, o.metadata.name, ns));
}

/** Waits until a Service of the gateway has ready endpoints serving every named port. */
export async function waitForGatewayEndpoints(kube: KubeApi, namespace: string, service: string, portNames: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const slices = (await kube.list('discovery.k8s.io/v1', 'EndpointSlice', { namespace, labelSelector: `kubernetes.io/service-name=${service}` })).items;
    const ready = slices.filter((s) => (s.endpoints ?? []).some((e: any) => e.conditions?.ready !== false));
    const names = new Set(ready.flatMap((s) => (s.ports ?? []).map((p: any) => p.name)));
    const missing = portNames.filter((n) => !names.has(n));
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `the gateway Service ${namespace}/${service} has no ready endpoints for port(s) ${missing.join(', ')} after ${Math.round(timeoutMs / 1000)}s`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
