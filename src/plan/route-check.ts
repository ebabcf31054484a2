// acmg verify-routes, the pure part: does the gateway, as istiod configures it (an Envoy config
// dump, istiod's /debug/config_dump for the gateway's connected proxy), route every name a migrated
// service is called by to where acmg's route sends it? For each migrated service, each HTTP port
// and each name a client uses (svc, svc.ns, svc.ns.svc, the FQDN, the FQDN with a trailing dot,
// with and without the port), on the listener of the namespace's door: the virtual host Envoy
// picks for that Host, the routes whose :authority matcher takes it, and the clusters they send
// to. TCP ports: the door listener's tcp_proxy cluster. The check does not evaluate the user's
// other matchers (headers, paths): a route that names the service counts for the name.
export interface RouteTarget {
  namespace: string;
  service: string;
  clusterDomain: string;
  /** Service ports with the door's listener port for each. */
  ports: { port: number; protocol: string; listenerPort: number }[];
  /** Hosts (FQDN) acmg's route sends to: the service or its replacement, and the user's carried destinations. */
  destinations: string[];
}

export type RouteOutcome = 'routed' | 'no-listener' | 'no-virtual-host' | 'no-route' | 'direct-response' | 'elsewhere' | 'unreadable';

export interface RouteCheck {
  namespace: string;
  service: string;
  /** The Host (HTTP) a client sends, or "tcp" for a TCP port. */
  name: string;
  port: number;
  listenerPort: number;
  proxy: string;
  outcome: RouteOutcome;
  clusters: string[];
  pass: boolean;
  why: string;
}

type Json = Record<string, any>;

const DUMP = 'type.googleapis.com/envoy.admin.v3.';

/** The route configurations and listeners of a config dump, by name. */
export function readConfigDump(dump: Json): { routes: Map<string, Json>; listeners: Map<string, Json> } {
  const configs: Json[] = Array.isArray(dump?.configs) ? dump.configs : [];
  const routes = new Map<string, Json>();
  const listeners = new Map<string, Json>();
  for (const c of configs) {
    if (c['@type'] === `${DUMP}RoutesConfigDump`)
      for (const r of [...(c.dynamicRouteConfigs ?? []), ...(c.staticRouteConfigs ?? [])])
        if (r.routeConfig?.name) routes.set(r.routeConfig.name, r.routeConfig);
    if (c['@type'] === `${DUMP}ListenersConfigDump`)
      for (const l of c.dynamicListeners ?? []) {
        const listener = l.activeState?.listener;
        if (listener?.name) listeners.set(listener.name, listener);
      }
  }
  return { routes, listeners };
}

/** The names a client calls a service by (the Host it sends), as the sidecar's domains listed them. */
export function callNames(service: string, namespace: string, clusterDomain: string, port: number): string[] {
  const fqdn = `${service}.${namespace}.svc.${clusterDomain}`;
  const bare = [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, fqdn, `${fqdn}.`];
  return bare.flatMap((n) => [n, `${n}:${port}`]);
}

/** Envoy's virtual host choice: an exact domain, then the longest suffix wildcard, then prefix, then "*". */
export function pickVirtualHost(vhs: Json[], host: string, ignorePort: boolean): Json | undefined {
  const h = (ignorePort ? host.replace(/:\d+$/, '') : host).toLowerCase();
  const domains = vhs.flatMap((vh) => ((vh.domains ?? []) as string[]).map((d) => ({ d: d.toLowerCase(), vh })));
  const exact = domains.find((x) => x.d === h);
  if (exact) return exact.vh;
  const longest = (xs: { d: string; vh: Json }[]) => xs.sort((a, b) => b.d.length - a.d.length)[0]?.vh;
  const suffix = longest(domains.filter((x) => x.d.startsWith('*') && x.d.length > 1 && h.endsWith(x.d.slice(1))));
  if (suffix) return suffix;
  const prefix = longest(domains.filter((x) => x.d.endsWith('*') && x.d.length > 1 && h.startsWith(x.d.slice(0, -1))));
  return prefix ?? domains.find((x) => x.d === '*')?.vh;
}

/** An Envoy StringMatcher against a value (RE2 `(?i)` becomes the `i` flag; other RE2-only syntax: undefined). */
export function stringMatches(m: Json, value: string): boolean | undefined {
  const ci = Boolean(m.ignoreCase);
  const v = ci ? value.toLowerCase() : value;
  const lit = (s: string) => (ci ? s.toLowerCase() : s);
  if (m.exact !== undefined) return v === lit(m.exact);
  if (m.prefix !== undefined) return v.startsWith(lit(m.prefix));
  if (m.suffix !== undefined) return v.endsWith(lit(m.suffix));
  if (m.contains !== undefined) return v.includes(lit(m.contains));
  if (m.safeRegex?.regex !== undefined) {
    let re: string = m.safeRegex.regex;
    const flags = re.startsWith('(?i)') ? 'i' : '';
    if (flags) re = re.slice(4);
    try {
      return new RegExp(`^(?:${re})$`, flags).test(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Whether a route's :authority matcher takes the host: true, false, or undefined when the route has
 * none. A matcher on `host` is one too: Envoy reads a request's host header as :authority (the
 * Gateway API cannot name a pseudo-header, so its routes match `Host`).
 */
function authorityMatch(route: Json, host: string): boolean | undefined {
  const matchers: Json[] = (route.match?.headers ?? []).filter((h: Json) => [':authority', 'host'].includes(String(h.name).toLowerCase()));
  if (!matchers.length) return undefined;
  return matchers.every((h) => {
    const m = h.stringMatch ?? (h.exactMatch !== undefined ? { exact: h.exactMatch } : h.safeRegexMatch ? { safeRegex: h.safeRegexMatch } : undefined);
    const hit = m ? stringMatches(m, host) : h.presentMatch !== undefined ? true : undefined;
    return hit === undefined ? false : h.invertMatch ? !hit : hit;
  });
}

const clustersOf = (route: Json): string[] => {
  const r = route.route;
  if (!r) return [];
  return [...(r.cluster ? [r.cluster] : []), ...((r.weightedClusters?.clusters ?? []) as Json[]).map((c) => String(c.name))];
};

/** The host of an Istio cluster name (outbound|port|subset|host), or the name as it is. */
export const clusterHost = (name: string): string => name.split('|')[3] ?? name;

/** Checks one gateway proxy's config dump for every name of every target. */
export function checkRoutes(targets: RouteTarget[], dump: Json, proxy: string): RouteCheck[] {
  const { routes, listeners } = readConfigDump(dump);
  const out: RouteCheck[] = [];
  for (const t of targets) {
    const expected = new Set(t.destinations);
    const judge = (clusters: string[]) => {
      const wrong = clusters.filter((c) => !expected.has(clusterHost(c)));
      return wrong.length ? { outcome: 'elsewhere' as const, why: `routed to ${wrong.join(', ')}, not to ${[...expected].sort().join(' or ')}` } : undefined;
    };
    for (const p of t.ports) {
      const base = { namespace: t.namespace, service: t.service, port: p.port, listenerPort: p.listenerPort, proxy };
      const fail = (name: string, outcome: RouteOutcome, why: string, clusters: string[] = []) =>
        out.push({ ...base, name, outcome, clusters, pass: false, why });
      if (p.protocol === 'TCP') {
        const l = listeners.get(`0.0.0.0_${p.listenerPort}`);
        if (!l) {
          fail('tcp', 'no-listener', `the gateway has no listener on its port ${p.listenerPort} (the door of ${t.namespace})`);
          continue;
        }
        const clusters = ((l.filterChains ?? []) as Json[]).flatMap((fc) =>
          ((fc.filters ?? []) as Json[]).flatMap((f) => [
            ...(f.typedConfig?.cluster ? [String(f.typedConfig.cluster)] : []),
            ...((f.typedConfig?.weightedClusters?.clusters ?? []) as Json[]).map((c) => String(c.name)),
          ]),
        );
        const bad = clusters.length ? judge(clusters) : { outcome: 'no-route' as const, why: `listener 0.0.0.0_${p.listenerPort} proxies to no cluster` };
        if (bad) fail('tcp', bad.outcome, bad.why, clusters);
        else out.push({ ...base, name: 'tcp', outcome: 'routed', clusters, pass: true, why: `tcp_proxy to ${clusters.join(', ')}` });
        continue;
      }
      const rc = routes.get(`http.${p.listenerPort}`);
      for (const name of callNames(t.service, t.namespace, t.clusterDomain, p.port)) {
        if (!rc) {
          fail(
            name,
            'no-route',
            `the gateway has no routes on its port ${p.listenerPort} (route configuration http.${p.listenerPort}: the door of ${t.namespace}, port ${p.port})`,
          );
          continue;
        }
        const vh = pickVirtualHost(rc.virtualHosts ?? [], name, rc.ignorePortInHostMatching !== false);
        if (!vh) {
          fail(name, 'no-virtual-host', `no virtual host of http.${p.listenerPort} takes Host "${name}" (a 404)`);
          continue;
        }
        const taking = ((vh.routes ?? []) as Json[]).filter((r) => authorityMatch(r, name) !== false);
        if (!taking.length) {
          fail(name, 'no-route', `virtual host ${vh.name} has no route for Host "${name}" (a 404)`);
          continue;
        }
        const direct = taking.find((r) => r.directResponse || r.redirect);
        if (direct && !clustersOf(taking[0]!).length) {
          fail(name, 'direct-response', `route ${direct.name ?? '(unnamed)'} answers directly (${direct.directResponse?.status ?? 'redirect'})`);
          continue;
        }
        const clusters = [...new Set(taking.flatMap(clustersOf))].sort();
        const bad = judge(clusters);
        if (bad) fail(name, bad.outcome, bad.why, clusters);
        else out.push({ ...base, name, outcome: 'routed', clusters, pass: true, why: `routed by ${vh.name} to ${clusters.join(', ')}` });
      }
    }
  }
  return out;
}
