// acmg uninstall: without --purge, remove what the recorded install created (refused while services
// are migrated). With --purge, move every migrated service back, delete everything labelled as
// acmg's in every namespace (older versions and lost state included), and take acmg's region and
// keys out of cluster DNS, leaving everything else there as it is.
import { usageError } from '../errors.js';
import type { Resolver } from '../dns/resolver.js';
import { type KubeApi } from '../kube/api.js';
import { backupName, restoreDns, type DnsSettings } from '../kube/dns-store.js';
import { changeDns } from './dns-change.js';
import { dnsSettings } from './install-record.js';
import type { Task } from './task.js';
import { DEFAULT_ROLLOUT_TIMEOUT_MS } from './wait.js';
import { SWEEP_KINDS } from '../kube/resources.js';
import { deleteState, locateState, readState } from '../kube/state.js';
import { STATE_NAME, type ObjectRef } from '../model/state.js';
import { KIND_ORDER } from '../render/index.js';
import { MANAGED_SELECTOR } from '../render/labels.js';
import { rollbackMigrations } from './rollback.js';
import { refKey, refText } from './objects.js';

export interface UninstallPlan {
  namespace: string;
  installed: boolean;
  migrated: string[];
  /** Objects to delete, in delete order (reverse of apply order). */
  objects: ObjectRef[];
  dns: DnsSettings;
  purge: boolean;
  /** --purge with nothing installed: acmg entries left in cluster DNS (an interrupted purge). */
  dnsLeftovers: boolean;
}

const reverseOrder = (a: ObjectRef, b: ObjectRef) =>
  KIND_ORDER.indexOf(b.kind) - KIND_ORDER.indexOf(a.kind) ||
  a.kind.localeCompare(b.kind) ||
  `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`);

const DEFAULT_DNS: DnsSettings = {
  namespace: 'kube-system',
  configMap: 'coredns',
  customConfigMap: 'coredns-custom',
  mode: 'auto',
  clusterDomain: 'auto',
  ttl: 5,
};

/**
 * The coredns-custom ConfigMap is never one of the deletes, even where acmg created it (and labelled
 * it): the admin may have added keys of their own since. The DNS restore deletes it only if it holds
 * nothing but acmg's.
 */
const isCustomDns = (o: ObjectRef, dns: DnsSettings) => o.kind === 'ConfigMap' && o.name === dns.customConfigMap && o.namespace === dns.namespace;

export async function planUninstall(kube: KubeApi, opts: { purge: boolean; namespace?: string }): Promise<UninstallPlan> {
  const { namespace, state: st } = await locateState(kube, opts.namespace);
  const migrated = Object.keys(st.migrations).sort();
  const dns = st.install ? dnsSettings(st.install) : DEFAULT_DNS;
  let objects: ObjectRef[] = [...(st.install?.objects ?? [])];
  if (opts.purge) {
    // Everything labelled as acmg's, whatever recorded it (or nothing did).
    const found = await Promise.all(
      SWEEP_KINDS.map(async ([apiVersion, kind]) => {
        try {
          return (await kube.list(apiVersion, kind, { labelSelector: MANAGED_SELECTOR })).items.map((o) => ({
            apiVersion,
            kind,
            name: o.metadata.name,
            ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
          }));
        } catch {
          return []; // a kind the cluster does not serve (Istio CRDs absent)
        }
      }),
    );
    objects = [...objects, ...found.flat()];
  }
  const seen = new Set<string>();
  objects = objects.filter((o) => {
    const k = refKey(o);
    if (seen.has(k) || isCustomDns(o, dns)) return false;
    seen.add(k);
    return true;
  });
  // A dry run of the restore: whether acmg entries are left in DNS (writes nothing).
  const dnsLeftovers = opts.purge && !st.install && (await restoreDns(kube, dns, { dryRun: true })).changed;
  return { namespace, installed: Boolean(st.install), migrated, objects: objects.sort(reverseOrder), dns, purge: opts.purge, dnsLeftovers };
}

export function uninstallIsEmpty(p: UninstallPlan): boolean {
  return !p.installed && p.objects.length === 0 && p.migrated.length === 0 && !p.dnsLeftovers;
}

export async function applyUninstall(
  kube: KubeApi,
  plan: UninstallPlan,
  o: { resolver?: Resolver; dnsTimeoutMs: number; task: Task },
): Promise<{ deleted: number; dnsRestored: boolean }> {
  if (!plan.purge && plan.migrated.length) {
    throw usageError(
      [`${plan.migrated.length} service(s) are still migrated: ${plan.migrated.join(', ')}`, 'removing the gateway now would break their traffic'],
      'roll them back first (acmg rollback --all), or use acmg uninstall --purge to move them back and remove everything',
    );
  }
  const st = await readState(kube, plan.namespace);
  if (plan.purge && st.install && plan.migrated.length) {
    await rollbackMigrations(kube, st.install, plan.migrated, { resolver: o.resolver, dnsTimeoutMs: o.dnsTimeoutMs, task: o.task });
  }
  let deleted = 0;
  for (const r of plan.objects) {
    if (r.kind === 'ConfigMap' && (r.name === STATE_NAME || r.name.startsWith(`${STATE_NAME}-`) || r.name === backupName(plan.dns))) continue; // last
    await o.task(`delete ${refText(r)}`, async () => {
      if (await kube.delete(r.apiVersion, r.kind, r.name, r.namespace)) deleted++;
    });
  }
  // Both modes: with nothing migrated (the only way a plain uninstall gets here) this just removes
  // acmg's DNS backup and a coredns-custom acmg created that holds nothing else; with --purge it also
  // takes out what acmg still has in DNS (its region, its keys), and nothing else.
  const dns = await changeDns(
    kube,
    plan.dns,
    { title: 'restore the cluster DNS configuration', edit: 'restore' },
    { task: o.task, readinessTimeoutMs: DEFAULT_ROLLOUT_TIMEOUT_MS },
  );
  const dnsRestored = dns.writes > 0;
  if (await deleteState(kube, plan.namespace)) deleted++;
  return { deleted, dnsRestored };
}
