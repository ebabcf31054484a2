// acmg sync: one level-triggered reconcile. Desired = migrations + destinations of VirtualServices
// bound to the acmg Gateway; compared with what CoreDNS has; written only if different (one write).
import type { DnsEntry } from '../coredns/region.js';
import { AcmgError, ExitCode } from '../errors.js';
import { ApiError, type KubeApi } from '../kube/api.js';
import { currentDnsEntries, updateDnsEntries } from '../kube/dns-store.js';
import { makeDnsChangeTakeEffect } from './coredns-restart.js';
import { DEFAULT_ROLLOUT_TIMEOUT_MS } from './wait.js';
import { readState, updateState } from '../kube/state.js';
import { portConflicts } from '../model/ports.js';
import { desiredState } from '../plan/sync.js';
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

export async function reconcile(kube: KubeApi, opts: { dryRun?: boolean; force?: boolean } = {}): Promise<SyncResult> {
  const install = await loadInstall(kube);
  const ns = install.values.namespace;
  const gatewayIP = await gatewayClusterIP(kube, install);
  let vses;
  try {
    vses = (await kube.list('networking.istio.io/v1', 'VirtualService')).items;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404)
      throw new AcmgError(ExitCode.Usage, 'the VirtualService CRD (networking.istio.io/v1) is not installed', 'install Istio first');
    throw e;
  }
  const services = new Map((await kube.list('v1', 'Service')).items.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const state = await readState(kube, ns);
  const desired = desiredState({
    gateway: { namespace: ns, name: install.values.istioGateway.name },
    gatewayIP,
    clusterDomain: install.clusterDomain,
    migrations: Object.values(state.migrations),
    virtualServices: vses,
    services,
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
