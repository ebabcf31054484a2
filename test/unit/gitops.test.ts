// Issue #26 point 1: `acmg manifest generate` renders everything `acmg install` applies, for the DNS
// layout it is told, and what a GitOps tool applies from it is an install acmg recognises. Install
// runs for real (plan, apply, record) on the in-memory API with each shipped CoreDNS layout; only
// precheck is replaced (its Istio, RBAC and injector checks are the e2e tests' business), by one
// that detects the layout from the seeded ConfigMaps as precheck does (loadDns).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { jest } from '@jest/globals';
import yaml from 'js-yaml';
import type { Layout } from '../../src/coredns/layout.js';
import type { AcmgOperator } from '../../src/profile/schema.js';
import type { KObject } from '../../src/model/object.js';
import { loadDns } from '../../src/kube/dns-store.js';
import { updateState } from '../../src/kube/state.js';
import { SWEEP_KINDS } from '../../src/kube/resources.js';
import { canMissReload } from '../../src/ops/coredns-restart.js';
import { normalize, refOf } from '../../src/ops/objects.js';
import { resolveValues } from '../../src/profile/load.js';
import { offlineClusterDomain } from '../../src/render/index.js';
import { dnsRenderContext, objectRef, offlineLayout, renderInstall, renderInstallObjects } from '../../src/render/install.js';
import { MANAGED_SELECTOR } from '../../src/render/labels.js';
import { toYamlStream } from '../../src/render/serialize.js';
import { VERSION } from '../../src/version.js';
import { expectGolden } from './golden.js';
import { MemoryKube } from './memory-kube.js';
import { ensureBuilt, ACMG, ROOT } from './process.js';

jest.unstable_mockModule('../../src/check/precheck.js', () => ({
  runPrecheck: async (kube: MemoryKube, doc: AcmgOperator) => ({
    results: [{ category: 'dns', check: 'cluster DNS layout supported', status: 'ok' }],
    layout: doc.spec.dns.enabled ? (await loadDns(kube, doc.spec.dns)).layout : undefined,
  }),
}));
const { applyInstall, planInstall, planIsEmpty } = await import('../../src/ops/install.js');
const { requireInstall } = await import('../../src/ops/install-record.js');
const { collectStatus } = await import('../../src/ops/status.js');
const { applyMigration, planMigration } = await import('../../src/ops/migrate/index.js');
const { applyUninstall, planUninstall } = await import('../../src/ops/uninstall.js');

const task = async <T>(_title: string, fn: (update: (t: string) => void) => Promise<T>) => fn(() => {});
const NS = (name: string, labels: Record<string, string> = {}): KObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const layoutObjects = (name: string) => yaml.loadAll(readFileSync(join(ROOT, 'hack', 'layouts', `${name}.yaml`), 'utf8')).filter(Boolean) as KObject[];

/** A cluster as acmg meets it: Istio's namespace, CoreDNS in the given layout, the shop namespace with a service. */
function cluster(layout: string): MemoryKube {
  const kube = new MemoryKube();
  kube.seed(NS('istio-system'), NS('kube-system'), NS('shop', { 'istio-injection': 'enabled' }), ...layoutObjects(layout), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'reviews', namespace: 'shop', labels: { app: 'reviews' } },
    spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] },
  });
  return kube;
}

/** What manifest generate is told for each shipped layout, and what install there is given (the same values). */
const LAYOUTS: { layout: string; sets: string[]; reloads: boolean; golden?: string }[] = [
  { layout: 'kubeadm', sets: ['dns.mode=corefile'], reloads: true, golden: 'corefile' },
  { layout: 'k3s', sets: ['dns.mode=custom'], reloads: true, golden: 'custom' },
  { layout: 'aks', sets: ['dns.mode=custom'], reloads: true },
  { layout: 'no-reload', sets: ['dns.mode=corefile'], reloads: false, golden: 'corefile-no-reload' },
  { layout: 'custom-domain', sets: ['dns.mode=corefile', 'dns.clusterDomain=corp.internal'], reloads: true },
];

const valuesFor = (sets: string[]) => resolveValues({ sets: ['controller.enabled=true', ...sets] });
const generate = (doc: AcmgOperator, reloads: boolean) =>
  renderInstall(doc, { clusterDomain: offlineClusterDomain(doc), version: VERSION, layout: offlineLayout(doc.spec, reloads) });

/** An object as compared: without what the API server sets (a Service's ClusterIP too), the record parsed. */
function comparable(o: KObject): KObject {
  const n = normalize(o);
  if (n.kind === 'Service' && n.spec) delete n.spec.clusterIP;
  if (n.kind === 'ConfigMap' && n.data?.install) n.data = { ...n.data, install: JSON.parse(n.data.install) };
  return n;
}
const withoutTime = (o: KObject): KObject => {
  if (o.kind !== 'ConfigMap' || typeof o.data?.install !== 'object') return o;
  const { installedAt: _t, ...rest } = o.data.install;
  return { ...o, data: { ...o.data, install: rest } };
};

/** `acmg install -y` on the in-memory cluster: plan (layout detected) and apply. */
async function install(kube: MemoryKube, doc: AcmgOperator) {
  const plan = await planInstall(kube, doc);
  await applyInstall(kube, plan, { readinessTimeoutMs: 1000, task });
  return plan;
}

/** What install left in the cluster: every object its record lists, and the state ConfigMap. */
async function installed(kube: MemoryKube): Promise<KObject[]> {
  const { install: rec } = await requireInstall(kube);
  return [...rec.objects, { apiVersion: 'v1', kind: 'ConfigMap', name: 'acmg-state', namespace: 'istio-system' }].map((r) =>
    kube.peek(r.apiVersion, r.kind, r.name, r.namespace)!,
  );
}

const byRef = (objs: KObject[]) => Object.fromEntries(objs.map((o) => [`${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));

/** `kubectl apply -f -` of manifest generate's output, in its order. */
async function gitopsApply(kube: MemoryKube, objects: KObject[]): Promise<void> {
  for (const o of objects) await kube.apply(o);
}

async function acmgObjectsLeft(kube: MemoryKube): Promise<string[]> {
  const found = await Promise.all(SWEEP_KINDS.map(async ([v, k]) => (await kube.list(v, k, { labelSelector: MANAGED_SELECTOR })).items));
  return found.flat().map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`);
}

describe('manifest generate renders what install applies', () => {
  test.each(LAYOUTS)('$layout ($sets, reload $reloads): the same objects, and the same install record but for its time', async ({ layout, sets, reloads }) => {
    const doc = valuesFor(sets);
    const kube = cluster(layout);
    await install(kube, doc);
    const live = (await installed(kube)).map(comparable);
    const rendered = generate(doc, reloads).map(comparable);
    expect(Object.keys(byRef(live)).sort()).toEqual(Object.keys(byRef(rendered)).sort());
    expect(byRef(live.map(withoutTime))).toEqual(byRef(rendered.map(withoutTime)));
    // A fresh install records when it ran; the rendered record has no time in it.
    const record = (objs: KObject[]) => objs.find((o) => o.kind === 'ConfigMap')!.data.install;
    expect(record(live).installedAt).toEqual(expect.any(String));
    expect(record(rendered).installedAt).toBeUndefined();
  });

  test('the layout decides only the controller Role in the DNS namespace: restarting CoreDNS, port-forwarding to it', () => {
    const dnsRules = (sets: string[], reloads: boolean) =>
      (generate(valuesFor(sets), reloads).find((o) => o.kind === 'Role' && o.metadata.namespace === 'kube-system') as KObject).rules as {
        resources: string[];
        verbs: string[];
      }[];
    const may = (rules: ReturnType<typeof dnsRules>, resource: string, verb: string) =>
      rules.some((r) => r.resources.includes(resource) && r.verbs.includes(verb));
    const corefile = dnsRules(['dns.mode=corefile'], true);
    expect([may(corefile, 'deployments', 'patch'), may(corefile, 'pods/portforward', 'create')]).toEqual([false, false]);
    const custom = dnsRules(['dns.mode=custom'], true);
    expect([may(custom, 'deployments', 'patch'), may(custom, 'pods/portforward', 'create')]).toEqual([true, true]);
    const noReload = dnsRules(['dns.mode=corefile'], false);
    expect([may(noReload, 'deployments', 'patch'), may(noReload, 'pods/portforward', 'create')]).toEqual([true, false]);
    expect(dnsRules(['dns.mode=custom'], false)).toEqual(noReload);
    // auto cannot be known offline: the coredns-custom layout's Role, which works on any layout.
    expect(dnsRules([], true)).toEqual(custom);
    expect(dnsRules([], false)).toEqual(noReload);
    // Everything else is the same on every layout (the record differs only by the values' dns.mode).
    const rest = (sets: string[], reloads: boolean) =>
      generate(valuesFor(sets), reloads).filter((o) => !(o.kind === 'Role' && o.metadata.namespace === 'kube-system') && o.kind !== 'ConfigMap');
    expect(rest(['dns.mode=custom'], true)).toEqual(rest(['dns.mode=corefile'], false));
  });

  test('with dns.mode=auto, generate equals install on a coredns-custom layout and holds more than install applies on a Corefile one', async () => {
    const doc = valuesFor([]);
    const rendered = byRef(generate(doc, true).map(comparable).map(withoutTime));
    const k3s = cluster('k3s');
    await install(k3s, doc);
    expect(byRef((await installed(k3s)).map(comparable).map(withoutTime))).toEqual(rendered);
    const kubeadm = cluster('kubeadm');
    await install(kubeadm, doc);
    const live = byRef((await installed(kubeadm)).map(comparable).map(withoutTime));
    const differs = Object.keys(live).filter((k) => JSON.stringify(live[k]) !== JSON.stringify(rendered[k]));
    expect(differs).toEqual(['Role kube-system/acmg-controller']);
    const rules = (o: KObject) => (o.rules as object[]).map((r) => JSON.stringify(r));
    expect(rules(rendered['Role kube-system/acmg-controller']!)).toEqual(expect.arrayContaining(rules(live['Role kube-system/acmg-controller']!)));
  });

  test('the layout context is the rule install used: CoreDNS can miss a write only to coredns-custom it reloads by itself', () => {
    for (const kind of ['corefile', 'custom'] as const)
      for (const reloads of [true, false]) {
        const layout = { kind, reloads, mechanism: 'hosts', clusterDomain: 'cluster.local', port: 53, description: '' } as Layout;
        expect(dnsRenderContext({ ...layout, deployment: 'coredns' })).toEqual({
          dnsReloads: reloads,
          dnsCanMissReload: canMissReload(layout),
          corednsDeployment: 'coredns',
        });
      }
    expect(dnsRenderContext(undefined)).toEqual({});
    // dns.enabled=false: no layout, as install has none then.
    expect(offlineLayout(resolveValues({ sets: ['dns.enabled=false'] }).spec, true)).toBeUndefined();
  });

  test.each(LAYOUTS.filter((l) => l.golden))('golden: gitops/$golden.yaml', ({ sets, reloads, golden }) => {
    const doc = valuesFor(sets);
    const objects = renderInstall(doc, { clusterDomain: offlineClusterDomain(doc), version: '0.0.0-golden', layout: offlineLayout(doc.spec, reloads) });
    expectGolden(`gitops/${golden}.yaml`, toYamlStream(objects));
  });

  test('the install record: deterministic, no time, listing exactly the objects install applies (not itself)', () => {
    const doc = resolveValues({ profile: 'ha' });
    const a = renderInstall(doc, { clusterDomain: 'cluster.local', version: '1.2.3' });
    const b = renderInstall(resolveValues({ profile: 'ha' }), { clusterDomain: 'cluster.local', version: '1.2.3' });
    expect(toYamlStream(a)).toBe(toYamlStream(b));
    const state = a.find((o) => o.kind === 'ConfigMap')!;
    expect(state.metadata).toEqual({
      name: 'acmg-state',
      namespace: 'istio-system',
      labels: {
        'acmg.io/version': '1.2.3',
        'app.kubernetes.io/component': 'state',
        'app.kubernetes.io/managed-by': 'acmg',
        'app.kubernetes.io/part-of': 'acmg',
      },
    });
    expect(Object.keys(state.data)).toEqual(['install']);
    const record = JSON.parse(state.data.install);
    expect(record).toEqual({ version: '1.2.3', profile: 'ha', values: doc.spec, clusterDomain: 'cluster.local', objects: expect.any(Array) });
    const objects = renderInstallObjects(doc, { clusterDomain: 'cluster.local', version: '1.2.3' });
    expect(record.objects).toEqual(objects.map(objectRef));
    // The same references install records (ops/objects.ts).
    expect(objects.map(objectRef)).toEqual(objects.map(refOf));
    // Compact, keys sorted at every level: what acmg writes back after reading it, byte for byte.
    expect(state.data.install).toBe(JSON.stringify(JSON.parse(state.data.install)));
    expect(Object.keys(record)).toEqual(Object.keys(record).sort());
    expect(Object.keys(record.values.gateway)).toEqual(Object.keys(record.values.gateway).sort());
    // The profile empty installs nothing but still has a record: acmg status says it is installed.
    expect(renderInstall(resolveValues({ profile: 'empty' }), { clusterDomain: 'cluster.local', version: 't' }).map((o) => o.kind)).toEqual(['ConfigMap']);
  });
});

describe("an install applied from manifest generate's output (kubectl apply, Argo CD, Flux)", () => {
  const doc = valuesFor(['dns.mode=corefile']);
  const rendered = generate(doc, true);
  const gitRecord = rendered.find((o) => o.kind === 'ConfigMap')!.data.install as string;
  const liveRecord = (kube: MemoryKube) => kube.peek('v1', 'ConfigMap', 'acmg-state', 'istio-system')!.data.install as string;

  test('is recognised: the controller finds its record, status reports it, and install sees nothing to change', async () => {
    const kube = cluster('kubeadm');
    await gitopsApply(kube, rendered);
    const { install: rec } = await requireInstall(kube);
    expect(rec).toMatchObject({ version: VERSION, profile: 'acmg', clusterDomain: 'cluster.local' });
    const status = await collectStatus(kube);
    expect(status).toMatchObject({
      installed: true,
      namespace: 'istio-system',
      profile: 'acmg',
      inProgress: false,
      gateway: { name: 'acmg-gateway', ready: true },
    });
    expect(status.installedAt).toBeUndefined();
    const plan = await planInstall(kube, doc);
    expect(plan.prune).toEqual([]);
    expect(planIsEmpty(plan)).toBe(true);
  });

  test('a later acmg install with the same values leaves the record Git declares byte for byte (no fight over installedAt)', async () => {
    const kube = cluster('kubeadm');
    await gitopsApply(kube, rendered);
    // A drifted object (someone scaled the gateway by hand): install has something to do.
    const dep = kube.peek('apps/v1', 'Deployment', 'acmg-gateway', 'istio-system')!;
    kube.seed({ ...dep, spec: { ...dep.spec, replicas: 7 } });
    const plan = await planInstall(kube, doc);
    expect(plan.objects.filter((p) => p.action !== 'unchanged').map((p) => p.object.kind)).toEqual(['Deployment']);
    await applyInstall(kube, plan, { readinessTimeoutMs: 1000, task });
    expect(liveRecord(kube)).toBe(gitRecord);
    // Other values are a new record, with the time it was written (Git's sync then puts Git's back).
    const changed = await planInstall(kube, valuesFor(['dns.mode=corefile', 'gateway.replicas=3']));
    await applyInstall(kube, changed, { readinessTimeoutMs: 1000, task });
    expect(JSON.parse(liveRecord(kube)).installedAt).toEqual(expect.any(String));
  });

  test('migrate works on it and never rewrites the record: its listener ports are a key of their own', async () => {
    const kube = cluster('kubeadm');
    await gitopsApply(kube, rendered);
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' });
    await applyMigration(kube, plan, { dnsTimeoutMs: 1000, readinessTimeoutMs: 1000, task });
    const state = kube.peek('v1', 'ConfigMap', 'acmg-state', 'istio-system')!;
    expect(state.data.install).toBe(gitRecord);
    expect(Object.keys(state.data).sort()).toEqual(['install', 'listeners']);
    expect(kube.peek('v1', 'ConfigMap', 'acmg-state-shop', 'istio-system')).toBeDefined();
    expect((await collectStatus(kube)).services).toEqual([
      { namespace: 'shop', service: 'reviews', approach: 'keep-service', phase: 'complete', dns: 'switched' },
    ]);
    // acmg's own state writes (sync's record too) keep Git's bytes.
    await updateState(kube, 'istio-system', (st) => void (st.synced = { ports: [], syncedAt: '2026-01-01T00:00:00Z' }), { namespaces: [] });
    expect(kube.peek('v1', 'ConfigMap', 'acmg-state', 'istio-system')!.data.install).toBe(gitRecord);
  });

  test('uninstall --purge removes all of it, and what migrate added, and restores the Corefile', async () => {
    const kube = cluster('kubeadm');
    const original = kube.peek('v1', 'ConfigMap', 'coredns', 'kube-system')!.data.Corefile;
    await gitopsApply(kube, rendered);
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), {
      dnsTimeoutMs: 1000,
      readinessTimeoutMs: 1000,
      task,
    });
    expect((await acmgObjectsLeft(kube)).length).toBeGreaterThan(rendered.length);
    const plan = await planUninstall(kube, { purge: true });
    await applyUninstall(kube, plan, { dnsTimeoutMs: 1000, task });
    expect(await acmgObjectsLeft(kube)).toEqual([]);
    expect(kube.peek('v1', 'ConfigMap', 'acmg-state', 'istio-system')).toBeUndefined();
    expect(kube.peek('v1', 'ConfigMap', 'coredns', 'kube-system')!.data.Corefile).toBe(original);
    expect(kube.peek('v1', 'Namespace', 'shop')!.metadata.labels).toEqual({ 'istio-injection': 'enabled' });
    expect((await collectStatus(kube)).installed).toBe(false);
  });
});

describe('acmg manifest generate (the built CLI)', () => {
  const pkgVersion = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, [ACMG, 'manifest', 'generate', '-o', 'json', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    return { code: r.status, items: r.status === 0 ? (JSON.parse(r.stdout).items as KObject[]) : [], stderr: r.stderr };
  };
  beforeAll(() => ensureBuilt());

  test.each(LAYOUTS)('prints renderInstall for $layout ($sets, reload $reloads)', ({ sets, reloads }) => {
    const r = run([...sets.flatMap((s) => ['--set', s]), '--set', 'controller.enabled=true', ...(reloads ? [] : ['--no-dns-reload'])]);
    expect(r.code).toBe(0);
    const doc = valuesFor(sets);
    expect(r.items).toEqual(
      JSON.parse(
        JSON.stringify(renderInstall(doc, { clusterDomain: offlineClusterDomain(doc), version: pkgVersion, layout: offlineLayout(doc.spec, reloads) })),
      ),
    );
    expect(r.stderr).toBe('');
  });

  test('--coredns-deployment names the CoreDNS Deployment the controller may restart (default coredns), in its Role and the record', () => {
    const restartRule = (items: KObject[]) =>
      (items.find((o) => o.kind === 'Role' && o.metadata.namespace === 'kube-system')!.rules as { resources: string[] }[]).filter((r) =>
        r.resources.includes('deployments'),
      );
    const recorded = (items: KObject[]) => JSON.parse(items.find((o) => o.kind === 'ConfigMap')!.data.install).corednsDeployment;
    const base = ['--set', 'controller.enabled=true', '--set', 'dns.mode=corefile', '--no-dns-reload'];
    const byDefault = run(base);
    expect(byDefault.code).toBe(0);
    expect(restartRule(byDefault.items)).toEqual([
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['coredns'], verbs: ['get', 'watch', 'patch'] },
    ]);
    expect(recorded(byDefault.items)).toBe('coredns');
    const rke2 = run([...base, '--coredns-deployment', 'rke2-coredns-rke2-coredns']);
    expect(rke2.code).toBe(0);
    expect(restartRule(rke2.items)).toEqual([
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['rke2-coredns-rke2-coredns'], verbs: ['get', 'watch', 'patch'] },
    ]);
    expect(recorded(rke2.items)).toBe('rke2-coredns-rke2-coredns');
    const bad = run([...base, '--coredns-deployment', 'CoreDNS']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid --coredns-deployment "CoreDNS"/);
  });

  test('dns.mode=auto with the controller warns that the Role is the one for every layout', () => {
    const r = run(['--set', 'controller.enabled=true']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: dns\.mode is auto.*--set dns\.mode=corefile/);
    expect(run([]).stderr).toBe('');
  });
});
