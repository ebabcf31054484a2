// CoreDNS without the `reload` plugin never reads a changed ConfigMap: only pods started after the
// change serve it. There acmg makes its own DNS changes take effect with a rolling restart of the
// CoreDNS Deployment (as `kubectl rollout restart` does; surge first, so lookups keep an answer),
// and waits for it. With `reload` (every shipped layout, also for coredns-custom imports, which
// reload hashes with the Corefile) nothing is restarted.
import { clusterError } from '../errors.js';
import type { KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import type { DnsSettings } from '../kube/dns-store.js';
import { rolloutRestart, waitForDeployment } from './wait.js';

type Task = <T>(title: string, fn: (update: (text: string) => void) => Promise<T>) => Promise<T>;

/** The Deployment that runs cluster DNS: labelled k8s-app=kube-dns (kubeadm, EKS, AKS, k3s), else named coredns. */
export async function corednsDeployment(kube: KubeApi, s: DnsSettings): Promise<KObject | undefined> {
  const labelled = (await kube.list('apps/v1', 'Deployment', { namespace: s.namespace, labelSelector: 'k8s-app=kube-dns' })).items;
  return labelled.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))[0] ?? (await kube.get('apps/v1', 'Deployment', 'coredns', s.namespace));
}

export const RESTART_STEP = 'restart CoreDNS (its Corefile has no reload plugin, so only new pods serve the change)';

/** After a DNS write: where CoreDNS does not reload by itself, restart it and wait until it has rolled. */
export async function makeDnsChangeTakeEffect(kube: KubeApi, s: DnsSettings, reloads: boolean, o: { task: Task; timeoutMs: number }): Promise<boolean> {
  if (reloads) return false;
  await o.task(RESTART_STEP, async (update) => {
    const dep = await corednsDeployment(kube, s);
    if (!dep)
      throw clusterError(
        `no CoreDNS Deployment in ${s.namespace} (none labelled k8s-app=kube-dns, none named coredns) to restart`,
        'restart CoreDNS yourself so it serves the change, or add the reload plugin to its Corefile',
      );
    await rolloutRestart(kube, s.namespace, dep.metadata.name);
    await waitForDeployment(kube, s.namespace, dep.metadata.name, o.timeoutMs, update);
  });
  return true;
}
