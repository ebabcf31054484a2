// Which Gateway API route kinds acmg reads, at which version, and the one way it lists them: sync's
// view (and the controller's informers) and the namespace refresh of approach 2 read the same kinds.
import { listPages, listPagesIfServed, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import { GATEWAY_API_VERSION, ROUTE_READ_VERSIONS, type RouteKind, type RoutingApi } from '../render/gateway-api.js';

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
