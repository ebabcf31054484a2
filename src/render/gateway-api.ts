// The Kubernetes Gateway API form of acmg's gateway objects (routing.api: gateway-api): a Gateway of
// class "istio" in place of each Istio Gateway, an HTTPRoute (TCPRoute for a TCP port) per migrated
// service port in place of its VirtualService. Never both on one gateway deployment.
//
// Istio facts this relies on (pilot/pkg/config/kube/gateway, pilot/pkg/model/push_context.go):
// - A Gateway whose only address is of type Hostname is a "manual deployment": istiod deploys
//   nothing and binds it to the proxies behind that Service (a short name is the Gateway's
//   namespace's). So acmg's own gateway Deployment (dedicated nodes, PDB, HPA, anti-affinity) stays,
//   and each namespace's door is a Gateway on that namespace's door Service.
// - A listener's port is the referenced Service's port; the proxy listens on its targetPort. A door
//   listener is the service's own port (9080), heard on the door's listener port (20000+).
// - An HTTPRoute's hostnames become VirtualService hosts, which Istio resolves short names of against
//   the route's namespace, so a hostname cannot catch `Host: reviews`. acmg's routes have none (every
//   host) and match the service's names with a regular expression on the Host header (Envoy reads
//   `host` as :authority), as the Istio form matches :authority.
// - Strict gateway merging (Istio 1.31) only separates managed Gateway API gateways from Istio ones:
//   acmg never puts both on its gateway, so nothing is merged across APIs.
import type { KObject } from '../model/object.js';
import type { GatewayProtocol } from '../model/ports.js';
import type { Spec } from '../profile/schema.js';
import { acmgLabels } from './labels.js';
import { ISTIO_NETWORKING_VERSION } from './istio-gateway.js';
import { routeName } from './routes.js';
import type { RenderContext } from './types.js';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
export const GATEWAY_API_VERSION = `${GATEWAY_API_GROUP}/v1`;
/**
 * The versions acmg reads each Gateway API route kind at, newest first: an older Gateway API serves
 * GRPCRoute, TCPRoute and TLSRoute only at an alpha version (HTTPRoute at v1beta1), and the user's
 * routes there count all the same. acmg writes v1 only.
 */
export const ROUTE_READ_VERSIONS = {
  HTTPRoute: [GATEWAY_API_VERSION, `${GATEWAY_API_GROUP}/v1beta1`],
  GRPCRoute: [GATEWAY_API_VERSION, `${GATEWAY_API_GROUP}/v1alpha2`],
  TCPRoute: [GATEWAY_API_VERSION, `${GATEWAY_API_GROUP}/v1alpha2`],
  TLSRoute: [GATEWAY_API_VERSION, `${GATEWAY_API_GROUP}/v1alpha3`, `${GATEWAY_API_GROUP}/v1alpha2`],
} as const satisfies Record<string, readonly string[]>;
export type RouteKind = keyof typeof ROUTE_READ_VERSIONS;
/** The Gateway API release acmg is tested with (hints name its standard-install.yaml). */
export const GATEWAY_API_RELEASE = 'v1.6.3';
/** Istio's GatewayClass (istiod creates it when it runs with Gateway API support). */
export const GATEWAY_CLASS = 'istio';
/** The label the API server puts on every namespace: what a listener's allowedRoutes selects by. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export type RoutingApi = 'istio' | 'gateway-api';

/** The install's routing API (records written before the value existed are Istio's). */
export const routingApiOf = (spec: Pick<Spec, 'routing'> | { routing?: { api?: string } }): RoutingApi =>
  (spec.routing?.api as RoutingApi | undefined) ?? 'istio';

/** A listener speaks HTTP (HTTP/1.1 and h2c, so gRPC too) or TCP. */
export const listenerProtocol = (p: GatewayProtocol | string): 'HTTP' | 'TCP' => (p === 'TCP' ? 'TCP' : 'HTTP');
export const routeKindFor = (p: GatewayProtocol | string): 'HTTPRoute' | 'TCPRoute' => (p === 'TCP' ? 'TCPRoute' : 'HTTPRoute');

/** Which namespaces a listener takes routes from: every one, or those named (Istio's "ns/*" hosts). */
export function allowedRoutesFor(hosts: string[]): Record<string, unknown> {
  if (hosts.includes('*')) return { namespaces: { from: 'All' } };
  const namespaces = [...new Set(hosts.map((h) => h.split('/')[0]!))].sort();
  return {
    namespaces: {
      from: 'Selector',
      selector: { matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: 'In', values: namespaces }] },
    },
  };
}

/** The shared gateway: a listener per gateway port, on the gateway's own Service. */
export function renderSharedGatewayApiGateway(spec: Spec, ctx: RenderContext): KObject {
  return {
    apiVersion: GATEWAY_API_VERSION,
    kind: 'Gateway',
    metadata: { name: spec.istioGateway.name, namespace: spec.namespace, labels: acmgLabels('istio-gateway', ctx.version) },
    spec: {
      gatewayClassName: GATEWAY_CLASS,
      addresses: [{ type: 'Hostname', value: spec.gateway.name }],
      listeners: spec.gateway.ports.map((p) => ({
        name: p.name,
        port: p.port,
        protocol: listenerProtocol(p.protocol),
        allowedRoutes: allowedRoutesFor(spec.istioGateway.hosts),
      })),
    },
  };
}

/** A door listener's name: what a route's parentRef sectionName names. */
export const doorListenerName = (l: { port: number; protocol: GatewayProtocol | string }) => `${listenerProtocol(l.protocol).toLowerCase()}-${l.port}`;

/** A namespace's door: a listener per service port on the door Service, taking routes of that namespace only. */
export function renderDoorGatewayApiGateway(i: {
  name: string;
  namespace: string;
  installNamespace: string;
  listeners: { port: number; protocol: GatewayProtocol }[];
  labels: Record<string, string>;
}): KObject {
  return {
    apiVersion: GATEWAY_API_VERSION,
    kind: 'Gateway',
    metadata: { name: i.name, namespace: i.installNamespace, labels: i.labels },
    spec: {
      gatewayClassName: GATEWAY_CLASS,
      addresses: [{ type: 'Hostname', value: i.name }],
      listeners: i.listeners.map((l) => ({
        name: doorListenerName(l),
        port: l.port,
        protocol: listenerProtocol(l.protocol),
        allowedRoutes: {
          namespaces: { from: 'Selector', selector: { matchLabels: { [NAMESPACE_NAME_LABEL]: i.namespace } } },
          kinds: [{ group: GATEWAY_API_GROUP, kind: routeKindFor(l.protocol) }],
        },
      })),
    },
  };
}

/** acmg's route for one port of a migrated service (one per port: a backendRef names the port). */
export const portRouteName = (service: string, port: number) => `${routeName(service)}-${port}`;

/** The routes acmg writes for a migrated service at its door (what rollback removes): by API. */
export function serviceRouteRefs(
  service: string,
  ports: { port: number; protocol: GatewayProtocol | string }[],
  api: RoutingApi,
): { apiVersion: string; kind: string; name: string }[] {
  if (api === 'istio') return [{ apiVersion: ISTIO_NETWORKING_VERSION, kind: 'VirtualService', name: routeName(service) }];
  return ports.map((p) => ({ apiVersion: GATEWAY_API_VERSION, kind: routeKindFor(p.protocol), name: portRouteName(service, p.port) }));
}

/** The hosts (FQDNs) an acmg route sends traffic to: a VirtualService's destinations, an HTTPRoute's or TCPRoute's Service backends. */
export function routeDestinations(route: KObject | undefined, clusterDomain: string): string[] {
  if (!route) return [];
  const spec = route.spec ?? {};
  if (route.kind === 'VirtualService')
    return [...(spec.http ?? []), ...(spec.tcp ?? [])]
      .flatMap((r: any) => (r.route ?? []).map((w: any) => w.destination?.host))
      .filter((h: unknown): h is string => typeof h === 'string');
  return (spec.rules ?? [])
    .flatMap((r: any) => r.backendRefs ?? [])
    .filter((b: any) => (b.kind ?? 'Service') === 'Service' && (b.group ?? '') === '')
    .map((b: any) => `${b.name}.${b.namespace ?? route.metadata.namespace}.svc.${clusterDomain}`);
}
