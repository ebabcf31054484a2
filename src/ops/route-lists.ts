// Which Gateway API route kinds acmg reads, at which version, and the one way it lists them: sync's
// view (and the controller's informers) and the namespace refresh of approach 2 read the same kinds.
import { listPages, listPagesIfServed, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import type { MigrationRecord, ObjectRef } from '../model/state.js';
import { GATEWAY_API_VERSION, ROUTE_READ_VERSIONS, serviceRouteRefs, type RouteKind, type RoutingApi } from '../render/gateway-api.js';
import { COMPONENT, MANAGED_SELECTOR } from '../render/labels.js';
import { ISTIO_NETWORKING_VERSION } from '../render/istio-gateway.js';

const ROUTE_SELECTOR = `${MANAGED_SELECTOR},${COMPONENT}=route`;
import { forEachBounded } from './bounded.js';

/**
 * The Gateway API route kinds read. With the Gateway API: HTTPRoutes (the user's GAMMA routes,
 * carried; acmg's own; those bound to the shared Gateway, which steer names) and TCPRoutes (acmg's,
 * compared; bound ones steer) at v1, which precheck requires, and GRPCRoutes (GAMMA ones carried as
 * HTTPRoute rules; bound ones steer). With either API, the GAMMA routes whose rules the gateway
 * would not keep (every kind with Istio's; TCPRoute, TLSRoute with the Gateway API), so one added
 * after a migration is named, not lost. A kind not required is read at the first version the API
 * server serves (ROUTE_READ_VERSIONS), and none of it where its CRD is missing.
 */
export function routesRead(api: RoutingApi): { kind: RouteKind; required: boolean }[] {
  const gatewayApi = api === 'gateway-api';
  return (['HTTPRoute', 'TCPRoute', 'GRPCRoute', 'TLSRoute'] as const).map((kind) => ({
    kind,
    required: gatewayApi && (kind === 'HTTPRoute' || kind === 'TCPRoute'),
  }));
}

/** Every route of the kinds read, by kind (a namespace's, or cluster-wide), each kept as `keep` makes it. */
export async function listRoutes(
  kube: KubeApi,
  api: RoutingApi,
  opts: { namespace?: string },
  keep: (o: KObject) => KObject = (o) => o,
): Promise<Record<RouteKind, KObject[]>> {
  const out = { HTTPRoute: [], TCPRoute: [], GRPCRoute: [], TLSRoute: [] } as Record<RouteKind, KObject[]>;
  for (const { kind, required } of routesRead(api)) {
    const add = (o: KObject) => void out[kind].push(keep(o));
    if (required) await listPages(kube, GATEWAY_API_VERSION, kind, opts, add);
    else await listPagesIfServed(kube, ROUTE_READ_VERSIONS[kind], kind, opts, add);
  }
  return out;
}

/**
 * acmg's own routes for these migrations' services (a route of the same name someone else made is
 * not one): one paged list per namespace and kind, not a GET per route.
 */
export async function ownedServiceRoutes(
  kube: KubeApi,
  records: Pick<MigrationRecord, 'namespace' | 'service' | 'ports'>[],
  api: RoutingApi,
): Promise<(ObjectRef & { namespace: string })[]> {
  const refsOf = (m: Pick<MigrationRecord, 'service' | 'ports'>) => serviceRouteRefs(m.service, m.ports, api);
  const kinds = [...new Map(records.flatMap(refsOf).map((r) => [`${r.apiVersion}/${r.kind}`, r] as const)).values()];
  const owned = new Set<string>();
  // Namespaces a few at a time (the set does not depend on the order).
  await forEachBounded([...new Set(records.map((m) => m.namespace))].sort(), async (n) => {
    for (const k of kinds)
      await listPages(kube, k.apiVersion, k.kind, { namespace: n, labelSelector: MANAGED_SELECTOR }, (o) => owned.add(`${k.kind}/${n}/${o.metadata.name}`));
  });
  return records.flatMap((m) => refsOf(m).flatMap((r) => (owned.has(`${r.kind}/${m.namespace}/${r.name}`) ? [{ ...r, namespace: m.namespace }] : [])));
}

/** The route kinds acmg writes for a migrated service with each API (a DestinationRule copy is either's). */
const ROUTE_KINDS: Record<RoutingApi, readonly (readonly [string, string])[]> = {
  istio: [[ISTIO_NETWORKING_VERSION, 'VirtualService']],
  'gateway-api': [
    [GATEWAY_API_VERSION, 'HTTPRoute'],
    [GATEWAY_API_VERSION, 'TCPRoute'],
  ],
};

/** Every route acmg wrote with `api`, cluster-wide (by its labels); none of a kind not served. */
export async function acmgRoutesOf(kube: KubeApi, api: RoutingApi): Promise<(ObjectRef & { namespace: string })[]> {
  const out: (ObjectRef & { namespace: string })[] = [];
  for (const [apiVersion, kind] of ROUTE_KINDS[api])
    await listPagesIfServed(kube, apiVersion, kind, { labelSelector: ROUTE_SELECTOR }, (o) =>
      out.push({ apiVersion, kind, name: o.metadata.name, namespace: o.metadata.namespace! }),
    );
  return out.sort((a, b) => `${a.kind}/${a.namespace}/${a.name}`.localeCompare(`${b.kind}/${b.namespace}/${b.name}`));
}
