// acmg sync: one level-triggered reconcile. Desired = migrations + destinations of VirtualServices
// bound to the acmg Gateway; compared with what CoreDNS has; written only if different (one write).
import type { DnsEntry } from '../coredns/region.js';
import { AcmgError, ExitCode } from '../errors.js';
import { ApiError, listPages, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import { currentDnsEntries, updateDnsEntries } from '../kube/dns-store.js';
import { makeDnsChangeTakeEffect } from './coredns-restart.js';
import { DEFAULT_ROLLOUT_TIMEOUT_MS } from './wait.js';
import { readState, updateState } from '../kube/state.js';
import { portConflicts } from '../model/ports.js';
import { desiredState, projectService, projectVirtualService } from '../plan/sync.js';
import { portsInUse } from './gateway-ports.js';
import { gatewayClusterIP, syncGatewayPorts } from './gateway-sync.js';
import { dnsSettings, loadInstall } from './install-record.js';

export interface SyncResult {
  add: DnsEntry[];
  remove: DnsEntry[];
  portsChanged: boolean;
  ports: number[];
  dnsWrites: number;
  warnings: string[];
}

/** The VirtualServices and Services a reconcile reads: the controller's caches, or fresh lists. */
export interface ClusterView {
  virtualServices: Iterable<KObject>;
  /** By "namespace/name". */
  services: ReadonlyMap<string, KObject>;
}

export const VIRTUAL_SERVICE = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService' } as const;

export function vsCrdMissing(e: unknown): AcmgError | undefined {
  if (e instanceof ApiError && e.status === 404)
    return new AcmgError(ExitCode.Usage, 'the VirtualService CRD (networking.istio.io/v1) is not installed', 'install Istio first');
  return undefined;
}

/** Both lists, page by page, keeping only what the reconcile reads. */
async function listView(kube: KubeApi): Promise<ClusterView> {
  const virtualServices: KObject[] = [];
  const services = new Map<string, KObject>();
  try {
    await listPages(kube, VIRTUAL_SERVICE.apiVersion, VIRTUAL_SERVICE.kind, {}, (vs) => virtualServices.push(projectVirtualService(vs)));
  } catch (e) {
    throw vsCrdMissing(e) ?? e;
  }
  await listPages(kube, 'v1', 'Service', {}, (s) => services.set(`${s.metadata.namespace}/${s.metadata.name}`, projectService(s)));
  return { virtualServices, services };
}

export async function reconcile(kube: KubeApi, opts: { dryRun?: boolean; force?: boolean; view?: ClusterView } = {}): Promise<SyncResult> {
  const install = await loadInstall(kube);
  const ns = install.values.namespace;
  const gatewayIP = await gatewayClusterIP(kube, install);
  const view = opts.view ?? (await listView(kube));
  const state = await readState(kube, ns);
  const desired = desiredState({
    gateway: { namespace: ns, name: install.values.istioGateway.name },
    gatewayIP,
    clusterDomain: install.clusterDomain,
    migrations: Object.values(state.migrations),
    virtualServices: view.virtualServices,
    services: view.services,
  });
  const warnings = [...desired.ignored];

  // Ports: VirtualService ports that clash with the profile's or migrations' TCP ports are refused.
  const used = portsInUse(install.values, state);
  const ports = desired.ports.filter((p) => {
    const clash = portConflicts('VirtualServices', [p], used);
    warnings.push(...clash.map((c) => `not opening gateway port: ${c}`));
    return clash.length === 0;
  });
  const want = ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol }));
  const portsChanged = JSON.stringify(want) !== JSON.stringify(state.synced?.ports ?? []);

  const current = (await currentDnsEntries(kube, dnsSettings(install))).entries;
  const key = (e: DnsEntry) => `${e.fqdn}=${e.ip}`;
  const wantKeys = new Set(desired.entries.map(key));
  const haveKeys = new Set(current.map(key));
  const add = desired.entries.filter((e) => !haveKeys.has(key(e)));
  const remove = current.filter((e) => !wantKeys.has(key(e)));
  let dnsWrites = 0;
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
      await syncGatewayPorts(kube, install);
    }
    if (add.length || remove.length) {
      const w = await updateDnsEntries(kube, dnsSettings(install), () => desired.entries, { force: opts.force });
      dnsWrites = w.writes;
      if (dnsWrites)
        await makeDnsChangeTakeEffect(kube, dnsSettings(install), w.layout.reloads, { task: (_t, fn) => fn(() => {}), timeoutMs: DEFAULT_ROLLOUT_TIMEOUT_MS });
    }
  }
  return { add, remove, portsChanged, ports: want.map((p) => p.port), dnsWrites, warnings };
}
