// A migrated service's routes at its namespace's door, Gateway API form (routing.api: gateway-api;
// the Istio form is gateway-routes.ts): per service port an HTTPRoute (TCPRoute for TCP) attached to
// the door's listener for that port. The user's own mesh routes for the service (GAMMA HTTPRoutes:
// parentRefs the Service) are carried over as they are (matches, filters, weights, timeouts), each
// match narrowed to the service's names by the Host header, and backendRefs to the service sent to
// where the gateway routes it (approach 2: the replacement). Without a user route, one rule to the
// service. acmg never edits the user's objects; it writes these copies.
import type { KObject } from '../model/object.js';
import type { RuleChange } from '../model/state.js';
import { GATEWAY_API_GROUP, GATEWAY_API_VERSION, doorListenerName, portRouteName, routeKindFor } from './gateway-api.js';
import { authorityRegex, type ListenedPort } from './gateway-routes.js';
import { acmgLabels, isAcmgObject } from './labels.js';
import { ruleChange } from './rule-change.js';

type Json = Record<string, any>;

/** Whether a route's parentRef names this Service (GAMMA: group "" or "core", kind Service). */
const refsService = (ref: Json, service: string, namespace: string, routeNamespace: string): boolean =>
  ref.kind === 'Service' && (ref.group === '' || ref.group === 'core') && ref.name === service && (ref.namespace ?? routeNamespace) === namespace;

/**
 * GAMMA route kinds acmg does not carry to the gateway (it carries HTTPRoutes): a migration would
 * lose their rules there, so migrate names each one (a rule change, refused unless accepted).
 */
export const UNCARRIED_MESH_ROUTE_KINDS = ['GRPCRoute', 'TCPRoute', 'TLSRoute'] as const;

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
    if (kind === 'HTTPRoute') {
      for (const r of i.userRoutes) {
        const id = `HTTPRoute ${r.metadata.namespace}/${r.metadata.name}`;
        const routeNs = r.metadata.namespace ?? i.namespace;
        // A parentRef with a port routes only that port of the Service.
        const refs = (r.spec?.parentRefs ?? []).filter((ref: Json) => refsService(ref, i.service, i.namespace, routeNs));
        if (!refs.some((ref: Json) => ref.port === undefined || ref.port === p.port)) continue;
        if ((r.spec?.hostnames ?? []).length)
          refused.push(
            ruleChange(`${id}: hostnames do not apply to mesh routes; acmg matches the service's names at the gateway`, id, 'hostnames', r.spec.hostnames),
          );
        (r.spec?.rules ?? []).forEach((rule: Json, ri: number) => {
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
      rules.push({ backendRefs: [backend({ name: i.destination, port: p.port }, i.namespace, p.port)] });
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
