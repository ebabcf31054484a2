// Reads and writes cluster DNS config (coredns / coredns-custom ConfigMaps) through the CoreDNS
// engine: one read, one pure computation, one write guarded by resourceVersion, retried on conflict.
// Before acmg's first change, the original is backed up in the cluster.
import { AcmgError, ExitCode } from '../errors.js';
import { readEntries, setEntries, stripRegions, type DnsConfig } from '../coredns/engine.js';
import { parseCorefile } from '../coredns/corefile.js';
import { detectLayout, LayoutError, reloadsIn, type Layout } from '../coredns/layout.js';
import { sortEntries, type DnsEntry } from '../coredns/region.js';
import { acmgLabels, MANAGED_BY, MANAGED_BY_VALUE } from '../render/labels.js';
import { VERSION } from '../version.js';
import type { KObject } from '../model/object.js';
import { isConflict, retryOnConflict, type KubeApi } from './api.js';

export interface DnsSettings {
  namespace: string;
  configMap: string;
  customConfigMap: string;
  mode: 'auto' | 'corefile' | 'custom';
  clusterDomain: string;
  ttl: number;
  /** The CoreDNS Deployment to restart (from the install record); absent: found by label (corednsDeployment). */
  deployment?: string;
}

export const backupName = (s: DnsSettings) => `${s.configMap}-acmg-backup`;

export interface LoadedDns {
  config: DnsConfig;
  layout: Layout;
  main: KObject;
  custom?: KObject;
}

/** Says what the cluster has instead of CoreDNS, for a clear error. */
async function describeMissingCoreDNS(kube: KubeApi, s: DnsSettings): Promise<AcmgError> {
  const kubeDns = await kube.get('apps/v1', 'Deployment', 'kube-dns', s.namespace);
  if (kubeDns) {
    return new AcmgError(
      ExitCode.Usage,
      `cluster DNS is kube-dns (Deployment ${s.namespace}/kube-dns), not CoreDNS`,
      'acmg supports CoreDNS (ConfigMap coredns with a Corefile); migrate the cluster to CoreDNS first (GKE: enable Cloud DNS or CoreDNS)',
    );
  }
  return new AcmgError(
    ExitCode.Usage,
    `no CoreDNS configuration found: ConfigMap ${s.namespace}/${s.configMap} does not exist`,
    'if CoreDNS uses another ConfigMap or namespace, set dns.configMap / dns.namespace',
  );
}

export function layoutError(e: unknown): unknown {
  return e instanceof LayoutError ? new AcmgError(ExitCode.Usage, e.message, e.hint) : e;
}

export async function loadDns(kube: KubeApi, s: DnsSettings): Promise<LoadedDns> {
  const [main, custom] = await Promise.all([
    kube.get('v1', 'ConfigMap', s.configMap, s.namespace),
    kube.get('v1', 'ConfigMap', s.customConfigMap, s.namespace),
  ]);
  if (!main) throw await describeMissingCoreDNS(kube, s);
  const corefile = main.data?.Corefile;
  if (typeof corefile !== 'string')
    throw new AcmgError(
      ExitCode.Usage,
      `ConfigMap ${s.namespace}/${s.configMap} has no Corefile key (keys: ${Object.keys(main.data ?? {}).join(', ') || 'none'})`,
    );
  const config: DnsConfig = { corefile, custom: custom ? { ...(custom.data ?? {}) } : undefined };
  try {
    const layout = detectLayout({ corefile, custom: config.custom, mode: s.mode, clusterDomain: s.clusterDomain });
    return {
      config,
      layout,
      main: { ...main, apiVersion: 'v1', kind: 'ConfigMap' },
      custom: custom ? { ...custom, apiVersion: 'v1', kind: 'ConfigMap' } : undefined,
    };
  } catch (e) {
    throw layoutError(e);
  }
}

/**
 * acmg's entries as cluster DNS holds them. With `wouldWrite`, the write it describes is also
 * computed from the same read, and not made: it throws what that write would (a ConfigMap
 * overflow), unless a hand-edited region already stops it (reported in `tampered`).
 */
export async function currentDnsEntries(
  kube: KubeApi,
  s: DnsSettings,
  wouldWrite?: { mutate: (current: DnsEntry[]) => DnsEntry[]; force?: boolean },
): Promise<{ entries: DnsEntry[]; layout: Layout; tampered: string[] }> {
  const d = await loadDns(kube, s);
  const r = readEntries(d.config);
  const tampered = r.regions.filter((x) => x.region.tampered).map((x) => `${x.where}: ${x.region.problem}`);
  if (wouldWrite && (tampered.length === 0 || wouldWrite.force)) {
    try {
      setEntries(d.config, d.layout, sortEntries(wouldWrite.mutate(r.entries)), { ttl: s.ttl, force: wouldWrite.force });
    } catch (e) {
      throw layoutError(e);
    }
  }
  return { entries: r.entries, layout: d.layout, tampered };
}

/** Creates the backup of the original DNS config once; an existing backup is the older original. */
async function ensureBackup(kube: KubeApi, s: DnsSettings, d: LoadedDns): Promise<void> {
  // A region already present means acmg changed DNS before: the backup exists or was removed on purpose.
  if (readEntries(d.config).regions.length > 0) return;
  const backup: KObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: backupName(s),
      namespace: s.namespace,
      labels: acmgLabels('dns', VERSION),
      annotations: { 'acmg.io/backup-of': `${s.configMap},${s.customConfigMap}`, 'acmg.io/custom-existed': String(d.custom !== undefined) },
    },
    data: { Corefile: d.config.corefile, ...(d.config.custom ? { 'custom.json': JSON.stringify(d.config.custom) } : {}) },
  };
  try {
    await kube.create(backup);
  } catch (e) {
    if (!isConflict(e)) throw e; // 409 AlreadyExists: keep the older original
  }
}

export interface DnsWriteResult {
  changed: boolean;
  layout: Layout;
  before: DnsEntry[];
  after: DnsEntry[];
  /** ConfigMaps written (0 or 1 in every layout). */
  writes: number;
}

/**
 * Sets acmg's entries to mutate(current) in one write. Optimistic concurrency: the write carries the
 * resourceVersion that was read; on 409 the whole read-compute-write runs again.
 */
export async function updateDnsEntries(
  kube: KubeApi,
  s: DnsSettings,
  mutate: (current: DnsEntry[]) => DnsEntry[],
  opts: { force?: boolean; toggleMark?: boolean } = {},
): Promise<DnsWriteResult> {
  return retryOnConflict(async () => {
    const d = await loadDns(kube, s);
    const before = readEntries(d.config).entries;
    const after = sortEntries(mutate(before));
    let change;
    try {
      change = setEntries(d.config, d.layout, after, { ttl: s.ttl, force: opts.force, toggleMark: opts.toggleMark });
    } catch (e) {
      throw layoutError(e);
    }
    if (!change.changed) return { changed: change.changed, layout: d.layout, before, after, writes: 0 };
    await ensureBackup(kube, s, d);
    let writes = 0;
    if (change.corefileChanged) {
      await kube.replace({ ...d.main, data: { ...(d.main.data ?? {}), Corefile: change.config.corefile } });
      writes++;
    }
    if (change.customChanged) {
      const data = change.config.custom ?? {};
      if (d.custom) await kube.replace({ ...d.custom, data });
      else
        await kube.create({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: s.customConfigMap, namespace: s.namespace, labels: acmgLabels('dns', VERSION) },
          data,
        });
      writes++;
    }
    return { changed: true, layout: d.layout, before, after, writes };
  });
}

/** acmg's own labels (acmgLabels), which a coredns-custom ConfigMap acmg created carries. */
const ACMG_LABEL_KEYS = Object.keys(acmgLabels('dns', VERSION));
const createdByAcmg = (o: KObject) => o.metadata.labels?.[MANAGED_BY] === MANAGED_BY_VALUE;
const withoutAcmgLabels = (labels: Record<string, string> | undefined) =>
  Object.fromEntries(Object.entries(labels ?? {}).filter(([k]) => !ACMG_LABEL_KEYS.includes(k)));

function parseError(corefile: string): string | undefined {
  try {
    parseCorefile(corefile);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Takes acmg out of cluster DNS and leaves everything else as it is now: removes acmg's region from
 * the Corefile and acmg's keys from coredns-custom (stripRegions, the engine's one way to remove
 * them), so what the admin changed since install (another server block, a changed forward line, keys
 * of their own) stays; with nobody else's edits the result is the original, byte for byte. A region
 * edited by hand inside intact markers goes whole, hand edits included (it is acmg's text). Refused,
 * with nothing written, pointing at the backup (the config as acmg found it, for a repair by hand):
 * a damaged region (where acmg's text ends is unknown), and a removal that would leave a Corefile
 * that no longer parses (a hand edit across the region). A coredns-custom ConfigMap acmg created is
 * deleted only when it then holds nothing but what acmg wrote; otherwise it keeps the admin's keys
 * and loses acmg's labels: it is theirs now. Last, the backup is removed.
 */
export async function restoreDns(
  kube: KubeApi,
  s: DnsSettings,
  opts: { dryRun?: boolean } = {},
): Promise<{ changed: boolean; reloads: boolean; writes: number }> {
  const backupRef = `ConfigMap ${s.namespace}/${backupName(s)}`;
  let changed = false;
  let writes = 0; // writes made, over every attempt (a write that conflicted was not made)
  let reloads = true;
  await retryOnConflict(async () => {
    const [main, custom] = await Promise.all([
      kube.get('v1', 'ConfigMap', s.configMap, s.namespace),
      kube.get('v1', 'ConfigMap', s.customConfigMap, s.namespace),
    ]);
    if (!main) return;
    const config: DnsConfig = { corefile: String(main.data?.Corefile ?? ''), custom: custom ? { ...(custom.data ?? {}) } : undefined };
    const read = readEntries(config);
    const damaged = read.regions.filter((r) => r.region.damaged);
    if (damaged.length)
      throw new AcmgError(
        ExitCode.Usage,
        damaged.map((d) => `${d.where}: ${d.region.problem}`),
        'acmg changes nothing in cluster DNS until its region is whole again (or gone)',
      );
    let next: DnsConfig;
    try {
      next = stripRegions(config);
    } catch (e) {
      throw layoutError(e);
    }
    const corefileChanged = next.corefile !== config.corefile;
    if (corefileChanged) {
      const broken = parseError(next.corefile);
      // A Corefile that did not parse before is the user's to fix: acmg only takes its region out.
      if (broken && !parseError(config.corefile))
        throw new AcmgError(
          ExitCode.Usage,
          [`removing acmg's region would leave a Corefile that does not parse (${broken}); nothing was written to cluster DNS`],
          `acmg's region was edited by hand across its markers: move what is yours out of it, or remove the region by hand; ${backupRef} holds the Corefile as acmg found it`,
        );
    }
    const customChanged = custom !== undefined && JSON.stringify(next.custom ?? {}) !== JSON.stringify(config.custom ?? {});
    const ours = custom !== undefined && createdByAcmg(custom);
    const deleteCustom = ours && Object.keys(next.custom ?? {}).length === 0;
    const handOver = ours && !deleteCustom;
    changed = read.regions.length > 0;
    try {
      reloads = reloadsIn(parseCorefile(next.corefile));
    } catch {
      reloads = true; // a Corefile acmg cannot parse is the user's; acmg restarts nothing for it
    }
    if (opts.dryRun) return;
    if (corefileChanged) {
      await kube.replace({ ...main, apiVersion: 'v1', kind: 'ConfigMap', data: { ...(main.data ?? {}), Corefile: next.corefile } });
      writes++;
    }
    if (!custom) return;
    // Metadata only (acmg's labels off a ConfigMap now the admin's) changes nothing CoreDNS serves: not counted.
    if (deleteCustom) {
      if ((await kube.delete('v1', 'ConfigMap', s.customConfigMap, s.namespace)) && customChanged) writes++;
    } else if (customChanged || handOver) {
      const metadata = handOver ? { ...custom.metadata, labels: withoutAcmgLabels(custom.metadata.labels) } : custom.metadata;
      await kube.replace({ ...custom, apiVersion: 'v1', kind: 'ConfigMap', metadata, data: next.custom ?? {} });
      if (customChanged) writes++;
    }
  });
  // Asked first: a run with nothing of acmg's in DNS writes nothing at all.
  if (!opts.dryRun && (await kube.get('v1', 'ConfigMap', backupName(s), s.namespace))) await kube.delete('v1', 'ConfigMap', backupName(s), s.namespace);
  return { changed, reloads, writes };
}
