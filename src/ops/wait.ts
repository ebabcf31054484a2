// Waiting by watching (never fixed sleeps), and explaining what is not ready when time runs out.
import { clusterError } from '../errors.js';
import type { KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';

/** How long acmg waits for a rollout when no --readiness-timeout applies (the CLI default, 5m). */
export const DEFAULT_ROLLOUT_TIMEOUT_MS = 300_000;

/** Starts a rolling restart of a Deployment, as `kubectl rollout restart` does (wait for it with waitForDeployment). */
export async function rolloutRestart(kube: KubeApi, namespace: string, name: string, at = new Date().toISOString()): Promise<void> {
  await kube.mergePatch('apps/v1', 'Deployment', name, namespace, {
    spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': at } } } },
  });
}

/** Available with at least `minReplicas` (an HPA's minimum, which it reaches a sync period later). */
export function deploymentAvailable(d: KObject, minReplicas = 0): boolean {
  const s = d.status ?? {};
  const want = Math.max(d.spec?.replicas ?? 1, minReplicas);
  return (
    (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
    (s.updatedReplicas ?? 0) >= want &&
    (s.availableReplicas ?? 0) >= want &&
    (s.conditions ?? []).some((c: any) => c.type === 'Available' && c.status === 'True')
  );
}

export function describeDeployment(d: KObject | undefined, minReplicas = 0): string {
  if (!d) return 'it does not exist';
  const s = d.status ?? {};
  const want = Math.max(d.spec?.replicas ?? 1, minReplicas);
  if (deploymentAvailable(d, minReplicas)) return `${s.availableReplicas ?? 0}/${want} available`;
  const conds = (s.conditions ?? [])
    .filter((c: any) => c.status !== 'True' || c.type === 'Progressing')
    .map((c: any) => `${c.type}=${c.status}${c.reason ? ` (${c.reason}${c.message ? `: ${c.message}` : ''})` : ''}`);
  return `${s.availableReplicas ?? 0}/${want} available, ${s.updatedReplicas ?? 0} updated${conds.length ? `; ${conds.join('; ')}` : ''}`;
}

async function recentEvents(kube: KubeApi, namespace: string, names: string[]): Promise<string[]> {
  const ev = (await kube.list('v1', 'Event', { namespace })).items;
  return ev
    .filter((e) => names.some((n) => String(e.involvedObject?.name ?? '').startsWith(n)) && e.type !== 'Normal')
    .slice(-5)
    .map((e) => `${e.involvedObject.kind} ${e.involvedObject.name}: ${e.reason}: ${e.message}`);
}

/** Resolves when the Deployment is Available; on timeout throws exit 3 naming what is not ready and why. */
export async function waitForDeployment(
  kube: KubeApi,
  namespace: string,
  name: string,
  timeoutMs: number,
  onProgress?: (text: string) => void,
  minReplicas = 0,
): Promise<KObject> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await kube.get('apps/v1', 'Deployment', name, namespace);
    if (d && deploymentAvailable(d, minReplicas)) return d;
    onProgress?.(describeDeployment(d, minReplicas));
    const left = deadline - Date.now();
    if (left <= 0) {
      const events = await recentEvents(kube, namespace, [name]).catch(() => []);
      throw clusterError(
        [
          `Deployment ${namespace}/${name} is not Available after ${Math.round(timeoutMs / 1000)}s: ${describeDeployment(d, minReplicas)}`,
          ...events.map((e) => `  event: ${e}`),
        ],
        `inspect it with: kubectl -n ${namespace} describe deployment ${name}; what was applied is recorded, so acmg uninstall removes it`,
      );
    }
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), Math.min(left, 30_000));
    try {
      await kube.watch(
        'apps/v1',
        'Deployment',
        {
          namespace,
          fieldSelector: `metadata.name=${name}`,
          resourceVersion: d?.metadata.resourceVersion,
          signal: ac.signal,
          timeoutSeconds: Math.ceil(Math.min(left, 30_000) / 1000),
        },
        (type, obj) => {
          if (type === 'DELETED') return false;
          onProgress?.(describeDeployment(obj, minReplicas));
          return deploymentAvailable(obj, minReplicas);
        },
      );
    } catch {
      // A broken or expired watch: loop and re-read.
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A rolling restart of every Deployment in a namespace (as kubectl rollout restart), waited for. */
export async function restartDeployments(kube: KubeApi, namespace: string, timeoutMs: number, update: (t: string) => void): Promise<void> {
  const deps = (await kube.list('apps/v1', 'Deployment', { namespace })).items;
  const at = new Date().toISOString();
  for (const d of deps) await rolloutRestart(kube, namespace, d.metadata.name, at);
  for (const d of deps) await waitForDeployment(kube, namespace, d.metadata.name, timeoutMs, (t) => update(`${d.metadata.name}: ${t}`));
}
