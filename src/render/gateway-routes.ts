// A migrated service's route at its namespace's gateway listener (namespace-gateway.ts): the user's
// own mesh rules for the service (their VirtualServices' http and tcp routes: matches, subsets,
// weights, retries, timeouts, fault injection, mirroring, rewrites, CORS) carried over as they are,
// each match narrowed to the service's names by the :authority header, and to the listener the
// service's port arrives on. Without a user rule, one route per port to the service.
//
// The VirtualService has hosts ["*"] (only a "*" virtual host can catch `Host: reviews`: Istio
// resolves a bare VirtualService host to the FQDN before it builds a gateway's domains), is bound
// only to the namespace's Gateway, and is exported to the install namespace, where the gateway runs.
// acmg never edits the user's objects; it writes this copy and follows the originals (acmg sync).
import type { KObject } from '../model/object.js';
import type { ClassifiedPort } from '../model/ports.js';
import type { Approach, RuleChange } from '../model/state.js';
import { ISTIO_NETWORKING_VERSION } from './istio-gateway.js';
import { acmgLabels, isAcmgObject } from './labels.js';
import { namespaceGatewayName } from './namespace-gateway.js';
import { routingApiOf, type RoutingApi } from './gateway-api.js';
import { meshHttpRoutesOf, renderGatewayApiRoutes, uncarriedMeshRouteKinds } from './gateway-api-routes.js';
import { replacementName, routeName } from './routes.js';
import { ruleChange } from './rule-change.js';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The :authority values a client's call to the service carries, as a sidecar matches them: the bare
 * name (same namespace), name.ns, name.ns.svc, the FQDN and the FQDN with a trailing dot, each with
 * or without a port, in any case (a sidecar ignores the port and the case in host matching).
 */
export function authorityRegex(service: string, namespace: string, clusterDomain: string): string {
  return `(?i)^${escape(service)}(\\.${escape(namespace)}(\\.svc(\\.${escape(clusterDomain)}\\.?)?)?)?(:[0-9]+)?$`;
}

export interface ListenedPort extends ClassifiedPort {
  /** The gateway listener port this service port arrives on (its namespace's). */
  listenerPort: number;
}

export interface GatewayRouteInput {
  service: string;
  namespace: string;
  clusterDomain: string;
  /** The namespace's Gateway (install namespace / its name). */
  gateway: { namespace: string; name: string };
  /** Where traffic for the service goes: the service itself (approach 1) or its replacement (approach 2). */
  destination: string;
  ports: ListenedPort[];
  /** The user's VirtualServices that route this service for sidecars (bound to mesh), in Istio's order. */
  userRoutes: KObject[];
  /** Approach 2: the user's DestinationRule for the service is copied for the replacement (its subsets hold). */
  replacementHasSubsets?: boolean;
  /** Other Services of the namespace whose traffic goes to a replacement (approach 2): name -> replacement. */
  replaced?: Record<string, string>;
  version: string;
}

export interface GatewayRoute {
  virtualService: KObject;
  /** The user's rules that cannot hold at the gateway, named (migrate refuses them unless accepted). */
  refused: RuleChange[];
  /** The user's VirtualServices carried over ("namespace/name"). */
  carried: string[];
}

const MESH_ONLY_MATCH = ['sourceLabels', 'sourceNamespace', 'gateways'] as const;

type Json = Record<string, any>;

function fqdnOf(host: string, vsNamespace: string, clusterDomain: string): string {
  const h = host.replace(/\.$/, '');
  return h.includes('.') ? h : `${h}.${vsNamespace}.svc.${clusterDomain}`;
}

export function renderGatewayRoute(i: GatewayRouteInput): GatewayRoute {
  const serviceFqdn = `${i.service}.${i.namespace}.svc.${i.clusterDomain}`;
  const destFqdn = `${i.destination}.${i.namespace}.svc.${i.clusterDomain}`;
  const authority = { regex: authorityRegex(i.service, i.namespace, i.clusterDomain) };
  const refused: RuleChange[] = [];
  const carried: string[] = [];

  /** A destination as the gateway must name it: FQDN (the copy lives in the service's namespace too, but be explicit), replacement for the service. */
  const destination = (d: Json, vsNamespace: string, servicePort: number): Json => {
    const host = fqdnOf(String(d.host ?? ''), vsNamespace, i.clusterDomain);
    const toService = host === serviceFqdn;
    if (toService && d.subset && i.destination !== i.service && !i.replacementHasSubsets)
      refused.push(
        ruleChange(
          `subset "${d.subset}" of ${serviceFqdn}: no DestinationRule in ${i.namespace} defines it, so the replacement ${i.destination} the gateway routes to cannot have it (--keep-service keeps the service)`,
          `Service ${i.namespace}/${i.service}`,
          'subset',
          d.subset,
        ),
      );
    // Another Service of the namespace that approach 2 replaced (or is replacing) is reached as its replacement.
    const other = !toService && host.endsWith(`.${i.namespace}.svc.${i.clusterDomain}`) ? i.replaced?.[host.split('.')[0]!] : undefined;
    return {
      ...d,
      host: toService ? destFqdn : other ? `${other}.${i.namespace}.svc.${i.clusterDomain}` : host,
      ...(d.port || !toService ? {} : { port: { number: servicePort } }),
    };
  };

  const http: Json[] = [];
  const tcp: Json[] = [];
  for (const vs of i.userRoutes) {
    const id = `VirtualService ${vs.metadata.namespace}/${vs.metadata.name}`;
    const vsNs = vs.metadata.namespace ?? i.namespace;
    const spec: Json = vs.spec ?? {};
    carried.push(`${vsNs}/${vs.metadata.name}`);
    if (spec.tls?.length) refused.push(ruleChange(`${id}: tls routes need TLS passthrough, which the centralized gateway does not configure`, id, 'tls'));
    (spec.http ?? []).forEach((r: Json, ri: number) => {
      if (r.delegate) refused.push(ruleChange(`${id} http[${ri}]: delegate is not carried to the gateway`, id, 'http.delegate', r.delegate));
      (r.match ?? []).forEach((m: Json, mi: number) => {
        for (const f of MESH_ONLY_MATCH)
          if (m[f] !== undefined)
            refused.push(
              ruleChange(
                `${id} http[${ri}].match[${mi}].${f}: matched on the client's sidecar; at the gateway every request comes from the gateway, so it cannot hold`,
                id,
                `http.match.${f}`,
                m,
              ),
            );
        if (m.authority !== undefined)
          refused.push(
            ruleChange(`${id} http[${ri}].match[${mi}].authority: acmg matches the service's names by authority at the gateway`, id, 'http.match.authority', m),
          );
      });
      for (const p of i.ports.filter((q) => q.protocol !== 'TCP')) {
        const matches = (r.match?.length ? r.match : [{}]).filter((m: Json) => !m.port || m.port === p.port);
        if (!matches.length) continue;
        const { match: _m, route, mirror, mirrors, ...rest } = r;
        http.push({
          ...rest,
          ...(r.name ? { name: i.ports.length > 1 ? `${r.name}-${p.port}` : r.name } : {}),
          match: matches.map((m: Json) => {
            const { port: _p, sourceLabels: _sl, sourceNamespace: _sn, gateways: _g, ...keep } = m;
            return { ...keep, port: p.listenerPort, authority };
          }),
          ...(route ? { route: route.map((w: Json) => ({ ...w, destination: destination(w.destination ?? {}, vsNs, p.port) })) } : {}),
          ...(mirror ? { mirror: destination(mirror, vsNs, p.port) } : {}),
          ...(mirrors ? { mirrors: mirrors.map((x: Json) => ({ ...x, destination: destination(x.destination ?? {}, vsNs, p.port) })) } : {}),
        });
      }
    });
    (spec.tcp ?? []).forEach((r: Json) => {
      for (const p of i.ports.filter((q) => q.protocol === 'TCP')) {
        const matches = (r.match?.length ? r.match : [{}]).filter((m: Json) => !m.port || m.port === p.port);
        if (!matches.length) continue;
        tcp.push({
          ...r,
          match: matches.map((m: Json) => {
            const { port: _p, sourceLabels: _sl, sourceNamespace: _sn, gateways: _g, ...keep } = m;
            return { ...keep, port: p.listenerPort };
          }),
          route: (r.route ?? []).map((w: Json) => ({ ...w, destination: destination(w.destination ?? {}, vsNs, p.port) })),
        });
      }
    });
  }
  // Ports the user's rules do not route: the service itself, as a sidecar without a rule would.
  const routedHttp = i.userRoutes.some((vs) => (vs.spec?.http ?? []).length > 0);
  const routedTcp = i.userRoutes.some((vs) => (vs.spec?.tcp ?? []).length > 0);
  for (const p of i.ports) {
    const to = { destination: { host: destFqdn, port: { number: p.port } } };
    if (p.protocol === 'TCP') {
      if (!routedTcp) tcp.push({ match: [{ port: p.listenerPort }], route: [to] });
    } else if (!routedHttp) http.push({ name: `port-${p.port}`, match: [{ port: p.listenerPort, authority }], route: [to] });
  }

  return {
    virtualService: {
      apiVersion: ISTIO_NETWORKING_VERSION,
      kind: 'VirtualService',
      metadata: {
        name: routeName(i.service),
        namespace: i.namespace,
        labels: { ...acmgLabels('route', i.version), 'acmg.io/service': i.service },
      },
      spec: {
        hosts: ['*'],
        gateways: [`${i.gateway.namespace}/${i.gateway.name}`],
        exportTo: [i.gateway.namespace],
        ...(http.length ? { http } : {}),
        ...(tcp.length ? { tcp } : {}),
      },
    },
    refused,
    carried,
  };
}

/** Whether a VirtualService routes for sidecars (no gateways, or "mesh" among them). */
export const boundToMesh = (vs: KObject): boolean => {
  const g: string[] | undefined = vs.spec?.gateways;
  return !g || g.length === 0 || g.includes('mesh');
};

/** Whether a mesh VirtualService routes this service (one of its hosts is the service's FQDN, short names resolved in its namespace). */
export function routesService(vs: KObject, service: string, namespace: string, clusterDomain: string): boolean {
  const fqdn = `${service}.${namespace}.svc.${clusterDomain}`;
  const vsNs = vs.metadata.namespace ?? '';
  return boundToMesh(vs) && (vs.spec?.hosts ?? []).some((h: string) => fqdnOf(h, vsNs, clusterDomain) === fqdn);
}

/** The user's DestinationRule for a service (its namespace's, for the service's host), if any: the oldest, as Istio picks. */
export function destinationRuleOf(rules: KObject[], service: string, namespace: string, clusterDomain: string): KObject | undefined {
  const fqdn = `${service}.${namespace}.svc.${clusterDomain}`;
  return rules
    .filter((r) => !isAcmgObject(r) && fqdnOf(String(r.spec?.host ?? ''), r.metadata.namespace ?? namespace, clusterDomain) === fqdn)
    .sort(
      (a, b) =>
        String(a.metadata.creationTimestamp ?? '').localeCompare(String(b.metadata.creationTimestamp ?? '')) || a.metadata.name.localeCompare(b.metadata.name),
    )[0];
}

/**
 * Approach 2: the user's DestinationRule for the service, for its replacement: the same subsets
 * (they select pods by label, and the replacement selects the same pods) and traffic policy, so
 * the carried rules' subsets, load balancing and connection pools hold at the gateway.
 */
export function renderReplacementDestinationRule(rule: KObject, service: string, replacement: string, clusterDomain: string, version: string): KObject {
  const ns = rule.metadata.namespace!;
  const { exportTo: _e, workloadSelector: _w, ...spec } = rule.spec ?? {};
  return {
    apiVersion: ISTIO_NETWORKING_VERSION,
    kind: 'DestinationRule',
    metadata: { name: routeName(service), namespace: ns, labels: { ...acmgLabels('route', version), 'acmg.io/service': service } },
    spec: { ...spec, host: `${replacement}.${ns}.svc.${clusterDomain}` },
  };
}

/** Whether an Istio config object is visible to a namespace (exportTo unset, "*", or naming it). */
export const exportedTo = (o: KObject, namespace: string): boolean => {
  const e: string[] | undefined = o.spec?.exportTo;
  return !e || e.length === 0 || e.includes('*') || e.includes(namespace) || (e.includes('.') && o.metadata.namespace === namespace);
};

export interface ServiceRoutingInput {
  service: string;
  namespace: string;
  approach: Approach;
  /** The install's routing API (default istio). */
  api?: RoutingApi;
  clusterDomain: string;
  installNamespace: string;
  replacementSuffix: string;
  /** The service's ports, each with its listener port at the namespace's door (0 while planning). */
  ports: ListenedPort[];
  /** VirtualServices, DestinationRules and HTTPRoutes of the service's namespace (acmg's own are skipped); migrate's route step passes a plan's carried GRPCRoutes here too. */
  virtualServices: KObject[];
  destinationRules: KObject[];
  httpRoutes?: KObject[];
  /** The namespace's GRPCRoutes, TCPRoutes and TLSRoutes: a GAMMA one for the service is carried (GRPCRoutes with the Gateway API) or refused (uncarriedMeshRouteKinds). */
  uncarriedRoutes?: KObject[];
  /** Other Services of the namespace migrated with --replace-service (a carried rule sending to one goes to its replacement). */
  replacedServices?: Iterable<string>;
  version: string;
}

export interface ServiceRouting {
  /** What acmg writes for the service's routing, in apply order (the route's destination first). */
  objects: KObject[];
  /** Approach 2, where the user has a DestinationRule for the service: its copy for the replacement (Istio API). */
  destinationRule?: KObject;
  /** The user's objects the routing is made from (VirtualServices, or GAMMA HTTPRoutes and GRPCRoutes with the Gateway API). */
  userRoutes: KObject[];
  userRule?: KObject;
  /** The user's rules that cannot hold at the gateway (migrate refuses them unless accepted). */
  refused: RuleChange[];
}

/**
 * What acmg writes for one migrated service from the user's routing objects as they are now: its
 * route at the namespace's door and, approach 2, the DestinationRule copy. Migrate (at plan and at
 * apply) and acmg sync (following later edits) all call this.
 */
/** The replaced Services other than this one, by name -> replacement. */
const replacedOthers = (i: ServiceRoutingInput): Record<string, string> =>
  Object.fromEntries([...(i.replacedServices ?? [])].filter((n) => n !== i.service).map((n) => [n, replacementName(n, i.replacementSuffix)]));

export function renderServiceRouting(i: ServiceRoutingInput): ServiceRouting {
  return routingApiOf({ routing: { api: i.api } }) === 'gateway-api' ? renderGatewayApiRouting(i) : renderIstioRouting(i);
}

const routingOf = (o: KObject) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;

/** The user's GAMMA routes for the service of the kinds the install's API does not carry: the gateway would route it without them. */
const uncarriedRouteChanges = (i: ServiceRoutingInput): RuleChange[] =>
  meshHttpRoutesOf(
    (i.uncarriedRoutes ?? []).filter((r) => uncarriedMeshRouteKinds(routingApiOf({ routing: { api: i.api } })).includes(r.kind)),
    i.service,
    i.namespace,
  ).map((r) =>
    ruleChange(
      `${routingOf(r)} routes ${i.service} for the mesh (GAMMA): acmg does not carry ${r.kind}s to the gateway, which would send ${i.service}'s traffic to the service without its rules (move them to ${routingApiOf({ routing: { api: i.api } }) === 'gateway-api' ? 'an HTTPRoute' : 'a VirtualService'}, or leave ${i.service} on its sidecars)`,
      routingOf(r),
      'uncarried-route-kind',
      r.spec,
    ),
  );

/**
 * The user's DestinationRule for the service, as the gateway must see it (either API: Istio applies
 * it to a Gateway API backend too): approach 2 copies it for the replacement; approach 1 needs it
 * exported to the gateway's namespace.
 */
function destinationRuleFor(i: ServiceRoutingInput, destination: string): { userRule?: KObject; destinationRule?: KObject; refused: RuleChange[] } {
  const userRule = destinationRuleOf(i.destinationRules, i.service, i.namespace, i.clusterDomain);
  if (!userRule) return { refused: [] };
  if (i.approach === 'replace-service')
    return { userRule, destinationRule: renderReplacementDestinationRule(userRule, i.service, destination, i.clusterDomain, i.version), refused: [] };
  if (exportedTo(userRule, i.installNamespace)) return { userRule, refused: [] };
  return {
    userRule,
    refused: [
      ruleChange(
        `DestinationRule ${i.namespace}/${userRule.metadata.name} is exported only to ${JSON.stringify(userRule.spec.exportTo)}: the gateway in ${i.installNamespace} would not apply its subsets and traffic policy (export it to "${i.installNamespace}" too)`,
        routingOf(userRule),
        'exportTo',
        userRule.spec.exportTo,
      ),
    ],
  };
}

/**
 * The Gateway API form: the user's GAMMA HTTPRoutes are carried; their mesh VirtualServices, which
 * a Gateway API gateway does not read, are named (migrate refuses them unless accepted).
 */
function renderGatewayApiRouting(i: ServiceRoutingInput): ServiceRouting {
  // HTTPRoutes, GRPCRoutes and TCPRoutes, oldest first (as istiod merges a service's routes).
  const carried = (i.uncarriedRoutes ?? []).filter((r) => r.kind === 'GRPCRoute' || r.kind === 'TCPRoute');
  const userRoutes = meshHttpRoutesOf([...(i.httpRoutes ?? []), ...carried], i.service, i.namespace);
  const destination = i.approach === 'replace-service' ? replacementName(i.service, i.replacementSuffix) : i.service;
  const refused = i.virtualServices
    .filter((vs) => !isAcmgObject(vs) && routesService(vs, i.service, i.namespace, i.clusterDomain))
    .map((vs) =>
      ruleChange(
        `${routingOf(vs)} routes ${i.service} for sidecars: with routing.api gateway-api the gateway carries HTTPRoutes (GAMMA) only; convert it to an HTTPRoute with parentRefs to Service ${i.service}, or install with --set routing.api=istio`,
        routingOf(vs),
        'virtual-service-with-gateway-api',
      ),
    );
  const rule = destinationRuleFor(i, destination);
  refused.push(...rule.refused, ...uncarriedRouteChanges(i));
  const routes = renderGatewayApiRoutes({
    service: i.service,
    namespace: i.namespace,
    clusterDomain: i.clusterDomain,
    gateway: { namespace: i.installNamespace, name: namespaceGatewayName(i.namespace) },
    destination,
    ports: i.ports,
    userRoutes,
    replaced: replacedOthers(i),
    version: i.version,
  });
  return {
    objects: [...(rule.destinationRule ? [rule.destinationRule] : []), ...routes.objects],
    ...(rule.destinationRule ? { destinationRule: rule.destinationRule } : {}),
    userRoutes,
    ...(rule.userRule ? { userRule: rule.userRule } : {}),
    refused: [...refused, ...routes.refused],
  };
}

function renderIstioRouting(i: ServiceRoutingInput): ServiceRouting {
  const userRoutes = i.virtualServices
    .filter((vs) => !isAcmgObject(vs) && routesService(vs, i.service, i.namespace, i.clusterDomain))
    // Istio applies the oldest VirtualService of a host first: keep that order.
    .sort(
      (a, b) =>
        String(a.metadata.creationTimestamp ?? '').localeCompare(String(b.metadata.creationTimestamp ?? '')) || a.metadata.name.localeCompare(b.metadata.name),
    );
  const replacing = i.approach === 'replace-service';
  const destination = replacing ? replacementName(i.service, i.replacementSuffix) : i.service;
  const rule = destinationRuleFor(i, destination);
  const refused = [...rule.refused, ...uncarriedRouteChanges(i)];
  const route = renderGatewayRoute({
    service: i.service,
    namespace: i.namespace,
    clusterDomain: i.clusterDomain,
    gateway: { namespace: i.installNamespace, name: namespaceGatewayName(i.namespace) },
    destination,
    ports: i.ports,
    userRoutes,
    replacementHasSubsets: Boolean(rule.destinationRule),
    replaced: replacedOthers(i),
    version: i.version,
  });
  refused.push(...route.refused);
  // GAMMA HTTPRoutes are for a Gateway API mesh: an Istio gateway does not read them.
  for (const hr of meshHttpRoutesOf(i.httpRoutes ?? [], i.service, i.namespace))
    refused.push(
      ruleChange(
        `${routingOf(hr)} routes ${i.service} for the mesh (GAMMA): with routing.api istio the gateway carries VirtualServices only; install with --set routing.api=gateway-api to carry it`,
        routingOf(hr),
        'http-route-with-istio',
      ),
    );
  return {
    objects: [...(rule.destinationRule ? [rule.destinationRule] : []), route.virtualService],
    ...(rule.destinationRule ? { destinationRule: rule.destinationRule } : {}),
    userRoutes,
    ...(rule.userRule ? { userRule: rule.userRule } : {}),
    refused,
  };
}
