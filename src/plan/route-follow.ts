// acmg sync, following the user's routing: what acmg's route at each migrated service's door (and
// approach 2's DestinationRule copy) should be now, rendered from the user's VirtualServices and
// DestinationRule as they are (render/gateway-routes.ts, the same function migrate uses), compared
// by fingerprint with what acmg wrote. A later edit the gateway cannot hold (beyond what the user
// accepted at migrate) is not carried: the gateway keeps the rules it had, and sync says why.
import { createHash } from 'node:crypto';
import type { KObject } from '../model/object.js';
import { acceptedRuleChange, listenerKey, type MigrationRecord } from '../model/state.js';
import type { GatewayProtocol } from '../model/ports.js';
import { renderServiceRouting } from '../render/gateway-routes.js';
import { sortKeysDeep } from '../render/serialize.js';
import { isAcmgObject } from '../render/labels.js';
import { routeName } from '../render/routes.js';
import type { RoutingApi } from '../render/gateway-api.js';

/** Where a projection keeps the fingerprint of acmg's own object's spec (never written to the cluster). */
export const SPEC_FINGERPRINT = 'acmg.io/spec-fingerprint';

export const specFingerprint = (spec: unknown): string =>
  createHash('sha256')
    .update(JSON.stringify(sortKeysDeep(spec ?? {})))
    .digest('hex')
    .slice(0, 32);

/**
 * What a reconcile keeps of a DestinationRule (or of acmg's VirtualService): acmg's own by name,
 * labels and the fingerprint of its spec; the user's whole, as the route is rendered from it.
 */
export function projectRoutingObject(o: KObject): KObject {
  const { name, namespace, creationTimestamp } = o.metadata;
  const managedBy = o.metadata.labels?.['app.kubernetes.io/managed-by'];
  if (isAcmgObject(o))
    return {
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'acmg' }, annotations: { [SPEC_FINGERPRINT]: specFingerprint(o.spec) } },
    };
  const labels = managedBy ? { labels: { 'app.kubernetes.io/managed-by': managedBy } } : {};
  return { apiVersion: o.apiVersion, kind: o.kind, metadata: { name, namespace, ...labels, creationTimestamp }, spec: o.spec };
}

export interface RouteFollowInput {
  migrations: MigrationRecord[];
  /** acmg's state: "namespace/port" -> the listener port at the namespace's door. */
  listeners: Record<string, number>;
  clusterDomain: string;
  installNamespace: string;
  replacementSuffix: string;
  version: string;
  /** The install's routing API (default istio). */
  api?: RoutingApi;
  /**
   * VirtualServices, DestinationRules and HTTPRoutes (GAMMA: carried with the Gateway API, named with
   * Istio's), and acmg's TCPRoutes, projected (projectRoutingObject, or whole).
   */
  virtualServices: Iterable<KObject>;
  destinationRules: Iterable<KObject>;
  httpRoutes?: Iterable<KObject>;
  tcpRoutes?: Iterable<KObject>;
  /** The GAMMA kinds acmg does not carry (GRPCRoutes, TCPRoutes, TLSRoutes): one added for a migrated service is named, not lost. */
  uncarriedRoutes?: Iterable<KObject>;
}

export interface RouteFollowPlan {
  apply: KObject[];
  delete: { apiVersion: string; kind: string; name: string; namespace: string }[];
  warnings: string[];
  /** The migrations whose route is held as it is ("ns/service"), each with why (the warnings, unframed). */
  held: { id: string; reasons: string[] }[];
}

const byNamespace = (objs: Iterable<KObject>): Map<string, KObject[]> => {
  const out = new Map<string, KObject[]>();
  for (const o of objs) {
    const n = o.metadata.namespace ?? '';
    if (!out.has(n)) out.set(n, []);
    out.get(n)!.push(o);
  }
  return out;
};

const fingerprintOf = (o: KObject | undefined) => (o ? (o.metadata.annotations?.[SPEC_FINGERPRINT] ?? specFingerprint(o.spec)) : undefined);

/** For every completed migration: acmg's objects to write (missing or changed) and to delete. */
export function planRouteFollow(i: RouteFollowInput): RouteFollowPlan {
  const plan: RouteFollowPlan = { apply: [], delete: [], warnings: [], held: [] };
  const vss = byNamespace(i.virtualServices);
  const drs = byNamespace(i.destinationRules);
  const hrs = byNamespace(i.httpRoutes ?? []);
  const trs = byNamespace(i.tcpRoutes ?? []);
  const uncarried = byNamespace(i.uncarriedRoutes ?? []);
  // Only settled migrations: a run in progress writes its own route; a rollback removes it.
  const settled = i.migrations.filter((m) => m.phase === 'complete' && m.journal.includes('route'));
  // Services whose traffic goes to a replacement (approach 2), by namespace: a carried rule that
  // sends to one of them goes to its replacement (every record given counts, a run in progress too).
  const replaced = new Map<string, string[]>();
  for (const m of i.migrations.filter((x) => x.approach === 'replace-service' && x.phase !== 'rolling-back'))
    replaced.set(m.namespace, [...(replaced.get(m.namespace) ?? []), m.service]);
  for (const m of [...settled].sort((a, b) => `${a.namespace}/${a.service}`.localeCompare(`${b.namespace}/${b.service}`))) {
    const id = `${m.namespace}/${m.service}`;
    // The record's ports are as migrate classified them (HTTP, HTTP2, GRPC, TCP).
    const ports = m.ports.map((p) => ({
      name: p.name,
      port: p.port,
      protocol: p.protocol as GatewayProtocol,
      listenerPort: i.listeners[listenerKey(m.namespace, p.port)],
    }));
    const unheard = ports.filter((p) => p.listenerPort === undefined).map((p) => p.port);
    if (unheard.length) {
      const reason = `acmg's state has no gateway listener for its port(s) ${unheard.join(', ')}`;
      plan.warnings.push(`${id}: ${reason}; its route is left as it is (roll it back and migrate it again)`);
      plan.held.push({ id, reasons: [reason] });
      continue;
    }
    const vsHere = vss.get(m.namespace) ?? [];
    const drHere = drs.get(m.namespace) ?? [];
    const hrHere = hrs.get(m.namespace) ?? [];
    const r = renderServiceRouting({
      service: m.service,
      namespace: m.namespace,
      approach: m.approach,
      api: i.api,
      httpRoutes: hrHere,
      uncarriedRoutes: uncarried.get(m.namespace) ?? [],
      replacedServices: replaced.get(m.namespace) ?? [],
      clusterDomain: i.clusterDomain,
      installNamespace: i.installNamespace,
      replacementSuffix: i.replacementSuffix,
      ports: ports as { name: string; port: number; protocol: GatewayProtocol; listenerPort: number }[],
      virtualServices: vsHere,
      destinationRules: drHere,
      version: i.version,
    });
    const fresh = r.refused.filter((x) => !acceptedRuleChange(m.acceptedRuleChanges, x)).map((x) => x.message);
    if (fresh.length) {
      plan.held.push({ id, reasons: fresh });
      plan.warnings.push(
        ...fresh.map(
          (x) =>
            `${id}: not carrying the edit to the gateway, which keeps the rules it had: ${x} (change that rule, or roll ${id} back and migrate it again with --accept-rule-changes)`,
        ),
      );
      continue;
    }
    // acmg's objects here, by kind and name: each rendered one is written where it differs.
    const live = new Map(
      [...vsHere, ...drHere, ...hrHere, ...(trs.get(m.namespace) ?? [])].filter(isAcmgObject).map((o) => [`${o.kind}/${o.metadata.name}`, o] as const),
    );
    for (const o of r.objects) if (fingerprintOf(live.get(`${o.kind}/${o.metadata.name}`)) !== specFingerprint(o.spec)) plan.apply.push(o);
    const name = routeName(m.service);
    const liveRule = live.get(`DestinationRule/${name}`);
    if (!r.destinationRule && liveRule) plan.delete.push({ apiVersion: liveRule.apiVersion, kind: 'DestinationRule', name, namespace: m.namespace });
  }
  return plan;
}

/**
 * acmg's route for a service as it is, its Service destinations renamed (`renames`: name -> name,
 * Services of the route's namespace): where approach 2 replaces or restores a Service that a held
 * route (one whose user's rules the gateway cannot hold now, so it keeps the rules it had) sends
 * to, the route keeps its rules and follows the Service. Undefined when nothing is renamed.
 */
export function retargetRoute(route: KObject, renames: Record<string, string>, clusterDomain: string): KObject | undefined {
  const ns = route.metadata.namespace!;
  const suffix = `.${ns}.svc.${clusterDomain}`;
  let changed = false;
  const rename = (name: string): string => {
    const to = Object.hasOwn(renames, name) ? renames[name]! : name;
    if (to !== name) changed = true;
    return to;
  };
  // Istio: destinations are hosts (acmg writes FQDNs), in routes and mirrors.
  const host = (d: any) => (typeof d?.host === 'string' && d.host.endsWith(suffix) ? { ...d, host: `${rename(d.host.slice(0, -suffix.length))}${suffix}` } : d);
  // Gateway API: a backendRef to a Service of the route's namespace, in rules and mirror filters.
  const ref = (b: any) =>
    b && (b.kind ?? 'Service') === 'Service' && (b.group ?? '') === '' && (b.namespace ?? ns) === ns && typeof b.name === 'string'
      ? { ...b, name: rename(b.name) }
      : b;
  const spec = structuredClone(route.spec ?? {});
  if (route.kind === 'VirtualService') {
    for (const kind of ['http', 'tcp', 'tls'])
      for (const r of spec[kind] ?? []) {
        for (const w of r.route ?? []) w.destination = host(w.destination);
        if (r.mirror) r.mirror = host(r.mirror);
        for (const m of r.mirrors ?? []) m.destination = host(m.destination);
      }
  } else {
    for (const r of spec.rules ?? []) {
      r.backendRefs = (r.backendRefs ?? []).map(ref);
      if (!r.backendRefs.length) delete r.backendRefs;
      for (const f of r.filters ?? []) if (f.requestMirror?.backendRef) f.requestMirror.backendRef = ref(f.requestMirror.backendRef);
    }
  }
  if (!changed) return undefined;
  const { name, labels, annotations } = route.metadata;
  return {
    apiVersion: route.apiVersion,
    kind: route.kind,
    metadata: { name, namespace: ns, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
    spec,
  };
}
