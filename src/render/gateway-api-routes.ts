// A migrated service's routes at its namespace's door, Gateway API form (routing.api: gateway-api;
// the Istio form is gateway-routes.ts): per service port an HTTPRoute (TCPRoute for TCP) attached to
// the door's listener for that port. The user's own mesh routes for the service (GAMMA HTTPRoutes:
// parentRefs the Service) are carried over as they are (matches, filters, weights, timeouts), each
// match narrowed to the service's names by the Host header, and backendRefs to the service sent to
// where the gateway routes it (approach 2: the replacement). Without a user route, one rule to the
// service. acmg never edits the user's objects; it writes these copies.
import type { KObject } from '../model/object.js';
import type { RuleChange } from '../model/state.js';
import { GATEWAY_API_GROUP, GATEWAY_API_VERSION, doorListenerName, portRouteName, routeKindFor, type RoutingApi } from './gateway-api.js';
import { authorityRegex, type ListenedPort } from './gateway-routes.js';
import { acmgLabels, isAcmgObject } from './labels.js';
import { ruleChange } from './rule-change.js';

type Json = Record<string, any>;

/** Whether a route's parentRef names this Service (GAMMA: group "" or "core", kind Service). */
const refsService = (ref: Json, service: string, namespace: string, routeNamespace: string): boolean =>
  ref.kind === 'Service' && (ref.group === '' || ref.group === 'core') && ref.name === service && (ref.namespace ?? routeNamespace) === namespace;

/** A user's route as messages name it: "Kind ns/name". */
export const routeId = (r: KObject) => `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`;

/**
 * GAMMA route kinds acmg does not carry to the gateway: a migration would lose their rules there,
 * so migrate names each one (a rule change, refused unless accepted). With the Gateway API it
 * carries HTTPRoutes, GRPCRoutes (as HTTPRoute rules: what istiod makes of them) and TCPRoutes.
 * (HTTPRoutes with Istio's API are named on their own: the fix there is another API.)
 */
export const UNCARRIED_MESH_ROUTE_KINDS = ['GRPCRoute', 'TCPRoute', 'TLSRoute'] as const;
export const uncarriedMeshRouteKinds = (api: RoutingApi): readonly string[] => (api === 'gateway-api' ? ['TLSRoute'] : UNCARRIED_MESH_ROUTE_KINDS);

/**
 * A GRPCRoute match as the HTTPRoute match istiod makes of it (pilot's createGRPCURIMatch): gRPC
 * calls are POSTs to /<service>/<method>. A method with a service and a method is that exact path,
 * a service alone its prefix, a method alone (or a regular expression) a regular expression; the
 * header matches are the same. A match without a method matches every path (undefined: no path).
 */
export function grpcPathMatch(method: Json | undefined): Json | undefined {
  if (!method) return undefined;
  const { service, method: name } = method;
  if ((method.type ?? 'Exact') === 'Exact') {
    if (service && name) return { type: 'Exact', value: `/${service}/${name}` };
    if (service) return { type: 'PathPrefix', value: `/${service}/` };
    return { type: 'RegularExpression', value: `/[^/]+/${name}` };
  }
  if (!name) return { type: 'RegularExpression', value: `/${service}/.+` };
  return { type: 'RegularExpression', value: service ? `/${service}/${name}` : `/[^/]+/${name}` };
}

/** The user's GAMMA routes (parentRefs the Service) for a service (acmg's skipped), oldest first as Gateway API orders ties. */
export function meshHttpRoutesOf(routes: KObject[], service: string, namespace: string): KObject[] {
  return routes
    .filter((r) => !isAcmgObject(r) && (r.spec?.parentRefs ?? []).some((p: Json) => refsService(p, service, namespace, r.metadata.namespace ?? '')))
    .sort(
      (a, b) =>
        String(a.metadata.creationTimestamp ?? '').localeCompare(String(b.metadata.creationTimestamp ?? '')) || a.metadata.name.localeCompare(b.metadata.name),
    );
}

export interface GatewayApiRouteInput {
  service: string;
  namespace: string;
  clusterDomain: string;
  /** The namespace's door Gateway (install namespace / its name). */
  gateway: { namespace: string; name: string };
  /** Where traffic for the service goes: the service itself (approach 1) or its replacement (approach 2). */
  destination: string;
  ports: ListenedPort[];
  /** The user's GAMMA HTTPRoutes for the service (meshHttpRoutesOf). */
  userRoutes: KObject[];
  /** Other Services of the namespace whose traffic goes to a replacement (approach 2): name -> replacement. */
  replaced?: Record<string, string>;
  version: string;
}

export interface GatewayApiRoutes {
  objects: KObject[];
  refused: RuleChange[];
}

/** A GRPCRoute rule as the HTTPRoute rule istiod makes of it: its matches by path (grpcPathMatch); filters and backendRefs are the same fields. */
function asHttpRule(rule: Json): Json {
  if (!rule.matches) return rule;
  return {
    ...rule,
    matches: rule.matches.map((m: Json) => {
      const path = grpcPathMatch(m.method);
      return { ...(path ? { path } : {}), ...(m.headers ? { headers: m.headers } : {}) };
    }),
  };
}

/**
 * Where the gateway would order a service port's carried rules otherwise than the sidecars do.
 * istiod ranks a route's matches (exact path, prefix by length, regular expression, none), and a
 * GRPCRoute match without a method has no path for the sidecars (ranked last) but the HTTPRoute
 * rule at the gateway matches "/" (ranked above a regular expression); HTTPRoutes and GRPCRoutes for
 * one port are ranked together, which acmg does not reproduce.
 */
function grpcOrderChanges(routes: KObject[], service: string, port: number): RuleChange[] {
  const grpc = routes.filter((r) => r.kind === 'GRPCRoute');
  if (!grpc.length) return [];
  const http = routes.filter((r) => r.kind !== 'GRPCRoute');
  if (http.length)
    return grpc.map((r) =>
      ruleChange(
        `${routeId(r)} and ${http.map(routeId).join(', ')} both route port ${port} of ${service}: the sidecars rank their rules together, the gateway may order them otherwise (route the port with one kind; accepted, acmg carries both, the older route's rules first)`,
        routeId(r),
        'grpc-beside-http-route',
      ),
    );
  const matches = grpc.flatMap((r) => (r.spec?.rules ?? []).flatMap((rule: Json) => (rule.matches?.length ? rule.matches : [{}])));
  if (!matches.some((m: Json) => grpcPathMatch(m.method)?.type === 'RegularExpression') || !matches.some((m: Json) => !m.method)) return [];
  return grpc.map((r) =>
    ruleChange(
      `${routeId(r)}: a match without a method beside a regular-expression method match (port ${port} of ${service}): the gateway would try the match without a method first, the sidecars last (give that match a method, or name the methods exactly)`,
      routeId(r),
      'grpc-match-order',
    ),
  );
}

export function renderGatewayApiRoutes(i: GatewayApiRouteInput): GatewayApiRoutes {
  const refused: RuleChange[] = [];
  const host = { name: 'Host', type: 'RegularExpression', value: authorityRegex(i.service, i.namespace, i.clusterDomain) };
  // Written with the CRD's defaults spelled out, so what the API server stores is what was rendered
  // (acmg sync compares the two by fingerprint).
  const backend = (given: Json, routeNs: string, port: number, weighted = true): Json => {
    const b: Json = { group: '', kind: 'Service', ...(weighted ? { weight: 1 } : {}), ...given };
    if (!(b.kind === 'Service' && b.group === '' && (b.namespace ?? routeNs) === i.namespace)) return b;
    const { namespace: _n, ...rest } = b;
    if (b.name === i.service) return { ...rest, name: i.destination, port: b.port ?? port };
    // Another Service of the namespace that approach 2 replaced (or is replacing): its replacement.
    const other = i.replaced?.[b.name];
    return other ? { ...rest, name: other } : b;
  };
  const anyPath = { type: 'PathPrefix', value: '/' };
  const objects: KObject[] = [];
  for (const p of i.ports) {
    const kind = routeKindFor(p.protocol);
    const rules: Json[] = [];
    // The user's routes for this port: a parentRef with a port routes only that port of the Service.
    const here = i.userRoutes.filter((r) =>
      (r.spec?.parentRefs ?? []).some(
        (ref: Json) => refsService(ref, i.service, i.namespace, r.metadata.namespace ?? i.namespace) && (ref.port === undefined || ref.port === p.port),
      ),
    );
    if (kind === 'HTTPRoute') {
      const httpHere = here.filter((r) => r.kind !== 'TCPRoute');
      refused.push(...grpcOrderChanges(httpHere, i.service, p.port));
      for (const r of httpHere) {
        const id = routeId(r);
        const routeNs = r.metadata.namespace ?? i.namespace;
        if ((r.spec?.hostnames ?? []).length)
          refused.push(
            ruleChange(`${id}: hostnames do not apply to mesh routes; acmg matches the service's names at the gateway`, id, 'hostnames', r.spec.hostnames),
          );
        (r.spec?.rules ?? [])
          .map((rule: Json) => (r.kind === 'GRPCRoute' ? asHttpRule(rule) : rule))
          .forEach((rule: Json, ri: number) => {
            const matches: Json[] = rule.matches?.length ? rule.matches : [{}];
            matches.forEach((m: Json, mi: number) => {
              if ((m.headers ?? []).some((h: Json) => String(h.name).toLowerCase() === 'host'))
                refused.push(
                  ruleChange(
                    `${id} rules[${ri}].matches[${mi}].headers: acmg matches the service's names by the Host header at the gateway`,
                    id,
                    'matches.headers.host',
                    m,
                  ),
                );
            });
            const { matches: _m, backendRefs, filters, ...rest } = rule;
            rules.push({
              ...rest,
              matches: matches.map((m: Json) => ({
                path: anyPath,
                ...m,
                headers: [...(m.headers ?? []).filter((h: Json) => String(h.name).toLowerCase() !== 'host'), host],
              })),
              ...(filters
                ? {
                    filters: filters.map((f: Json) =>
                      f.requestMirror?.backendRef
                        ? { ...f, requestMirror: { ...f.requestMirror, backendRef: backend(f.requestMirror.backendRef, routeNs, p.port, false) } }
                        : f,
                    ),
                  }
                : {}),
              ...(backendRefs ? { backendRefs: backendRefs.map((b: Json) => backend(b, routeNs, p.port)) } : {}),
            });
          });
      }
      // A port the user's routes do not route: the service itself, as a sidecar without a route would.
      if (!rules.length)
        rules.push({ matches: [{ path: anyPath, headers: [host] }], backendRefs: [backend({ name: i.destination, port: p.port }, i.namespace, p.port)] });
    } else {
      // The user's GAMMA TCPRoute for the port: its rules (backends and weights), as istiod gives the
      // sidecars. More than one for a port is refused (which one a sidecar takes is not the route's
      // to say); none: the service itself.
      const tcp = here.filter((r) => r.kind === 'TCPRoute');
      if (tcp.length > 1)
        refused.push(
          ...tcp.map((r) =>
            ruleChange(
              `${routeId(r)}: ${tcp.length} TCPRoutes route port ${p.port} of ${i.service}; acmg carries one (merge them into one route)`,
              routeId(r),
              'tcp-routes-per-port',
            ),
          ),
        );
      // An HTTPRoute or GRPCRoute on a port the gateway carries as TCP has no rules there; a sidecar
      // that sniffs the port (an unnamed port) applies them. Named, not dropped in silence.
      for (const r of here.filter((x) => x.kind !== 'TCPRoute'))
        refused.push(
          ruleChange(
            `${routeId(r)} routes port ${p.port} of ${i.service}, which the gateway carries as TCP (port name "${p.name}"): its rules would not apply there (name the port http-... or grpc-..., or set its appProtocol)`,
            routeId(r),
            'http-route-on-tcp-port',
          ),
        );
      const routeNs = tcp[0]?.metadata.namespace ?? i.namespace;
      const carried: Json[] = (tcp[0]?.spec?.rules ?? []).filter((rule: Json) => rule.backendRefs?.length);
      if (carried.length) rules.push(...carried.map((rule) => ({ ...rule, backendRefs: rule.backendRefs.map((b: Json) => backend(b, routeNs, p.port)) })));
      else rules.push({ backendRefs: [backend({ name: i.destination, port: p.port }, i.namespace, p.port)] });
    }
    objects.push({
      apiVersion: GATEWAY_API_VERSION,
      kind,
      metadata: {
        name: portRouteName(i.service, p.port),
        namespace: i.namespace,
        labels: { ...acmgLabels('route', i.version), 'acmg.io/service': i.service },
      },
      spec: {
        parentRefs: [{ group: GATEWAY_API_GROUP, kind: 'Gateway', namespace: i.gateway.namespace, name: i.gateway.name, sectionName: doorListenerName(p) }],
        rules,
      },
    });
  }
  return { objects, refused };
}
