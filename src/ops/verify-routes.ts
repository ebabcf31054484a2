// acmg verify-routes: reads what the gateway really serves, as istiod configures each running
// gateway pod's proxy (istiod's /debug/config_dump?proxyID=<pod>.<namespace>, what `istioctl
// proxy-config` shows from the Envoy side), and checks every name of every migrated service
// against acmg's route (plan/route-check.ts).
import { AcmgError, ExitCode, usageError } from '../errors.js';
import type { KubeApi } from '../kube/api.js';
import { listenerKey } from '../model/state.js';
import { checkRoutes, type RouteCheck, type RouteTarget } from '../plan/route-check.js';
import { gatewaySelector } from '../render/gateway.js';
import { routeDestinations, routingApiOf, serviceRouteRefs } from '../render/gateway-api.js';
import { requireInstall } from './install-record.js';

/** Where istiod's debug endpoints are: its monitoring port (15014), reached by the caller. */
export interface IstiodDebug {
  readonly describe: string;
  configDump(proxyID: string): Promise<unknown>;
}

/** istiod's debug endpoints at a URL (a port-forward to istiod's 15014, or istiod on loopback). */
export function istiodAt(base: string, timeoutMs = 10_000): IstiodDebug {
  const url = base.replace(/\/+$/, '');
  return {
    describe: url,
    async configDump(proxyID) {
      const at = `${url}/debug/config_dump?proxyID=${encodeURIComponent(proxyID)}`;
      let res: Response;
      try {
        res = await fetch(at, { signal: AbortSignal.timeout(timeoutMs) });
      } catch (e) {
        throw new AcmgError(
          ExitCode.Cluster,
          `cannot reach istiod at ${url}: ${(e as Error).cause ? String((e as Error & { cause: Error }).cause.message) : (e as Error).message}`,
          'forward its monitoring port first: kubectl -n istio-system port-forward deploy/istiod 15014, then --istiod http://127.0.0.1:15014',
        );
      }
      const text = await res.text();
      if (res.ok) {
        try {
          return JSON.parse(text);
        } catch {
          throw new AcmgError(ExitCode.Cluster, `istiod at ${url} answered config_dump for ${proxyID} with something that is not JSON: ${text.slice(0, 120)}`);
        }
      }
      // istiod answers 404 "Proxy not connected to this Pilot instance" for a proxy it does not serve;
      // anything else means this is not istiod's debug endpoint, or it refused (exit 3).
      if (res.status === 404 && /not connected/i.test(text)) throw new ProxyNotConnected(proxyID, `${res.status}: ${text.trim().slice(0, 200)}`);
      throw new AcmgError(
        ExitCode.Cluster,
        `istiod at ${url} answered config_dump for ${proxyID} with ${res.status}: ${text.trim().slice(0, 200)}`,
        "--istiod must be istiod's monitoring port (15014), with its debug endpoints on",
      );
    },
  };
}

export class ProxyNotConnected extends Error {
  constructor(
    readonly proxyID: string,
    detail: string,
  ) {
    super(`istiod does not serve proxy ${proxyID} (${detail})`);
  }
}

export interface RouteSelection {
  services: string[];
  namespace?: string;
}

export interface RouteVerification {
  passed: boolean;
  istiod: string;
  proxies: string[];
  results: RouteCheck[];
}

export async function verifyRoutes(kube: KubeApi, istiod: IstiodDebug, sel: RouteSelection): Promise<RouteVerification> {
  const { install, state } = await requireInstall(kube);
  const ns = install.values.namespace;
  const settled = Object.values(state.migrations).filter((m) => m.phase === 'complete');
  const chosen = sel.services.length
    ? sel.services.map((s) => {
        const n = sel.namespace ?? 'default';
        const m = settled.find((x) => x.namespace === n && x.service === s);
        if (!m) throw usageError(`service ${n}/${s} is not migrated (or its migration has not completed)`, 'acmg status lists the migrated services');
        return m;
      })
    : settled.filter((m) => !sel.namespace || m.namespace === sel.namespace);
  const targets: RouteTarget[] = [];
  for (const m of chosen.sort((a, b) => `${a.namespace}/${a.service}`.localeCompare(`${b.namespace}/${b.service}`))) {
    // Where acmg's routes send the service: what the gateway must route its names to.
    const hosts: string[] = [];
    for (const r of serviceRouteRefs(m.service, m.ports, routingApiOf(install.values)))
      hosts.push(...routeDestinations(await kube.get(r.apiVersion, r.kind, r.name, m.namespace), install.clusterDomain));
    const destinations = [...new Set(hosts)];
    targets.push({
      namespace: m.namespace,
      service: m.service,
      clusterDomain: install.clusterDomain,
      ports: m.ports.map((p) => ({ port: p.port, protocol: p.protocol, listenerPort: state.listeners?.[listenerKey(m.namespace, p.port)] ?? 0 })),
      destinations: destinations.length ? destinations : [`${m.replacement ?? m.service}.${m.namespace}.svc.${install.clusterDomain}`],
    });
  }
  if (!targets.length) return { passed: true, istiod: istiod.describe, proxies: [], results: [] };
  const selector = Object.entries(gatewaySelector(install.values))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = (await kube.list('v1', 'Pod', { namespace: ns, labelSelector: selector })).items
    .filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  if (!pods.length) throw new AcmgError(ExitCode.Cluster, `no running gateway pod (${selector}) in ${ns}`, 'check it with: acmg status');
  const results: RouteCheck[] = [];
  const proxies: string[] = [];
  for (const p of pods) {
    const proxy = `${p.metadata.name}.${ns}`;
    proxies.push(proxy);
    let dump: unknown;
    try {
      dump = await istiod.configDump(proxy);
    } catch (e) {
      if (!(e instanceof ProxyNotConnected)) throw e;
      // A gateway pod whose proxy istiod does not serve routes nothing it is sent.
      for (const t of targets)
        results.push({
          namespace: t.namespace,
          service: t.service,
          name: '*',
          port: 0,
          listenerPort: 0,
          proxy,
          outcome: 'unreadable',
          clusters: [],
          pass: false,
          why: e.message,
        });
      continue;
    }
    results.push(...checkRoutes(targets, dump as Record<string, unknown>, proxy));
  }
  return { passed: results.every((r) => r.pass), istiod: istiod.describe, proxies, results };
}
