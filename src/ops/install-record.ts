// acmg's install record, the one place use cases get it from: read with the state it came with,
// refused (exit 2) where acmg is not installed, and the DNS settings it implies.
import { usageError } from '../errors.js';
import type { KubeApi } from '../kube/api.js';
import type { DnsSettings } from '../kube/dns-store.js';
import { locateState } from '../kube/state.js';
import type { InstallRecord, State } from '../model/state.js';

/** The DNS settings a record implies: its values', the domain install found, and the CoreDNS Deployment install found (and granted the controller). */
export const dnsSettings = (i: InstallRecord): DnsSettings => ({
  ...i.values.dns,
  clusterDomain: i.clusterDomain,
  ...(i.corednsDeployment ? { deployment: i.corednsDeployment } : {}),
});

/** acmg's install record and the state it came with (one read); a usage error if not installed. */
export async function requireInstall(kube: KubeApi, namespace?: string): Promise<{ install: InstallRecord; state: State }> {
  const { state } = await locateState(kube, namespace);
  if (!state.install) throw usageError('acmg is not installed in this cluster', 'run acmg install first (acmg precheck tells whether the cluster is ready)');
  return { install: state.install, state };
}

export async function loadInstall(kube: KubeApi, namespace?: string): Promise<InstallRecord> {
  return (await requireInstall(kube, namespace)).install;
}
