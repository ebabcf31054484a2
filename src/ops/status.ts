// acmg status: what is installed, whether the gateway is ready, the DNS layout, and each
// migrated service with the state of its DNS entry.
import type { KubeApi } from '../kube/api.js';
import { currentDnsEntries } from '../kube/dns-store.js';
import { locateState } from '../kube/state.js';
import { readDeclarativeStatus } from '../kube/declarative-status.js';
import type { MigrationOrigin } from '../model/state.js';
import type { DeclarativeEntry } from '../plan/declarative.js';
import { declarativeEnabled } from '../render/controller.js';
import { describeDeployment, deploymentAvailable } from './wait.js';
import { dnsSettings } from './install-record.js';
import { doorAddresses } from './gateway-sync.js';

export interface StatusReport {
  installed: boolean;
  namespace: string;
  version?: string;
  profile?: string;
  installedAt?: string;
  inProgress?: boolean;
  gateway?: { name: string; ready: boolean; detail: string; clusterIP?: string; ports: { name: string; port: number }[] };
  dns?: { layout?: string; clusterDomain?: string; entries: number; error?: string; tampered: string[] };
  services: { namespace: string; service: string; approach: string; phase: string; dns: 'switched' | 'missing' | 'stale'; origin?: MigrationOrigin }[];
  /** Declarative migrations: marked services the controller has not migrated (or unmarked ones not rolled back), with why. */
  declarative?: ({ namespace: string; service: string } & DeclarativeEntry)[];
}

/** Both tables in one order: by namespace, then service (code points, as Kubernetes names compare). */
const byName = (a: { namespace: string; service: string }, b: { namespace: string; service: string }) =>
  a.namespace !== b.namespace ? (a.namespace < b.namespace ? -1 : 1) : a.service < b.service ? -1 : a.service > b.service ? 1 : 0;

export async function collectStatus(kube: KubeApi, explicitNamespace?: string): Promise<StatusReport> {
  const { namespace, state: st } = await locateState(kube, explicitNamespace);
  if (!st.install) return { installed: false, namespace, services: [] };
  const i = st.install;
  const g = i.values.gateway;
  const [dep, svc] = await Promise.all([kube.get('apps/v1', 'Deployment', g.name, namespace), kube.get('v1', 'Service', g.name, namespace)]);
  const gatewayIP: string | undefined = svc?.spec?.clusterIP;
  const report: StatusReport = {
    installed: true,
    namespace,
    version: i.version,
    profile: i.profile,
    installedAt: i.installedAt,
    inProgress: i.inProgress ?? false,
    gateway: g.enabled
      ? {
          name: g.name,
          ready: Boolean(dep && deploymentAvailable(dep)),
          detail: describeDeployment(dep),
          clusterIP: gatewayIP,
          ports: (svc?.spec?.ports ?? []).map((p: any) => ({ name: p.name, port: p.port })),
        }
      : undefined,
    services: [],
  };
  const doors = await doorAddresses(kube, i).catch(() => new Map<string, string>());
  let entries = new Map<string, string>();
  try {
    const d = await currentDnsEntries(kube, dnsSettings(i));
    entries = new Map(d.entries.map((e) => [e.fqdn, e.ip]));
    report.dns = { layout: d.layout.description, clusterDomain: d.layout.clusterDomain, entries: d.entries.length, tampered: d.tampered };
  } catch (e) {
    report.dns = { entries: 0, error: (e as Error).message, tampered: [] };
  }
  report.services = Object.values(st.migrations)
    .sort(byName)
    .map((m) => ({
      namespace: m.namespace,
      service: m.service,
      approach: m.approach,
      phase: m.phase,
      dns: !entries.has(m.fqdn) ? 'missing' : entries.get(m.fqdn) === doors.get(m.namespace) ? 'switched' : 'stale',
      ...(m.origin ? { origin: m.origin } : {}),
    }));
  if (declarativeEnabled(i.values)) {
    const { status } = await readDeclarativeStatus(kube, namespace);
    report.declarative = Object.keys(status)
      .map((k) => ({ namespace: k.slice(0, k.indexOf('/')), service: k.slice(k.indexOf('/') + 1), ...status[k]! }))
      .sort(byName);
  }
  return report;
}
