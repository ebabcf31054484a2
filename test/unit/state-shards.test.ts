// acmg's sharded state through the KubeApi seam: one ConfigMap per namespace of migrations, written
// only where something changed, guarded by resourceVersion; state from before sharding is read and
// moved forward by the first run that changes migrations.
import { deleteState, readState, stateFingerprint, updateState } from '../../src/kube/state.js';
import type { MigrationRecord } from '../../src/model/state.js';
import { MemoryKube } from './memory-kube.js';

const NS = 'istio-system';
const rec = (namespace: string, service: string): MigrationRecord => ({
  namespace,
  service,
  approach: 'keep-service',
  fqdn: `${service}.${namespace}.svc.cluster.local`,
  ports: [{ name: 'http', port: 80, protocol: 'HTTP' }],
  journal: ['gateway-ports'],
  phase: 'in-progress',
  migratedAt: '2026-01-01T00:00:00Z',
});
const add = (kube: MemoryKube, ...recs: MigrationRecord[]) =>
  updateState(kube, NS, (st) => {
    for (const r of recs) st.migrations[`${r.namespace}/${r.service}`] = r;
  });

test('migrations land in one shard per namespace; a change to one namespace writes only its shard', async () => {
  const kube = new MemoryKube();
  await add(kube, rec('shop', 'reviews'), rec('shop', 'ratings'), rec('web', 'frontend'));
  expect(kube.writes().sort()).toEqual(['create ConfigMap istio-system/acmg-state-shop', 'create ConfigMap istio-system/acmg-state-web']);
  kube.calls.splice(0);
  await updateState(kube, NS, (st) => void st.migrations['web/frontend']!.journal.push('route'));
  expect(kube.writes()).toEqual(['replace ConfigMap istio-system/acmg-state-web']);
  expect(Object.keys((await readState(kube, NS)).migrations).sort()).toEqual(['shop/ratings', 'shop/reviews', 'web/frontend']);
});

test('concurrent runs on different namespaces never conflict; on the same one the loser retries and both records stay', async () => {
  const kube = new MemoryKube();
  await add(kube, rec('shop', 'reviews'), rec('web', 'frontend'));
  // Run B writes shop's shard while run A is between its read and its write.
  let interleaved = false;
  kube.failWhen = (call) => {
    if (!interleaved && call.verb === 'replace' && call.name === 'acmg-state-shop') {
      interleaved = true;
      const shard = kube.peek('v1', 'ConfigMap', 'acmg-state-shop', NS)!;
      kube.seed({ ...shard, data: { migrations: JSON.stringify({ ...JSON.parse(shard.data.migrations), 'shop/ratings': rec('shop', 'ratings') }) } });
    }
    return undefined;
  };
  kube.calls.splice(0);
  await updateState(kube, NS, (st) => {
    st.migrations['shop/details'] = rec('shop', 'details');
  });
  expect(interleaved).toBe(true);
  expect(Object.keys((await readState(kube, NS)).migrations).sort()).toEqual(['shop/details', 'shop/ratings', 'shop/reviews', 'web/frontend']);
  // The first attempt failed on the resourceVersion, the retry won; web's shard was never written.
  expect(kube.calls.filter((c) => c.verb === 'replace' && c.name === 'acmg-state-shop')).toHaveLength(2);
  expect(kube.writes().some((w) => w.includes('acmg-state-web'))).toBe(false);
});

test('state written before sharding is read as is, kept by writes that do not touch migrations, moved by the first that does', async () => {
  const kube = new MemoryKube();
  const legacy = { 'shop/reviews': rec('shop', 'reviews'), 'web/frontend': rec('web', 'frontend') };
  kube.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'acmg-state', namespace: NS }, data: { migrations: JSON.stringify(legacy) } });
  expect((await readState(kube, NS)).migrations).toEqual(legacy);
  // sync's record only (what the controller writes, with its narrow RBAC): no shard is created.
  await updateState(kube, NS, (st) => void (st.synced = { ports: [], syncedAt: 'now' }));
  expect(kube.writes()).toEqual(['replace ConfigMap istio-system/acmg-state']);
  expect(JSON.parse(kube.peek('v1', 'ConfigMap', 'acmg-state', NS)!.data.migrations)).toEqual(legacy);
  kube.calls.splice(0);
  await updateState(kube, NS, (st) => void st.migrations['shop/reviews']!.journal.push('route'));
  expect(kube.writes().sort()).toEqual([
    'create ConfigMap istio-system/acmg-state-shop',
    'create ConfigMap istio-system/acmg-state-web',
    'replace ConfigMap istio-system/acmg-state',
  ]);
  expect(kube.peek('v1', 'ConfigMap', 'acmg-state', NS)!.data.migrations).toBeUndefined();
  const st = await readState(kube, NS);
  expect(Object.keys(st.migrations).sort()).toEqual(['shop/reviews', 'web/frontend']);
  expect(st.migrations['shop/reviews']!.journal).toEqual(['gateway-ports', 'route']);
});

test('deleteState removes the main ConfigMap and every shard', async () => {
  const kube = new MemoryKube();
  await updateState(kube, NS, (st) => void (st.synced = { ports: [], syncedAt: 'now' }));
  await add(kube, rec('shop', 'reviews'), rec('web', 'frontend'));
  expect(await deleteState(kube, NS)).toBe(true);
  expect((await kube.list('v1', 'ConfigMap', { namespace: NS })).items).toEqual([]);
});

test('a scoped update reads and writes only its namespaces; the fingerprint sees every shard', async () => {
  const kube = new MemoryKube();
  await add(kube, rec('shop', 'reviews'), rec('web', 'frontend'));
  const before = await stateFingerprint(kube, NS);
  kube.calls.splice(0);
  await updateState(kube, NS, (st) => void st.migrations['web/frontend']!.journal.push('dns'), { namespaces: ['web'] });
  expect(kube.calls.map((c) => `${c.verb} ${c.name ?? ''}`)).toEqual(['get acmg-state', 'get acmg-state-web', 'replace acmg-state-web']);
  expect(await stateFingerprint(kube, NS)).not.toBe(before);
});

test('a scoped update over state from before sharding sees all of it, so nothing is lost when it moves', async () => {
  const kube = new MemoryKube();
  const legacy = { 'shop/reviews': rec('shop', 'reviews'), 'web/frontend': rec('web', 'frontend') };
  kube.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'acmg-state', namespace: NS }, data: { migrations: JSON.stringify(legacy) } });
  await updateState(kube, NS, (st) => void st.migrations['web/frontend']!.journal.push('route'), { namespaces: ['web'] });
  const st = await readState(kube, NS);
  expect(Object.keys(st.migrations).sort()).toEqual(['shop/reviews', 'web/frontend']);
  expect(kube.peek('v1', 'ConfigMap', 'acmg-state-shop', NS)).toBeDefined();
});

test('when the API server fails both reads, the error comes back once and nothing is left unhandled (acmg would crash)', async () => {
  const kube = new MemoryKube();
  kube.failWhen = (call) => (call.verb === 'get' || call.verb === 'list' ? new Error(`${call.verb} failed`) : undefined);
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    await expect(readState(kube, NS)).rejects.toThrow(/get failed/);
    await new Promise((r) => setTimeout(r, 50));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
