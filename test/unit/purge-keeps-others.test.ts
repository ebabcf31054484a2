// `acmg uninstall --purge` takes out of cluster DNS only what acmg put there (its region in the
// Corefile, its key in coredns-custom, a coredns-custom ConfigMap it created that holds nothing
// else) and leaves every other change as it is now: an admin's edits made after install survive.
// With nobody else's edits the result is the DNS config from before install, byte for byte.
// Through the use cases (planUninstall / applyUninstall) on an in-memory API server, one cluster
// per supported DNS layout (hack/layouts, and minikube's Corefile where `hosts` is taken).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { readEntries } from '../../src/coredns/engine.js';
import { detectLayout } from '../../src/coredns/layout.js';
import { AcmgError, ExitCode } from '../../src/errors.js';
import { updateDnsEntries, type DnsSettings } from '../../src/kube/dns-store.js';
import type { KObject } from '../../src/model/object.js';
import { applyMigration, planMigration } from '../../src/ops/migrate/index.js';
import { applyUninstall, planUninstall, uninstallIsEmpty } from '../../src/ops/uninstall.js';
import { resolveValues } from '../../src/profile/load.js';
import { renderManifests } from '../../src/render/index.js';
import { MemoryKube, recordInstall } from './memory-kube.js';

interface LayoutCase {
  name: string;
  domain: string;
  /** Where acmg writes there: the Corefile or a coredns-custom key. */
  writes: 'Corefile' | 'acmg.server' | 'acmg.override';
  mechanism: 'hosts' | 'server-blocks';
  objects: () => KObject[];
}

const fromHack = (name: string) => () => yaml.loadAll(readFileSync(join(process.cwd(), 'hack', 'layouts', `${name}.yaml`), 'utf8')) as KObject[];
const LAYOUTS: LayoutCase[] = [
  { name: 'kubeadm', domain: 'cluster.local', writes: 'Corefile', mechanism: 'hosts', objects: fromHack('kubeadm') },
  { name: 'custom-domain', domain: 'corp.internal', writes: 'Corefile', mechanism: 'hosts', objects: fromHack('custom-domain') },
  { name: 'no-reload', domain: 'cluster.local', writes: 'Corefile', mechanism: 'hosts', objects: fromHack('no-reload') },
  {
    name: 'minikube',
    domain: 'cluster.local',
    writes: 'Corefile',
    mechanism: 'server-blocks',
    objects: () => [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'coredns', namespace: 'kube-system' },
        data: { Corefile: readFileSync(join(process.cwd(), 'test', 'fixtures', 'corefiles', 'minikube.Corefile'), 'utf8') },
      },
    ],
  },
  { name: 'k3s', domain: 'cluster.local', writes: 'acmg.server', mechanism: 'server-blocks', objects: fromHack('k3s') },
  { name: 'aks', domain: 'cluster.local', writes: 'acmg.override', mechanism: 'hosts', objects: fromHack('aks') },
];

const task = async <T>(_title: string, fn: (update: (t: string) => void) => Promise<T>) => fn(() => {});
const NS = (name: string, labels: Record<string, string> = {}): KObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const DNS = (domain: string): DnsSettings => ({
  namespace: 'kube-system',
  configMap: 'coredns',
  customConfigMap: 'coredns-custom',
  mode: 'auto',
  clusterDomain: domain,
  ttl: 5,
});

/** acmg (profile minimal) installed on a cluster with this DNS layout, a Service reviews in shop, and CoreDNS's Deployment. */
async function installedOn(l: LayoutCase): Promise<MemoryKube> {
  const kube = new MemoryKube();
  const doc = resolveValues({ profile: 'minimal' });
  const objects = renderManifests(doc, { clusterDomain: l.domain, version: '0.0.0-test' });
  kube.seed(
    NS('istio-system'),
    NS('kube-system'),
    NS('shop', { 'istio-injection': 'enabled' }),
    ...l.objects(),
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'coredns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
      spec: { replicas: 2 },
    },
    ...objects,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'reviews', namespace: 'shop', labels: { app: 'reviews' } },
      spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] },
    },
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'reviews', namespace: 'shop' }, spec: { replicas: 1 } },
  );
  await recordInstall(kube, doc.spec, objects, { clusterDomain: l.domain });
  return kube;
}

const migrateReviews = async (kube: MemoryKube) =>
  applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), {
    dnsTimeoutMs: 1000,
    readinessTimeoutMs: 1000,
    task,
  });
const purge = async (kube: MemoryKube) => applyUninstall(kube, await planUninstall(kube, { purge: true }), { dnsTimeoutMs: 1000, task });

/** Cluster DNS as a test compares it: the Corefile, and coredns-custom's data (undefined: no such ConfigMap). */
function dnsOf(kube: MemoryKube): { corefile: string; custom?: Record<string, string> } {
  const custom = kube.peek('v1', 'ConfigMap', 'coredns-custom', 'kube-system');
  return { corefile: String(kube.peek('v1', 'ConfigMap', 'coredns', 'kube-system')!.data.Corefile), custom: custom && { ...(custom.data ?? {}) } };
}

async function edit(kube: MemoryKube, name: string, f: (cm: KObject) => void): Promise<void> {
  const cm = kube.peek('v1', 'ConfigMap', name, 'kube-system')!;
  f(cm);
  await kube.replace(cm);
}

// The admin's changes after install, none of them acmg's: a stub zone, another upstream in the
// forward line (both in the Corefile, on every layout), and on coredns-custom layouts a key of their own.
const STUB_ZONE = 'corp.example:53 {\n    errors\n    forward . 10.20.0.53\n}\n';
const adminCorefile = (corefile: string) => {
  if (!corefile.includes('forward . /etc/resolv.conf')) throw new Error('no forward line to change');
  return corefile.replace('forward . /etc/resolv.conf', 'forward . 10.20.0.53 10.20.0.54') + STUB_ZONE;
};
const ADMIN_KEY = { 'corp.server': 'corp.example:53 {\n    forward . 10.20.0.53\n}\n' };
async function adminEdits(kube: MemoryKube, l: LayoutCase): Promise<void> {
  await edit(kube, 'coredns', (cm) => (cm.data.Corefile = adminCorefile(cm.data.Corefile)));
  if (l.writes !== 'Corefile') await edit(kube, 'coredns-custom', (cm) => (cm.data = { ...cm.data, ...ADMIN_KEY }));
}
/** What cluster DNS should be after purge: the original with the admin's edits, nothing of acmg's. */
const withAdminEdits = (l: LayoutCase, before: { corefile: string; custom?: Record<string, string> }) => ({
  corefile: adminCorefile(before.corefile),
  custom: l.writes === 'Corefile' ? before.custom : { ...(before.custom ?? {}), ...ADMIN_KEY },
});

/** Nothing of acmg's left in cluster DNS: no region, no entry, no acmg key, no backup. */
function expectNoAcmg(kube: MemoryKube): void {
  const now = dnsOf(kube);
  expect(readEntries(now).regions).toEqual([]);
  expect(now.corefile).not.toMatch(/acmg/);
  expect(Object.keys(now.custom ?? {}).filter((k) => k.startsWith('acmg.'))).toEqual([]);
  expect(kube.peek('v1', 'ConfigMap', 'coredns-acmg-backup', 'kube-system')).toBeUndefined();
}

/** Edits the inside of acmg's region by hand (its TTL), wherever the layout keeps it: the region is then "tampered". */
async function handEditRegion(kube: MemoryKube, l: LayoutCase): Promise<void> {
  const ttl = (text: string) => {
    const out = text.replace(/(ttl |\}\} )5\b/, '$19');
    if (out === text) throw new Error('no TTL in the region to edit');
    return out;
  };
  if (l.writes === 'Corefile') await edit(kube, 'coredns', (cm) => (cm.data.Corefile = ttl(cm.data.Corefile)));
  else await edit(kube, 'coredns-custom', (cm) => (cm.data[l.writes] = ttl(cm.data[l.writes])));
  expect(readEntries(dnsOf(kube)).regions.map((r) => r.region.tampered)).toEqual([true]);
}

describe('purge takes out only what acmg put in cluster DNS', () => {
  test.each(LAYOUTS)('$name: acmg writes where the layout says (the cases below cover each layout)', async (l) => {
    const kube = await installedOn(l);
    const before = dnsOf(kube);
    const layout = detectLayout({ corefile: before.corefile, custom: before.custom, mode: 'auto', clusterDomain: 'auto' });
    expect([layout.customKey ?? 'Corefile', layout.mechanism, layout.clusterDomain]).toEqual([l.writes, l.mechanism, l.domain]);
    await migrateReviews(kube);
    expect(readEntries(dnsOf(kube)).entries.map((e) => e.fqdn)).toEqual([`reviews.shop.svc.${l.domain}`]);
  });

  test.each(LAYOUTS)('$name: with nobody else editing, install + migrate + purge leaves cluster DNS byte for byte as before install', async (l) => {
    const kube = await installedOn(l);
    const before = dnsOf(kube);
    await migrateReviews(kube);
    expect(dnsOf(kube)).not.toEqual(before);
    await purge(kube);
    expect(dnsOf(kube)).toEqual(before);
    expectNoAcmg(kube);
  });

  test.each(LAYOUTS)("$name: the admin's stub zone, changed forward line and own coredns-custom key added after install survive purge", async (l) => {
    const kube = await installedOn(l);
    const before = dnsOf(kube);
    await migrateReviews(kube);
    await adminEdits(kube, l);
    await purge(kube);
    expect(dnsOf(kube)).toEqual(withAdminEdits(l, before));
    expectNoAcmg(kube);
  });

  // Entries that no migration records (acmg sync writes them for a VirtualService bound to acmg's
  // Gateway) are still in acmg's region when purge restores DNS: the restore removes them itself.
  test.each(LAYOUTS)(
    "$name: a region edited by hand that purge removes itself goes whole, and the admin's edits outside it survive (no install-time backup written back)",
    async (l) => {
      const kube = await installedOn(l);
      const before = dnsOf(kube);
      await updateDnsEntries(kube, DNS(l.domain), () => [{ fqdn: `api.shop.svc.${l.domain}`, ip: '10.96.0.200' }]);
      await adminEdits(kube, l);
      await handEditRegion(kube, l);
      const plan = await planUninstall(kube, { purge: true });
      expect(plan.migrated).toEqual([]);
      await applyUninstall(kube, plan, { dnsTimeoutMs: 1000, task });
      expect(dnsOf(kube)).toEqual(withAdminEdits(l, before));
      expectNoAcmg(kube);
    },
  );

  test.each(LAYOUTS)('$name: after acmg forgot its install (an interrupted purge), purge still removes only its region', async (l) => {
    const kube = await installedOn(l);
    const before = dnsOf(kube);
    await updateDnsEntries(kube, DNS(l.domain), () => [{ fqdn: `api.shop.svc.${l.domain}`, ip: '10.96.0.200' }]);
    await adminEdits(kube, l);
    await handEditRegion(kube, l);
    await kube.delete('v1', 'ConfigMap', 'acmg-state', 'istio-system');
    const plan = await planUninstall(kube, { purge: true });
    expect([plan.installed, plan.dnsLeftovers]).toEqual([false, true]);
    await applyUninstall(kube, plan, { dnsTimeoutMs: 1000, task });
    expect(dnsOf(kube)).toEqual(withAdminEdits(l, before));
    expectNoAcmg(kube);
  });
});

describe('a coredns-custom ConfigMap acmg created (k3s)', () => {
  const k3s = LAYOUTS.find((l) => l.name === 'k3s')!;

  test("holding nothing but acmg's key, purge deletes it", async () => {
    const kube = await installedOn(k3s);
    await migrateReviews(kube);
    expect(kube.peek('v1', 'ConfigMap', 'coredns-custom', 'kube-system')!.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('acmg');
    await purge(kube);
    expect(kube.peek('v1', 'ConfigMap', 'coredns-custom', 'kube-system')).toBeUndefined();
  });

  test("with keys the admin added, purge removes only acmg's key and hands it over: acmg's labels go, a second purge leaves it alone", async () => {
    const kube = await installedOn(k3s);
    await migrateReviews(kube);
    await edit(kube, 'coredns-custom', (cm) => {
      cm.data = { ...cm.data, ...ADMIN_KEY };
      cm.metadata.labels = { ...cm.metadata.labels, team: 'platform' };
    });
    const plan = await planUninstall(kube, { purge: true });
    // Not in the plan's deletes: the DNS restore decides, from what the ConfigMap holds then.
    expect(plan.objects.filter((o) => o.kind === 'ConfigMap' && o.name === 'coredns-custom')).toEqual([]);
    await applyUninstall(kube, plan, { dnsTimeoutMs: 1000, task });
    const cm = kube.peek('v1', 'ConfigMap', 'coredns-custom', 'kube-system')!;
    expect(cm.data).toEqual(ADMIN_KEY);
    expect(cm.metadata.labels).toEqual({ team: 'platform' });
    expect(uninstallIsEmpty(await planUninstall(kube, { purge: true }))).toBe(true);
    await purge(kube);
    expect(kube.peek('v1', 'ConfigMap', 'coredns-custom', 'kube-system')!.data).toEqual(ADMIN_KEY);
  });

  test("the admin's keys survive also when acmg's key is still there at the restore (no migration recorded it)", async () => {
    const kube = await installedOn(k3s);
    await updateDnsEntries(kube, DNS('cluster.local'), () => [{ fqdn: 'api.shop.svc.cluster.local', ip: '10.96.0.200' }]);
    await edit(kube, 'coredns-custom', (cm) => (cm.data = { ...cm.data, ...ADMIN_KEY }));
    const r = await purge(kube);
    expect(r.dnsRestored).toBe(true);
    expect(kube.peek('v1', 'ConfigMap', 'coredns-custom', 'kube-system')!.data).toEqual(ADMIN_KEY);
  });
});

describe('what purge still refuses, pointing at the backup', () => {
  const kubeadm = LAYOUTS.find((l) => l.name === 'kubeadm')!;

  test('a damaged region (its end marker deleted): exit 2 naming the line, nothing written to cluster DNS, the backup kept', async () => {
    const kube = await installedOn(kubeadm);
    await updateDnsEntries(kube, DNS('cluster.local'), () => [{ fqdn: 'api.shop.svc.cluster.local', ip: '10.96.0.200' }]);
    await edit(kube, 'coredns', (cm) => (cm.data.Corefile = cm.data.Corefile.replace(/^.*# acmg:end\n/m, '')));
    const damaged = dnsOf(kube);
    const e = (await purge(kube).catch((x) => x)) as AcmgError;
    expect(e).toBeInstanceOf(AcmgError);
    expect(e.code).toBe(ExitCode.Usage);
    expect(e.problems.join('\n')).toMatch(/Corefile: the acmg region starting on line \d+ has no "# acmg:end" marker.*coredns-acmg-backup/);
    expect(dnsOf(kube)).toEqual(damaged);
    expect(kube.peek('v1', 'ConfigMap', 'coredns-acmg-backup', 'kube-system')).toBeDefined();
  });

  test('a hand edit across the region (the cluster block now closes inside it): removing the region would leave a Corefile that does not parse, so nothing is written', async () => {
    const kube = await installedOn(kubeadm);
    await updateDnsEntries(kube, DNS('cluster.local'), () => [{ fqdn: 'api.shop.svc.cluster.local', ip: '10.96.0.200' }]);
    // The block's closing brace moved into the region: the Corefile still parses, without the region it would not.
    await edit(kube, 'coredns', (cm) => (cm.data.Corefile = cm.data.Corefile.replace(/( *# acmg:end\n)\}\n/, '}\n$1')));
    const edited = dnsOf(kube);
    const e = (await purge(kube).catch((x) => x)) as AcmgError;
    expect(e).toBeInstanceOf(AcmgError);
    expect(e.code).toBe(ExitCode.Usage);
    expect(e.problems.join('\n')).toMatch(/removing acmg's region would leave a Corefile that does not parse/);
    expect(e.hint).toMatch(/kube-system\/coredns-acmg-backup/);
    expect(dnsOf(kube)).toEqual(edited);
    expect(kube.peek('v1', 'ConfigMap', 'coredns-acmg-backup', 'kube-system')).toBeDefined();
  });
});
