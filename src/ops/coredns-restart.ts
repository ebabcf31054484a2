// CoreDNS without the `reload` plugin never reads a changed ConfigMap: only pods started after the
// change serve it. There acmg makes its own DNS changes take effect with a rolling restart of the
// CoreDNS Deployment (as `kubectl rollout restart` does; surge first, so lookups keep an answer),
// and waits for it. With `reload` (every shipped layout, also for coredns-custom imports, which
// reload hashes with the Corefile) nothing is restarted.
import { clusterError } from '../errors.js';
import type { KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import type { Layout } from '../coredns/layout.js';
import { DEFAULT_COREDNS_DEPLOYMENT } from '../render/types.js';
import type { Nudge } from '../dns/resolver.js';
import { updateDnsEntries, type DnsSettings } from '../kube/dns-store.js';
import type { Task } from './task.js';
import { DEFAULT_ROLLOUT_TIMEOUT_MS, rolloutRestart, waitForDeployment } from './wait.js';

/**
 * The Deployment that runs cluster DNS: labelled k8s-app=kube-dns (kubeadm, EKS, AKS, k3s, RKE2's
 * rke2-coredns-rke2-coredns, the CoreDNS Helm chart's), else named coredns. The one home of that
 * rule: install finds the name with it (and records it, and names it in the controller's Role);
 * `acmg version` reads CoreDNS's version from it.
 */
export async function corednsDeployment(kube: KubeApi, s: Pick<DnsSettings, 'namespace'>): Promise<KObject | undefined> {
  const labelled = (await kube.list('apps/v1', 'Deployment', { namespace: s.namespace, labelSelector: 'k8s-app=kube-dns' })).items;
  return (
    labelled.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))[0] ??
    (await kube.get('apps/v1', 'Deployment', DEFAULT_COREDNS_DEPLOYMENT, s.namespace))
  );
}

/**
 * The Deployment a restart restarts: the one named in the DNS settings (install found it and
 * granted the controller exactly it: no list, by label or at all), else found by label (a record
 * an older acmg wrote).
 */
async function restartTarget(kube: KubeApi, s: DnsSettings): Promise<KObject> {
  if (s.deployment) {
    const named = await kube.get('apps/v1', 'Deployment', s.deployment, s.namespace);
    if (named) return named;
    throw clusterError(
      `no CoreDNS Deployment ${s.namespace}/${s.deployment} (the one acmg's install record names) to restart`,
      'run acmg install again, so it finds the CoreDNS Deployment and grants the controller its restart (from Git: acmg manifest generate --coredns-deployment NAME); or restart CoreDNS yourself so it serves the change',
    );
  }
  const found = await corednsDeployment(kube, s);
  if (found) return found;
  throw clusterError(
    `no CoreDNS Deployment in ${s.namespace} (none labelled k8s-app=kube-dns, none named coredns) to restart`,
    'restart CoreDNS yourself so it serves the change, or add the reload plugin to its Corefile',
  );
}

export const RESTART_STEP = 'restart CoreDNS (its Corefile has no reload plugin, so only new pods serve the change)';

/** After a DNS write: where CoreDNS does not reload by itself, restart it and wait until it has rolled. */
export async function makeDnsChangeTakeEffect(kube: KubeApi, s: DnsSettings, reloads: boolean, o: { task: Task; timeoutMs: number }): Promise<boolean> {
  if (reloads) return false;
  await o.task(RESTART_STEP, async (update) => {
    const dep = await restartTarget(kube, s);
    await rolloutRestart(kube, s.namespace, dep.metadata.name);
    await waitForDeployment(kube, s.namespace, dep.metadata.name, o.timeoutMs, update);
  });
  return true;
}

/** Can CoreDNS miss acmg's write here? Only an imported file (coredns-custom) that CoreDNS reloads by itself. */
export const canMissReload = (layout: Layout): boolean => layout.kind === 'custom' && layout.reloads;

/**
 * CoreDNS can take a change to coredns-custom (an imported file) as loaded without loading it, when
 * it lands while CoreDNS reloads (see RELOAD_MARK). Where acmg writes there and CoreDNS reloads by
 * itself, a wait that has not settled halfway through rewrites acmg's region once, with the same
 * entries and the mark flipped, which CoreDNS does reload. With no entries left there is no region
 * to rewrite (comments alone are no change to CoreDNS): then CoreDNS is restarted, as on layouts
 * without reload. changeDns (dns-change.ts) runs it in every wait after a DNS write.
 */
export function reloadNudge(
  kube: KubeApi,
  s: DnsSettings,
  layout: Layout,
  o: { task: Task; dnsTimeoutMs: number; readinessTimeoutMs?: number; force?: boolean },
  onWrite: (writes: number) => void = () => {},
): Nudge | undefined {
  if (!canMissReload(layout)) return undefined;
  return {
    afterMs: Math.floor(o.dnsTimeoutMs / 2),
    describe: `rewriting ${layout.customKey} in coredns-custom once (or, with no entries left, restarting CoreDNS), so CoreDNS loads it: it can miss a change made while it reloads`,
    run: async () => {
      const w = await updateDnsEntries(kube, s, (cur) => cur, { force: o.force, toggleMark: true });
      onWrite(w.writes);
      if (w.writes === 0) await makeDnsChangeTakeEffect(kube, s, false, { task: o.task, timeoutMs: o.readinessTimeoutMs ?? DEFAULT_ROLLOUT_TIMEOUT_MS });
    },
  };
}
