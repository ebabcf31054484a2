// acmg's state is ConfigMaps anyone with edit rights in the install namespace can change: every
// migration record is checked when it is read, and state that breaks the rules is refused (exit 2)
// before anything acts on it, naming the ConfigMap, the record and the field.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { AcmgError, ExitCode } from '../../src/errors.js';
import { readState, readStateVersioned, updateState } from '../../src/kube/state.js';
import type { KObject } from '../../src/model/object.js';
import { listenersProblems, migrationRecordProblems, migrationsProblems } from '../../src/model/state-validate.js';
import type { MigrationRecord } from '../../src/model/state.js';
import { loadInstall } from '../../src/ops/install-record.js';
import { applyMigration, planMigration } from '../../src/ops/migrate/index.js';
import { rollbackMigrations } from '../../src/ops/rollback.js';
import { planUninstall } from '../../src/ops/uninstall.js';
import { resolveValues } from '../../src/profile/load.js';
import { renderManifests } from '../../src/render/index.js';
import { keepableService } from '../../src/render/routes.js';
import { MemoryKube, recordInstall } from './memory-kube.js';

const NS = 'istio-system';
const service: KObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'reviews', namespace: 'shop', labels: { app: 'reviews' }, uid: 'u1', resourceVersion: '7' },
  spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }], clusterIP: '10.96.0.20' },
};
/** A record as acmg writes it (approach 2, every step done). */
const rec = (over: Record<string, unknown> = {}): MigrationRecord =>
  ({
    namespace: 'shop',
    service: 'reviews',
    approach: 'replace-service',
    fqdn: 'reviews.shop.svc.cluster.local',
    ports: [{ name: 'http', port: 9080, protocol: 'HTTP' }],
    replacement: 'reviews-acmg',
    originalService: keepableService(service),
    previousInjection: 'enabled',
    journal: ['gateway-ports', 'replacement-service', 'route', 'dns', 'injection-label', 'delete-original'],
    phase: 'complete',
    migratedAt: '2026-01-01T00:00:00Z',
    ...over,
  }) as MigrationRecord;
/** A record's problems; ctx {} is a state without an install record. */
const problemsOf = (r: unknown, key = 'shop/reviews', ctx: { clusterDomain?: string } = { clusterDomain: 'cluster.local' }) =>
  migrationRecordProblems(key, r, ctx);
const clusterRoleBinding: KObject = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name: 'reviews' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
  subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'shop' }],
};

/** Replaces a ConfigMap's data as `kubectl edit` would. */
const handEdit = (kube: MemoryKube, name: string, edit: (data: Record<string, string>) => void) => {
  const cm = kube.peek('v1', 'ConfigMap', name, NS)!;
  const data = { ...cm.data };
  edit(data);
  kube.seed({ ...cm, data });
};
const editRecord = (kube: MemoryKube, key: string, edit: (r: Record<string, unknown>) => void) =>
  handEdit(kube, `acmg-state-${key.split('/')[0]}`, (data) => {
    const records = JSON.parse(data.migrations!);
    edit(records[key]);
    data.migrations = JSON.stringify(records);
  });
const refusal = async (p: Promise<unknown>): Promise<AcmgError> => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(AcmgError);
  expect((e as AcmgError).code).toBe(ExitCode.Usage);
  return e as AcmgError;
};

describe('the rules of a migration record', () => {
  test('a record as acmg writes it passes, with unknown extra fields and acceptedRuleChanges; without an install record any cluster domain does', () => {
    expect(problemsOf(rec())).toEqual([]);
    expect(problemsOf(rec({ acceptedRuleChanges: ['VirtualService shop/reviews: sourceLabels'], addedByANewerAcmg: { x: 1 } }))).toEqual([]);
    // Accepted rule changes by key (and, from a record written before keys, by message) pass.
    const keyed = { key: 'VirtualService shop/reviews http.match.sourceLabels 0123456789abcdef', message: 'VirtualService shop/reviews http[0]...' };
    expect(problemsOf(rec({ acceptedRuleChanges: [keyed, 'VirtualService shop/reviews: sourceLabels'] }))).toEqual([]);
    expect(problemsOf(rec({ approach: 'keep-service', replacement: undefined, originalService: undefined, previousInjection: null, journal: [] }))).toEqual([]);
    expect(problemsOf(rec({ fqdn: 'reviews.shop.svc.corp.example' }), 'shop/reviews', {})).toEqual([]);
    expect(problemsOf(rec({ originalService: { ...keepableService(service), metadata: { name: 'reviews' } } }))).toEqual([]);
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['a namespace that is not a DNS-1123 label', { namespace: 'Shop' }, /^namespace "Shop" is not a valid DNS-1123 label/],
    ['a service that is not a DNS-1035 label', { service: '9reviews' }, /^service "9reviews" is not a valid DNS-1035 label/],
    ['a key that is not namespace/service', { service: 'ratings' }, /^the record's key is not "<namespace>\/<service>" of its fields \("shop\/ratings"\)/],
    [
      'an fqdn that would write more into the Corefile',
      { fqdn: 'reviews.shop.svc.cluster.local\n}\nevil.com {' },
      /^fqdn "reviews\.shop\.svc\.cluster\.local\\n}\\nevil\.com \{" is not/,
    ],
    [
      'an fqdn of another Service',
      { fqdn: 'kubernetes.default.svc.cluster.local' },
      /^fqdn .* is not the Service's DNS name "reviews\.shop\.svc\.cluster\.local"/,
    ],
    ['an unknown approach', { approach: 'both' }, /^approach is "both"; expected one of "keep-service", "replace-service"/],
    ['an unknown phase', { phase: 'done' }, /^phase is "done"; expected one of "in-progress", "complete", "rolling-back"/],
    ['an unknown journal step', { journal: ['route', 'rm -rf'] }, /^journal\[1\] is "rm -rf"; expected one of/],
    ['a journal that is not a list', { journal: 'route' }, /^journal is "route"; expected a list/],
    ['ports that are not a list', { ports: { http: 80 } }, /^ports is an object; expected a list/],
    ['a port out of range', { ports: [{ name: 'http', port: 70000, protocol: 'HTTP' }] }, /^ports\[0\]\.port is 70000; expected a port number/],
    ['a port that is not an integer', { ports: [{ name: 'http', port: '80', protocol: 'HTTP' }] }, /^ports\[0\]\.port is "80"/],
    ['a port without a name', { ports: [{ port: 80, protocol: 'HTTP' }] }, /^ports\[0\]\.name is missing; expected a string/],
    ['an unknown protocol', { ports: [{ name: 'u', port: 53, protocol: 'UDP' }] }, /^ports\[0\]\.protocol is "UDP"/],
    [
      'a ClusterRoleBinding as the original Service',
      { originalService: clusterRoleBinding },
      /^originalService\.apiVersion is "rbac\.authorization\.k8s\.io\/v1", not "v1"/,
    ],
    [
      'another Service as the original',
      { originalService: { ...keepableService(service), metadata: { name: 'ratings', namespace: 'shop' } } },
      /^originalService\.metadata\.name is "ratings"/,
    ],
    [
      'a Service of another namespace as the original',
      { originalService: { ...keepableService(service), metadata: { name: 'reviews', namespace: 'kube-system' } } },
      /^originalService\.metadata\.namespace is "kube-system", not the record's namespace "shop"/,
    ],
    ['an original Service that is not an object', { originalService: 'reviews' }, /^originalService is "reviews"/],
    ['a replacement that is not a Service name', { replacement: 'Reviews_acmg' }, /^replacement "Reviews_acmg" is not a valid DNS-1035 label/],
    ['a previous injection label that is not a string', { previousInjection: true }, /^previousInjection is true/],
    [
      'accepted rule changes that are neither strings nor rule changes',
      { acceptedRuleChanges: [1] },
      /^acceptedRuleChanges is a list with an entry that is neither/,
    ],
    ['an accepted rule change without a key', { acceptedRuleChanges: [{ message: 'x' }] }, /^acceptedRuleChanges is a list with an entry that is neither/],
    ['a wrong type for a known field', { migratedAt: 5 }, /^migratedAt is 5/],
  ])('refused: %s', (_what, over, problem) => {
    // The key of the record's own fields, except where the key is what is wrong.
    const key = _what.startsWith('a key') ? 'shop/reviews' : `${String(over.namespace ?? 'shop')}/${String(over.service ?? 'reviews')}`;
    expect(problemsOf(rec(over), key)).toContainEqual(expect.stringMatching(problem));
  });

  test('without an install record the fqdn still needs <service>.<namespace>.svc. and a DNS name after it', () => {
    expect(problemsOf(rec({ fqdn: 'reviews.shop.svc.' }), 'shop/reviews', {})).toEqual([expect.stringMatching(/^fqdn "reviews\.shop\.svc\." is not/)]);
    expect(problemsOf(rec({ fqdn: 'reviews.shop.svc.x y' }), 'shop/reviews', {})).toHaveLength(1);
    expect(problemsOf(rec({ fqdn: 'evil.com' }), 'shop/reviews', {})).toEqual([expect.stringMatching(/"reviews\.shop\.svc\.<cluster domain>"/)]);
  });

  test('a record that is not an object, and every field of every record is reported, in key order', () => {
    expect(migrationsProblems({ 'shop/b': rec({ service: 'b', fqdn: 'b.shop.svc.cluster.local', phase: 'x', approach: 'y' }), 'shop/a': 5 })).toEqual([
      'record "shop/a": is 5, not a migration record (an object)',
      expect.stringMatching(/^record "shop\/b": approach is "y"/),
      expect.stringMatching(/^record "shop\/b": phase is "x"/),
      expect.stringMatching(/^record "shop\/b": originalService\.metadata\.name is "reviews"/),
    ]);
    expect(migrationsProblems([rec()])).toEqual([expect.stringMatching(/^data\.migrations is a list; expected a JSON object/)]);
  });

  test('listeners: "namespace/port" keys and port values', () => {
    expect(listenersProblems({ 'shop/9080': 20000, 'web/8000': 20001 })).toEqual([]);
    expect(listenersProblems({ 'Shop/80': 20000, 'shop/080': 1, 'shop/0': 2, shop: 3, 'web/80': 70000, 'web/81': '20002' })).toEqual([
      'listeners: key "Shop/80" is not "<namespace>/<port>"',
      'listeners: key "shop" is not "<namespace>/<port>"',
      'listeners: key "shop/0" is not "<namespace>/<port>"',
      'listeners: key "shop/080" is not "<namespace>/<port>"',
      'listeners["web/80"] is 70000; expected a port number (an integer 1-65535)',
      'listeners["web/81"] is "20002"; expected a port number (an integer 1-65535)',
    ]);
  });
});

describe('reading the state', () => {
  const seedShard = (kube: MemoryKube, namespace: string, migrations: string, labels: Record<string, string> = { 'acmg.io/state-namespace': namespace }) =>
    kube.seed({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: `acmg-state-${namespace}`,
        namespace: NS,
        labels: { 'app.kubernetes.io/managed-by': 'acmg', 'app.kubernetes.io/component': 'state-shard', ...labels },
      },
      data: { migrations },
    });

  test('valid state reads as before, through every read path', async () => {
    const kube = new MemoryKube();
    await updateState(kube, NS, (st) => {
      st.migrations['shop/reviews'] = rec();
      st.listeners = { 'shop/9080': 20000 };
      st.synced = { ports: [], syncedAt: '2026-01-01T00:00:00Z' };
    });
    expect((await readState(kube, NS)).migrations).toEqual({ 'shop/reviews': rec() });
    expect((await readState(kube, NS, { namespaces: ['shop'] })).listeners).toEqual({ 'shop/9080': 20000 });
    expect((await readStateVersioned(kube, NS)).state.migrations['shop/reviews']).toEqual(rec());
  });

  test('a hand-edited record is refused with exit 2, naming the ConfigMap, the record and the field, with a hint; also on a scoped read and in updateState', async () => {
    const kube = new MemoryKube();
    await updateState(kube, NS, (st) => void (st.migrations['shop/reviews'] = rec()));
    editRecord(kube, 'shop/reviews', (r) => void (r.fqdn = 'reviews.shop.svc.cluster.local\n}\n. {'));
    for (const read of [readState(kube, NS), readState(kube, NS, { namespaces: ['shop'] }), readStateVersioned(kube, NS), updateState(kube, NS, () => {})]) {
      const e = await refusal(read);
      expect(e.problems).toEqual([
        expect.stringMatching(/^state ConfigMap istio-system\/acmg-state-shop: record "shop\/reviews": fqdn ".*" is not the Service's DNS name/),
      ]);
      expect(e.hint).toMatch(/edited by hand.*will not act on it.*kubectl -n istio-system edit configmap acmg-state-shop$/);
    }
  });

  test('every bad record of every ConfigMap is reported, the main ConfigMap first', async () => {
    const kube = new MemoryKube();
    seedShard(
      kube,
      'shop',
      JSON.stringify({
        'shop/a': rec({ service: 'a', fqdn: 'a.shop.svc.cluster.local', originalService: undefined, phase: '?' }),
        'shop/b': rec({ service: 'b', fqdn: 'b.shop.svc.cluster.local', originalService: undefined, journal: ['?'] }),
      }),
    );
    seedShard(kube, 'web', JSON.stringify({ 'web/c': rec({ namespace: 'web', service: 'c', fqdn: 'x', originalService: undefined }) }));
    kube.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'acmg-state', namespace: NS }, data: { listeners: JSON.stringify({ 'shop/80': 0 }) } });
    const e = await refusal(readState(kube, NS));
    expect(e.problems).toEqual([
      expect.stringMatching(/^state ConfigMap istio-system\/acmg-state: listeners\["shop\/80"\] is 0/),
      expect.stringMatching(/^state ConfigMap istio-system\/acmg-state-shop: record "shop\/a": phase is "\?"/),
      expect.stringMatching(/^state ConfigMap istio-system\/acmg-state-shop: record "shop\/b": journal\[0\] is "\?"/),
      expect.stringMatching(/^state ConfigMap istio-system\/acmg-state-web: record "web\/c": fqdn "x"/),
    ]);
    expect(e.hint).toMatch(/edit configmap acmg-state \(likewise acmg-state-shop, acmg-state-web\)$/);
  });

  test("a record in another namespace's shard, a shard whose label names another namespace, and data that is not JSON are refused (bad JSON was a SyntaxError: exit 3)", async () => {
    const kube = new MemoryKube();
    seedShard(
      kube,
      'shop',
      JSON.stringify({
        'kube-system/coredns': rec({ namespace: 'kube-system', service: 'coredns', fqdn: 'coredns.kube-system.svc.cluster.local', originalService: undefined }),
      }),
    );
    seedShard(kube, 'web', '{}', { 'acmg.io/state-namespace': 'kube-system' });
    kube.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'acmg-state', namespace: NS }, data: { install: '{"version": ' } });
    const e = await refusal(readState(kube, NS));
    expect(e.problems).toEqual([
      expect.stringMatching(/^state ConfigMap istio-system\/acmg-state: data\.install is not valid JSON/),
      expect.stringMatching(
        /^state ConfigMap istio-system\/acmg-state-shop: record "kube-system\/coredns": namespace "kube-system" is not the namespace of its shard \("shop"\)/,
      ),
      'state ConfigMap istio-system/acmg-state-web: its namespace label says "kube-system", but that namespace\'s shard is "acmg-state-kube-system"',
    ]);
  });

  test('records from before sharding (in the main ConfigMap) are checked too', async () => {
    const kube = new MemoryKube();
    kube.seed({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'acmg-state', namespace: NS },
      data: {
        migrations: JSON.stringify({
          'shop/reviews': rec(),
          'shop/ratings': rec({ service: 'ratings', fqdn: 'ratings.shop.svc.cluster.local', originalService: clusterRoleBinding }),
        }),
      },
    });
    const e = await refusal(readState(kube, NS, { namespaces: ['web'] }));
    expect(e.problems).toEqual([
      expect.stringMatching(/^state ConfigMap istio-system\/acmg-state: record "shop\/ratings": originalService\.apiVersion/),
      expect.stringMatching(/^state ConfigMap istio-system\/acmg-state: record "shop\/ratings": originalService\.kind is "ClusterRoleBinding"/),
      expect.stringMatching(/^state ConfigMap istio-system\/acmg-state: record "shop\/ratings": originalService\.metadata\.name is "reviews"/),
    ]);
  });
});

/** A cluster with acmg (profile minimal) installed, kubeadm CoreDNS, and namespace shop's reviews. */
async function installedCluster(): Promise<MemoryKube> {
  const kube = new MemoryKube();
  const coredns = yaml.load(readFileSync(join(process.cwd(), 'hack/layouts/kubeadm.yaml'), 'utf8')) as KObject;
  const doc = resolveValues({ profile: 'minimal' });
  const objects = renderManifests(doc, { clusterDomain: 'cluster.local', version: '0.0.0-test' });
  const ns = (name: string, labels: Record<string, string> = {}): KObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  kube.seed(ns(NS), ns('kube-system'), ns('shop', { 'istio-injection': 'enabled' }), coredns, ...objects, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'reviews', namespace: 'shop', labels: { app: 'reviews' } },
    spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] },
  });
  await recordInstall(kube, doc.spec, objects, { namespace: NS });
  return kube;
}
const task = async <T>(_title: string, fn: (update: (t: string) => void) => Promise<T>) => fn(() => {});

describe('the use cases refuse hand-edited state before they change anything', () => {
  test("a ClusterRoleBinding put in a migration's originalService: rollback refuses with exit 2 and creates nothing (it created the binding)", async () => {
    const kube = await installedCluster();
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'replace-service' }), {
      dnsTimeoutMs: 1000,
      readinessTimeoutMs: 1000,
      task,
    });
    expect(kube.peek('v1', 'Service', 'reviews', 'shop')).toBeUndefined();
    const install = await loadInstall(kube);
    editRecord(kube, 'shop/reviews', (r) => void (r.originalService = clusterRoleBinding));
    kube.calls.splice(0);

    const e = await refusal(rollbackMigrations(kube, install, ['shop/reviews'], { dnsTimeoutMs: 1000, task }));
    expect(e.problems).toEqual([
      expect.stringMatching(
        /^state ConfigMap istio-system\/acmg-state-shop: record "shop\/reviews": originalService\.apiVersion is "rbac\.authorization\.k8s\.io\/v1", not "v1"/,
      ),
      expect.stringMatching(
        /^state ConfigMap istio-system\/acmg-state-shop: record "shop\/reviews": originalService\.kind is "ClusterRoleBinding", not "Service"/,
      ),
    ]);
    expect(kube.writes()).toEqual([]);
    expect(kube.peek('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', 'reviews')).toBeUndefined();
    // The commands find the install record in the same read: they refuse before a use case starts.
    await refusal(loadInstall(kube));
    await refusal(planUninstall(kube, { purge: true }));
    expect(kube.writes()).toEqual([]);
  });
});
