// acmg sync: one level-triggered reconcile. Desired = migrations + destinations of VirtualServices
// bound to the acmg Gateway; compared with what CoreDNS has; written only if different (one write).
import type { DnsEntry } from '../coredns/region.js';
import { AcmgError, ExitCode } from '../errors.js';
import { ApiError, listPages, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import { currentDnsEntries } from '../kube/dns-store.js';
import { canMissReload } from './coredns-restart.js';
import { describeWrong, type Resolver, type Want } from '../dns/resolver.js';
import { changeDns, type DnsChangeResult } from './dns-change.js';
import { silentTask } from './task.js';
import { DEFAULT_ROLLOUT_TIMEOUT_MS } from './wait.js';
import { readState, updateState } from '../kube/state.js';
import { portConflicts } from '../model/ports.js';
import { migrationKey } from '../model/state.js';
import { planRouteFollow, projectRoutingObject } from '../plan/route-follow.js';
import { desiredState, namesToCheck, projectService, projectVirtualService } from '../plan/sync.js';
import { VERSION } from '../version.js';
import { routingApiOf, type RouteKind, type RoutingApi } from '../render/gateway-api.js';
import { listRoutes } from './route-lists.js';
import { sharedPortsInUse } from './gateway-ports.js';
import { doorAddresses, gatewayClusterIP, syncGatewayPorts } from './gateway-sync.js';
import { dnsSettings, loadInstall } from './install-record.js';

export interface SyncResult {
  add: DnsEntry[];
  remove: DnsEntry[];
  /** acmg's routes at the doors rewritten (or, approach 2, DestinationRule copies removed) to follow the user's edits: "apply|delete Kind ns/name". */
  routes: string[];
  portsChanged: boolean;
  ports: number[];
  dnsWrites: number;
  /** After the write, on coredns-custom layouts: the changed names asked, and whether CoreDNS had missed the write and it was repaired. */
  dnsCheck?: { names: number; repaired: boolean; unconfirmed: number };
  warnings: string[];
}

/** Asking DNS after a write (coredns-custom layouts with reload only, where CoreDNS can miss one). */
export interface ConfirmOptions {
  resolver: Resolver;
  timeoutMs: number;
  /** Hand the check to the caller (the controller runs it beside the next reconciles) instead of waiting for it. */
  later?: (check: (signal?: AbortSignal) => Promise<DnsCheck>) => void;
}

export interface DnsCheck {
  names: number;
  repaired: boolean;
  unconfirmed: number;
  /** The repair's write, if it made one. */
  writes: number;
  warnings: string[];
}

/** Waits until DNS answers the write's changed names; halfway, repairs a write CoreDNS missed. */
async function checkDnsWrite(confirm: ConfirmOptions, dns: DnsChangeResult, expect: Map<string, Want>, signal?: AbortSignal): Promise<DnsCheck> {
  const a = await dns.answers(confirm.resolver, expect, { timeoutMs: confirm.timeoutMs, signal });
  const c: DnsCheck = { names: expect.size, repaired: a.repaired, unconfirmed: a.wrong.length, writes: a.writes, warnings: [] };
  if (a.wrong.length && !signal?.aborted)
    c.warnings.push(
      `DNS (via ${confirm.resolver.describe}) does not answer the change after ${Math.round(confirm.timeoutMs / 1000)}s, even after a rewrite: ` +
        a.wrong.map(describeWrong).join('; '),
    );
  return c;
}

/** `current` with these entries removed and these added (an added name replaces its old address). */
function applyChange(current: DnsEntry[], add: DnsEntry[], remove: DnsEntry[]): DnsEntry[] {
  const key = (e: DnsEntry) => `${e.fqdn}=${e.ip}`;
  const removing = new Set(remove.map(key));
  const adding = new Set(add.map((e) => e.fqdn));
  return [...current.filter((e) => !removing.has(key(e)) && !adding.has(e.fqdn)), ...add];
}

/** The VirtualServices, DestinationRules and Services a reconcile reads: the controller's caches, or fresh lists. */
export interface ClusterView {
  virtualServices: Iterable<KObject>;
  destinationRules: Iterable<KObject>;
  /** The Gateway API routes of the kinds routesRead names (none of a kind not served). */
  routes?: Partial<Record<RouteKind, Iterable<KObject>>>;
  /** By "namespace/name". */
  services: ReadonlyMap<string, KObject>;
}

export const VIRTUAL_SERVICE = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService' } as const;
export const DESTINATION_RULE = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule' } as const;

export function vsCrdMissing(e: unknown): AcmgError | undefined {
  if (e instanceof ApiError && e.status === 404)
    return new AcmgError(ExitCode.Usage, 'the VirtualService CRD (networking.istio.io/v1) is not installed', 'install Istio first');
  return undefined;
}

/** The lists, page by page, keeping only what the reconcile reads. */
async function listView(kube: KubeApi, api: RoutingApi): Promise<ClusterView> {
  const virtualServices: KObject[] = [];
  const destinationRules: KObject[] = [];
  const services = new Map<string, KObject>();
  try {
    await listPages(kube, VIRTUAL_SERVICE.apiVersion, VIRTUAL_SERVICE.kind, {}, (vs) => virtualServices.push(projectVirtualService(vs)));
  } catch (e) {
    throw vsCrdMissing(e) ?? e;
  }
  await listPages(kube, DESTINATION_RULE.apiVersion, DESTINATION_RULE.kind, {}, (dr) => destinationRules.push(projectRoutingObject(dr)));
  await listPages(kube, 'v1', 'Service', {}, (s) => services.set(`${s.metadata.namespace}/${s.metadata.name}`, projectService(s)));
  const routes = await listRoutes(kube, api, {}, projectRoutingObject);
  return { virtualServices, destinationRules, services, routes };
}

/** A route write taken back (its migration was rolled back meanwhile): not reported as written. */
const TAKEN_BACK = Symbol('taken back');

export async function reconcile(
  kube: KubeApi,
  opts: { dryRun?: boolean; force?: boolean; view?: ClusterView; confirm?: ConfirmOptions } = {},
): Promise<SyncResult> {
  const install = await loadInstall(kube);
  const ns = install.values.namespace;
  const gatewayIP = await gatewayClusterIP(kube, install);
  // Read twice below (DNS and routes): the controller hands its caches over as one-pass iterators.
  const api = routingApiOf(install.values);
  const given = opts.view ?? (await listView(kube, api));
  const routesOf = (kind: RouteKind) => [...(given.routes?.[kind] ?? [])];
  const view = {
    ...given,
    virtualServices: [...given.virtualServices],
    destinationRules: [...given.destinationRules],
    httpRoutes: routesOf('HTTPRoute'),
    tcpRoutes: routesOf('TCPRoute'),
    grpcRoutes: routesOf('GRPCRoute'),
    tlsRoutes: routesOf('TLSRoute'),
  };
  const state = await readState(kube, ns);
  // Doors are migrate's and rollback's to open and close; sync only reads them.
  const doors = await doorAddresses(kube, install);
  const current = (await currentDnsEntries(kube, dnsSettings(install))).entries;
  const desired = desiredState({
    gateway: { namespace: ns, name: install.values.istioGateway.name },
    gatewayIP,
    doorIPs: doors,
    current: new Map(current.map((e) => [e.fqdn, e.ip])),
    clusterDomain: install.clusterDomain,
    migrations: Object.values(state.migrations),
    virtualServices: view.virtualServices,
    // Routes bound to the shared Gateway steer names only where it is a Gateway API Gateway.
    gatewayRoutes: api === 'gateway-api' ? [...view.httpRoutes, ...view.tcpRoutes, ...view.grpcRoutes] : [],
    services: view.services,
  });
  // acmg's routes at the doors, rendered again from the user's routing as it is now.
  const follow = planRouteFollow({
    migrations: Object.values(state.migrations),
    listeners: state.listeners ?? {},
    clusterDomain: install.clusterDomain,
    installNamespace: ns,
    replacementSuffix: install.values.migration.replacementSuffix,
    version: VERSION,
    api,
    virtualServices: view.virtualServices,
    destinationRules: view.destinationRules,
    httpRoutes: view.httpRoutes,
    tcpRoutes: view.tcpRoutes,
    uncarriedRoutes: [...view.tcpRoutes, ...view.grpcRoutes, ...view.tlsRoutes],
  });
  const warnings = [...desired.ignored, ...follow.warnings];
  const routes: string[] = [];

  // Ports: VirtualService ports that clash with the profile's TCP ports are refused (migrated
  // services arrive through their namespaces' doors, not these ports).
  const used = sharedPortsInUse(install.values);
  const ports = desired.ports.filter((p) => {
    const clash = portConflicts('VirtualServices', [p], used);
    warnings.push(...clash.map((c) => `not opening gateway port: ${c}`));
    return clash.length === 0;
  });
  const want = ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol }));
  const portsChanged = JSON.stringify(want) !== JSON.stringify(state.synced?.ports ?? []);

  const key = (e: DnsEntry) => `${e.fqdn}=${e.ip}`;
  const wantKeys = new Set(desired.entries.map(key));
  const haveKeys = new Set(current.map(key));
  const add = desired.entries.filter((e) => !haveKeys.has(key(e)));
  const remove = current.filter((e) => !wantKeys.has(key(e)));
  let dnsWrites = 0;
  let dnsCheck: SyncResult['dnsCheck'];
  // Each route on its own: one that cannot be written (its namespace deleted, an admission policy)
  // is a warning, never a stop for every other route and for DNS.
  const routeWrite = async (what: string, write: () => Promise<unknown>) => {
    try {
      if (!opts.dryRun && (await write()) === TAKEN_BACK) return;
      routes.push(what);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      warnings.push(`could not ${what} (following the user's routing): ${e.message}`);
    }
  };
  // A rollback that began after the state above was read may have deleted the route before this
  // write landed (it marks its migrations rolling-back before it deletes anything): the record,
  // read again after the write, says whether the route is still a migration's; if not, the write
  // is taken back as the rollback would have (only as written: a route written again since stays).
  const applyRoute = async (o: KObject) => {
    const written = await kube.apply(o);
    const n = o.metadata.namespace!;
    const svc = o.metadata.labels?.['acmg.io/service'];
    const m = svc ? (await readState(kube, ns, { namespaces: [n] })).migrations[migrationKey(n, svc)] : undefined;
    if (!svc || (m && m.phase !== 'rolling-back')) return written;
    await kube.delete(o.apiVersion, o.kind, o.metadata.name, n, {
      preconditions: { uid: written.metadata.uid, resourceVersion: written.metadata.resourceVersion },
    });
    warnings.push(`${n}/${svc} was rolled back meanwhile: took back ${o.kind} ${n}/${o.metadata.name}, written after the rollback deleted it`);
    return TAKEN_BACK;
  };
  for (const o of follow.apply) await routeWrite(`apply ${o.kind} ${o.metadata.namespace}/${o.metadata.name}`, () => applyRoute(o));
  for (const o of follow.delete) await routeWrite(`delete ${o.kind} ${o.namespace}/${o.name}`, () => kube.delete(o.apiVersion, o.kind, o.name, o.namespace));
  if (!opts.dryRun) {
    // Ports before DNS, as in migrate: the gateway listens before names point at it.
    if (portsChanged) {
      await updateState(
        kube,
        ns,
        (s) => {
          s.synced = { ports: want, syncedAt: new Date().toISOString() };
        },
        { namespaces: [] },
      );
      await syncGatewayPorts(kube, install, { doors: false });
    }
    if (add.length || remove.length) {
      const dns = await changeDns(
        kube,
        dnsSettings(install),
        // Its own change (add, remove) applied to whatever the write reads: after a 409 the fresh
        // read may hold another run's new entry, which a copy of this reconcile's list would drop.
        { title: 'write DNS', edit: (cur) => applyChange(cur, add, remove), force: opts.force },
        { task: silentTask, readinessTimeoutMs: DEFAULT_ROLLOUT_TIMEOUT_MS },
      );
      dnsWrites = dns.writes;
      if (dnsWrites && opts.confirm && dns.layout && canMissReload(dns.layout)) {
        const confirm = opts.confirm;
        const check = (signal?: AbortSignal) => checkDnsWrite(confirm, dns, namesToCheck(add, remove), signal);
        if (confirm.later) confirm.later(check);
        else {
          const c = await check();
          dnsWrites += c.writes;
          warnings.push(...c.warnings);
          dnsCheck = { names: c.names, repaired: c.repaired, unconfirmed: c.unconfirmed };
        }
      }
    }
  }
  return { add, remove, routes, portsChanged, ports: want.map((p) => p.port), dnsWrites, ...(dnsCheck ? { dnsCheck } : {}), warnings };
}
