// acmg sync, the pure part: the DNS entries and gateway ports that should exist, from acmg's
// migrations (each name answers its namespace's door on the gateway) and from every route bound to
// the shared acmg Gateway: VirtualServices (routing.api istio), HTTPRoutes, GRPCRoutes and TCPRoutes (gateway-api),
// as the original controller did for VirtualServices, but level-triggered: always computed from the
// whole current state.
import type { DnsEntry } from '../coredns/region.js';

import type { KObject } from '../model/object.js';
import type { MigrationRecord } from '../model/state.js';
import type { ClassifiedPort } from '../model/ports.js';
import { boundToMesh } from '../render/gateway-routes.js';
import { projectRoutingObject } from './route-follow.js';
import { SYSTEM_NAMESPACES } from './selection.js';
import { GATEWAY_API_GROUP } from '../render/gateway-api.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface SyncInput {
  gateway: { namespace: string; name: string };
  gatewayIP: string;
  /** Each migrated namespace's door on the gateway (its Service's ClusterIP): what its names answer. */
  doorIPs: ReadonlyMap<string, string>;
  /** What DNS answers now, by FQDN: a migrated name whose door is gone keeps its entry (migrate or rollback repairs it). */
  current?: ReadonlyMap<string, string>;
  clusterDomain: string;
  migrations: MigrationRecord[];
  virtualServices: Iterable<KObject>;
  /** With routing.api gateway-api: HTTPRoutes, GRPCRoutes and TCPRoutes (parentRefs the shared Gateway steer too). */
  gatewayRoutes?: Iterable<KObject>;
  /** Services by "namespace/name", to find the ports of a destination that names none. */
  services: ReadonlyMap<string, KObject>;
}

/** What desiredState reads of a VirtualService (what the controller keeps of each, in its cache). */
export function projectVirtualService(vs: KObject): KObject {
  // The user's mesh routing is kept whole: acmg's routes at the doors are rendered from it (sync
  // follows its edits); acmg's own routes by their spec's fingerprint (route-follow.ts).
  const labels = vs.metadata.labels ?? {};
  const ownRoute = labels['app.kubernetes.io/managed-by'] === 'acmg' && labels['app.kubernetes.io/component'] === 'route';
  if (boundToMesh(vs) || ownRoute) {
    const p = projectRoutingObject(vs);
    return ownRoute ? { ...p, spec: { gateways: vs.spec?.gateways } } : p;
  }
  const managedBy = vs.metadata.labels?.['app.kubernetes.io/managed-by'];
  const routes = (kind: 'http' | 'tcp' | 'tls') =>
    (vs.spec?.[kind] as { route?: { destination?: { host?: string; port?: { number?: number } } }[] }[] | undefined)?.map((r) => ({
      route: r.route?.map((d) => ({
        destination: d.destination && { host: d.destination.host, port: d.destination.port && { number: d.destination.port.number } },
      })),
    }));
  return {
    apiVersion: vs.apiVersion,
    kind: vs.kind,
    metadata: { name: vs.metadata.name, namespace: vs.metadata.namespace, ...(managedBy ? { labels: { 'app.kubernetes.io/managed-by': managedBy } } : {}) },
    spec: { gateways: vs.spec?.gateways, http: routes('http'), tcp: routes('tcp'), tls: routes('tls') },
  };
}

/** What desiredState reads of a Service: its ports' names, numbers and app protocols. */
export function projectService(svc: KObject): KObject {
  const ports = (svc.spec?.ports as { name?: string; port: number; appProtocol?: string }[] | undefined)?.map((p) => ({
    name: p.name,
    port: p.port,
    appProtocol: p.appProtocol,
  }));
  return { apiVersion: svc.apiVersion, kind: svc.kind, metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace }, spec: { ports } };
}

export interface DesiredState {
  entries: DnsEntry[];
  /** Ports VirtualServices need on the gateway (beyond the profile's and migrations'). */
  ports: ClassifiedPort[];
  /** Hosts ignored, with why (printed as warnings). */
  ignored: string[];
  /** A route ("ns/name" for a VirtualService, "<Kind> ns/name" for a Gateway API route) -> the FQDNs it contributes. */
  sources: Record<string, string[]>;
}

/** Does this VirtualService bind to the acmg Gateway? (gateways: "ns/name", or "name" in the same namespace) */
export function boundToGateway(vs: KObject, gw: { namespace: string; name: string }): boolean {
  const ns = vs.metadata.namespace ?? 'default';
  return (vs.spec?.gateways ?? []).some((g: string) => g === `${gw.namespace}/${gw.name}` || (g === gw.name && ns === gw.namespace));
}

/** A destination host as an in-cluster FQDN (short names relative to the VirtualService's namespace), or why not. */
export function resolveHost(host: string, vsNamespace: string, domain: string): { fqdn?: string; service?: string; namespace?: string; why?: string } {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h.includes('*')) return { why: `wildcard host "${host}" names no single service` };
  const parts = h.split('.');
  const suffix = `.svc.${domain}`;
  if (h.endsWith(suffix)) {
    const rest = h.slice(0, -suffix.length).split('.');
    if (rest.length === 2) return { fqdn: h, service: rest[0], namespace: rest[1] };
    return { why: `"${host}" is not a Service name (service.namespace.svc.${domain})` };
  }
  if (parts.length === 1) return { fqdn: `${h}.${vsNamespace}${suffix}`, service: h, namespace: vsNamespace };
  if (parts.length === 2) return { fqdn: `${h}${suffix}`, service: parts[0], namespace: parts[1] };
  if (parts.length === 3 && parts[2] === 'svc') return { fqdn: `${h}.${domain}`, service: parts[0], namespace: parts[1] };
  return { why: `"${host}" is outside the cluster domain ${domain}` };
}

interface Destination {
  host: string;
  port?: number;
  kind: 'http' | 'tcp';
}

function vsDestinations(vs: KObject): Destination[] {
  const out: Destination[] = [];
  for (const kind of ['http', 'tcp', 'tls'] as const) {
    for (const route of vs.spec?.[kind] ?? []) {
      for (const r of route.route ?? []) {
        if (r.destination?.host) out.push({ host: r.destination.host, port: r.destination.port?.number, kind: kind === 'http' ? 'http' : 'tcp' });
      }
    }
  }
  return out;
}

type GatewayApiRef = { group?: string; kind?: string; name?: string; namespace?: string; port?: number; sectionName?: string };

/** Does this HTTPRoute, GRPCRoute or TCPRoute name the shared Gateway among its parents? (namespace defaults to the route's) */
export function routeBoundToGateway(route: KObject, gw: { namespace: string; name: string }): boolean {
  const ns = route.metadata.namespace ?? 'default';
  return ((route.spec?.parentRefs ?? []) as GatewayApiRef[]).some(
    (p) =>
      (p.group ?? GATEWAY_API_GROUP) === GATEWAY_API_GROUP && (p.kind ?? 'Gateway') === 'Gateway' && p.name === gw.name && (p.namespace ?? ns) === gw.namespace,
  );
}

/** A Gateway API route's Service backends, as hosts "name.namespace" (other kinds of backend name no Service). */
function routeDestinations(route: KObject): Destination[] {
  const ns = route.metadata.namespace ?? 'default';
  const kind = route.kind === 'TCPRoute' ? 'tcp' : 'http';
  return ((route.spec?.rules ?? []) as { backendRefs?: GatewayApiRef[] }[]).flatMap((r) =>
    (r.backendRefs ?? [])
      .filter((b) => (b.group ?? '') === '' && (b.kind ?? 'Service') === 'Service' && b.name)
      .map((b) => ({ host: `${b.name}.${b.namespace ?? ns}`, port: b.port, kind })),
  );
}

/** The routes bound to the shared Gateway, each with what it calls itself in warnings and its destinations, sorted. */
function boundRoutes(input: SyncInput): { id: string; kind: string; label: string; namespace: string; destinations: Destination[] }[] {
  const own = (o: KObject) => o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'acmg';
  const key = (o: KObject) => `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
  const byKey = (a: KObject, b: KObject) => key(a).localeCompare(key(b));
  // acmg's own routes are covered by its migrations (and point at replacements in approach 2).
  const vses = [...input.virtualServices].filter((vs) => !own(vs) && boundToGateway(vs, input.gateway)).sort(byKey);
  const routes = [...(input.gatewayRoutes ?? [])].filter((r) => !own(r) && routeBoundToGateway(r, input.gateway));
  return [
    ...vses.map((vs) => ({
      id: key(vs),
      kind: vs.kind,
      label: `VirtualService ${key(vs)}`,
      namespace: vs.metadata.namespace ?? 'default',
      destinations: vsDestinations(vs),
    })),
    ...routes
      .sort((a, b) => a.kind.localeCompare(b.kind) || byKey(a, b))
      .map((r) => ({
        id: `${r.kind} ${key(r)}`,
        kind: r.kind,
        label: `${r.kind} ${key(r)}`,
        namespace: r.metadata.namespace ?? 'default',
        destinations: routeDestinations(r),
      })),
  ];
}

export function desiredState(input: SyncInput): DesiredState {
  const entries = new Map<string, string>();
  const ports = new Map<number, ClassifiedPort>();
  const ignored: string[] = [];
  const sources: Record<string, string[]> = {};
  for (const m of input.migrations) {
    // A rollback under way takes the entry away: never write it back meanwhile.
    if (m.phase === 'rolling-back' || (!m.journal.includes('dns') && m.phase !== 'complete')) continue;
    const ip = input.doorIPs.get(m.namespace) ?? input.current?.get(m.fqdn);
    if (ip) entries.set(m.fqdn, ip);
    if (!input.doorIPs.has(m.namespace))
      ignored.push(
        `${m.namespace}/${m.service} is migrated but namespace ${m.namespace} has no door on the gateway; its DNS entry is ${ip ? 'left as it is' : 'left out'} (roll it back and migrate it again to recreate the door)`,
      );
  }
  for (const route of boundRoutes(input)) {
    const { id, label } = route;
    for (const d of route.destinations) {
      const r = resolveHost(d.host, route.namespace, input.clusterDomain);
      if (!r.fqdn) {
        ignored.push(`${label}: ${r.why}; ignored`);
        continue;
      }
      // A route steers only its own namespace's Services, never a system or acmg's install
      // namespace, and only names that are names (what reaches the Corefile must be a DNS name).
      const refused =
        !DNS_LABEL.test(r.service ?? '') || !DNS_LABEL.test(r.namespace ?? '')
          ? `"${d.host}" is not a valid Service name`
          : r.namespace !== route.namespace
            ? `"${d.host}" is a Service of namespace ${r.namespace}: ${route.kind === 'HTTPRoute' ? 'an' : 'a'} ${route.kind} steers only Services of its own namespace (${route.namespace})`
            : SYSTEM_NAMESPACES.includes(r.namespace!) || r.namespace === input.gateway.namespace
              ? `"${d.host}" is in ${r.namespace}, whose Services acmg never steers`
              : undefined;
      if (refused) {
        ignored.push(`${label}: ${refused}; ignored`);
        continue;
      }
      entries.set(r.fqdn, input.gatewayIP);
      const list = (sources[id] ??= []);
      if (!list.includes(r.fqdn)) list.push(r.fqdn);
      const svc = input.services.get(`${r.namespace}/${r.service}`);
      const svcPorts: { name?: string; port: number; appProtocol?: string }[] = svc?.spec?.ports ?? [];
      const wanted =
        d.port !== undefined ? svcPorts.filter((p) => p.port === d.port).concat(svcPorts.some((p) => p.port === d.port) ? [] : [{ port: d.port }]) : svcPorts;
      for (const p of wanted) {
        if (!ports.has(p.port))
          ports.set(p.port, {
            name: p.name ?? '',
            port: p.port,
            protocol: d.kind === 'tcp' ? 'TCP' : p.appProtocol?.toLowerCase() === 'grpc' || p.name?.startsWith('grpc') ? 'GRPC' : 'HTTP',
          });
      }
    }
  }
  return {
    entries: [...entries].map(([fqdn, ip]) => ({ fqdn, ip })).sort((a, b) => a.fqdn.localeCompare(b.fqdn)),
    ports: [...ports.values()].sort((a, b) => a.port - b.port),
    ignored,
    sources,
  };
}

/** What a name must answer (dns/resolver.ts waits for it): this address, or anything but this one. */
type Want = string | { not: string };

/** How many changed names a reconcile asks DNS about after its write: enough to see a missed reload. */
export const CHECKED_NAMES = 20;

/**
 * The names a reconcile checks after its DNS write, and what each must answer: an added or changed
 * name its new address, a removed one anything but its old address. Sorted, at most `max`: CoreDNS
 * loads a write whole or not at all, so a sample shows whether it loaded.
 */
export function namesToCheck(add: DnsEntry[], remove: DnsEntry[], max = CHECKED_NAMES): Map<string, Want> {
  const added = new Set(add.map((e) => e.fqdn));
  const wants: [string, Want][] = [
    ...add.map((e): [string, Want] => [e.fqdn, e.ip]),
    ...remove.filter((e) => !added.has(e.fqdn)).map((e): [string, Want] => [e.fqdn, { not: e.ip }]),
  ];
  return new Map(wants.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, max));
}
