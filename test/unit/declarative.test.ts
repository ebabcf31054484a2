// Declarative migrations (controller.declarative.enabled): the controller's pass through the KubeApi
// seam, driving the CLI's own migrate and rollback use cases from marks (acmg.io/migrate) on
// Services and Namespaces; the pure decision; and the controller's RBAC, checked against every call
// the pass made. test/e2e/declarative.test.ts proves the same on the real components.
import { readFileSync } from 'node:fs';
import { jest } from '@jest/globals';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { readDeclarativeStatus } from '../../src/kube/declarative-status.js';
import { ApiError } from '../../src/kube/api.js';
import { readState, updateState } from '../../src/kube/state.js';
import type { KObject } from '../../src/model/object.js';
import type { MigrationRecord } from '../../src/model/state.js';
import { migrationRecordProblems } from '../../src/model/state-validate.js';
import { runController } from '../../src/ops/controller.js';
import { declarativePass } from '../../src/ops/declarative.js';
import { applyMigration, planMigration } from '../../src/ops/migrate/index.js';
import { collectStatus } from '../../src/ops/status.js';
import { rollbackMigrations } from '../../src/ops/rollback.js';
import { silentTask, type Task } from '../../src/ops/task.js';
import {
  DECLARATIVE_BACKOFF_MAX_MS,
  decideDeclarative,
  declarativeBackoff,
  nextDeclarativeStatus,
  nextRetryIn,
  projectNamespace,
  withMark,
} from '../../src/plan/declarative.js';
import { projectService } from '../../src/plan/sync.js';
import { resolveValues } from '../../src/profile/load.js';
import { renderManifests } from '../../src/render/index.js';
import { type Call, MemoryKube, recordInstall } from './memory-kube.js';

const MARK = 'acmg.io/migrate';
/** The label an admin sets on a Namespace whose marks the controller honours. */
const ALLOWED = { 'acmg.io/declarative': 'enabled' };
/** A Namespace; allowed (ALLOWED) unless a test says otherwise with `allowed: false`. */
const NS = (name: string, annotations: Record<string, string> = {}, labels: Record<string, string> = {}, allowed = true): KObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { ...(allowed ? ALLOWED : {}), ...labels }, annotations },
});
const svc = (namespace: string, name: string, extra: { mark?: string; type?: string } = {}): KObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace, labels: { app: name }, ...(extra.mark ? { annotations: { [MARK]: extra.mark } } : {}) },
  spec: { selector: { app: name }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }], ...(extra.type ? { type: extra.type } : {}) },
});

const SETS = ['controller.enabled=true', 'controller.declarative.enabled=true'];

/** acmg (profile minimal, the controller with declarative migrations) installed, kubeadm CoreDNS, namespaces shop and web. */
async function installedCluster(sets = SETS): Promise<MemoryKube> {
  const kube = new MemoryKube();
  const coredns = yaml.load(readFileSync(join(process.cwd(), 'hack/layouts/kubeadm.yaml'), 'utf8')) as KObject;
  const doc = resolveValues({ profile: 'minimal', sets });
  const objects = renderManifests(doc, { clusterDomain: 'cluster.local', version: '0.0.0-test' });
  kube.seed(NS('istio-system'), NS('kube-system'), NS('shop', {}, { 'istio-injection': 'enabled' }), NS('web'), coredns, ...objects);
  await recordInstall(kube, doc.spec, objects);
  kube.calls.splice(0);
  return kube;
}

const T0 = Date.parse('2026-06-01T12:00:00Z');

/** One pass of the controller, from what its caches would hold now. */
async function pass(kube: MemoryKube, now = T0): Promise<string[]> {
  const { install } = { install: (await readState(kube, 'istio-system')).install! };
  const services = (await kube.list('v1', 'Service')).items.map((s) => withMark(projectService(s), s));
  const namespaces = new Map((await kube.list('v1', 'Namespace')).items.map((n) => [n.metadata.name, projectNamespace(n)]));
  return (await declarativePass(kube, install, { services, namespaces, dnsTimeoutMs: 1000, readinessTimeoutMs: 1000, now: () => now })).log;
}

const migrations = async (kube: MemoryKube) => (await readState(kube, 'istio-system')).migrations;
const status = async (kube: MemoryKube) => (await readDeclarativeStatus(kube, 'istio-system')).status;
/** The user edits the mark (as Git would; not a call of the controller's, so not recorded). */
function mark(kube: MemoryKube, kind: 'Service' | 'Namespace', name: string, namespace: string | undefined, value: string | null) {
  const o = kube.peek('v1', kind, name, namespace)!;
  const { [MARK]: _old, ...others } = o.metadata.annotations ?? {};
  kube.seed({ ...o, metadata: { ...o.metadata, annotations: value === null ? others : { ...others, [MARK]: value } } });
}

/** What a migration can write, comparable across two clusters: server fields, times, marks and the declarative status left out. */
async function snapshot(kube: MemoryKube): Promise<unknown[]> {
  const kinds = [
    ['v1', 'Service'],
    ['v1', 'Namespace'],
    ['v1', 'ConfigMap'],
    ['networking.istio.io/v1', 'VirtualService'],
    ['networking.istio.io/v1', 'DestinationRule'],
    ['networking.istio.io/v1', 'Gateway'],
    ['apps/v1', 'Deployment'],
  ] as const;
  const out: unknown[] = [];
  for (const [apiVersion, kind] of kinds)
    for (const o of (await kube.list(apiVersion, kind)).items) {
      if (o.metadata.name === 'acmg-declarative') continue;
      const {
        resourceVersion: _rv,
        uid: _uid,
        creationTimestamp: _ct,
        generation: _g,
        annotations,
        ...meta
      } = o.metadata as KObject['metadata'] & Record<string, unknown>;
      const { [MARK]: _mark, ...kept } = annotations ?? {};
      out.push(JSON.parse(JSON.stringify({ ...o, metadata: { ...meta, annotations: kept } }).replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'TIME')));
    }
  return out;
}

describe('declarative migrations: the controller runs the CLI use cases for marked services', () => {
  test('a marked Service is migrated as `acmg migrate` would, and recorded as the controller’s', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews', { mark: 'keep-service' }), svc('shop', 'ratings'));
    const log = await pass(kube);
    expect(log).toEqual(['declarative: migrated shop/reviews (--keep-service)']);
    const m = await migrations(kube);
    expect(Object.keys(m)).toEqual(['shop/reviews']);
    expect(m['shop/reviews']).toMatchObject({ phase: 'complete', approach: 'keep-service', origin: 'declarative' });
    expect(m['shop/reviews']!.journal).toEqual(['gateway-ports', 'route', 'dns', 'injection-label']);
    expect(kube.peek('v1', 'Namespace', 'shop')!.metadata.labels!['istio-injection']).toBe('disabled');
    expect(await status(kube)).toEqual({});
    // Level-triggered: the next pass has nothing to do and writes nothing.
    kube.calls.splice(0);
    expect(await pass(kube)).toEqual([]);
    expect(kube.writes()).toEqual([]);
  });

  test("a Namespace's mark migrates each of its Services; a Service's own mark wins, `none` keeps it out", async () => {
    const kube = await installedCluster();
    kube.seed(
      NS('shop', { [MARK]: 'replace-service' }, { 'istio-injection': 'enabled' }),
      svc('shop', 'reviews'),
      svc('shop', 'ratings', { mark: 'keep-service' }),
      svc('shop', 'legacy', { mark: 'none' }),
    );
    await pass(kube);
    const m = await migrations(kube);
    expect(Object.keys(m).sort()).toEqual(['shop/ratings', 'shop/reviews']);
    expect(m['shop/reviews']!.approach).toBe('replace-service');
    expect(m['shop/ratings']!.approach).toBe('keep-service');
    // Approach 2 deleted the original; its replacement was not taken for a Service of the namespace to migrate.
    expect(kube.peek('v1', 'Service', 'reviews', 'shop')).toBeUndefined();
    expect(Object.keys(m)).not.toContain('shop/reviews-acmg');
    // The deleted original's recorded mark keeps it wanted: the next pass does nothing.
    kube.calls.splice(0);
    await pass(kube);
    expect(kube.writes()).toEqual([]);
  });

  test('a refused service (NodePort with replace-service) is not migrated, nothing of it is written, status says why; the others of its namespace go', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews', { mark: 'replace-service' }), svc('shop', 'edge', { mark: 'replace-service', type: 'NodePort' }));
    const log = await pass(kube);
    expect(log).toEqual([
      expect.stringMatching(/^declarative: not migrated: shop\/edge refused: shop\/edge is a NodePort Service: --replace-service would delete it/),
      'declarative: migrated shop/reviews (--replace-service)',
    ]);
    expect(Object.keys(await migrations(kube))).toEqual(['shop/reviews']);
    expect(kube.peek('v1', 'Service', 'edge', 'shop')).toBeDefined();
    expect(kube.writes().filter((w) => w.includes('edge'))).toEqual([]);
    // Nothing of it is written: the cluster is as after a pass where edge is not marked (but for the status).
    const without = await installedCluster();
    without.seed(svc('shop', 'reviews', { mark: 'replace-service' }), svc('shop', 'edge', { type: 'NodePort' }));
    await pass(without);
    expect(await snapshot(kube)).toEqual(await snapshot(without));
    const st = await status(kube);
    expect(st).toEqual({
      'shop/edge': {
        want: 'replace-service',
        reason: expect.stringMatching(/^refused: shop\/edge is a NodePort Service.*use --keep-service/),
        attempts: 1,
        retryAt: new Date(T0 + declarativeBackoff(1)).toISOString(),
      },
    });
    // acmg status shows it.
    const report = await collectStatus(kube, 'istio-system');
    expect(report.declarative).toEqual([{ namespace: 'shop', service: 'edge', ...st['shop/edge']! }]);
    expect(report.services).toEqual([expect.objectContaining({ service: 'reviews', origin: 'declarative' })]);

    // Not retried before its time: no plan, no write.
    kube.calls.splice(0);
    await pass(kube, T0 + 1000);
    expect(kube.writes()).toEqual([]);
    expect(kube.calls.filter((c) => c.kind === 'Deployment')).toEqual([]);
    // Retried after it, refused again: the backoff doubles.
    await pass(kube, T0 + declarativeBackoff(1));
    expect((await status(kube))['shop/edge']).toMatchObject({
      attempts: 2,
      retryAt: new Date(T0 + declarativeBackoff(1) + declarativeBackoff(2)).toISOString(),
    });
    // Fixed in Git (keep-service): migrated at its next retry, and the status entry goes.
    mark(kube, 'Service', 'edge', 'shop', 'keep-service');
    await pass(kube, T0 + 60 * 60_000);
    expect((await migrations(kube))['shop/edge']).toMatchObject({ phase: 'complete', approach: 'keep-service', origin: 'declarative' });
    expect(await status(kube)).toEqual({});
  });

  test('acmg status lists both tables in one order (namespace, then service)', async () => {
    const kube = await installedCluster();
    kube.seed(
      NS('shop-x'),
      svc('shop-x', 'a', { mark: 'keep-service' }),
      svc('shop', 'b', { mark: 'keep-service' }),
      svc('shop-x', 'e', { mark: 'replace-service', type: 'NodePort' }),
      svc('shop', 'e', { mark: 'replace-service', type: 'NodePort' }),
    );
    await pass(kube);
    const report = await collectStatus(kube, 'istio-system');
    expect(report.services.map((x) => `${x.namespace}/${x.service}`)).toEqual(['shop/b', 'shop-x/a']);
    expect(report.declarative!.map((x) => `${x.namespace}/${x.service}`)).toEqual(['shop/e', 'shop-x/e']);
  });

  test('a mark that is not understood is reported and never acted on (a declarative migration stays)', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews', { mark: 'keep-service' }));
    await pass(kube);
    mark(kube, 'Service', 'reviews', 'shop', 'keep');
    expect(await pass(kube)).toEqual([]);
    expect((await migrations(kube))['shop/reviews']!.phase).toBe('complete');
    expect(await status(kube)).toEqual({
      'shop/reviews': { reason: 'acmg.io/migrate is "keep"; expected keep-service, replace-service or none', attempts: 0 },
    });
  });

  test('removing the mark rolls the service back with the rollback use case (approach 2: the original comes back)', async () => {
    const kube = await installedCluster();
    kube.seed(NS('shop', { [MARK]: 'replace-service' }, { 'istio-injection': 'enabled' }), svc('shop', 'reviews'));
    await pass(kube);
    expect(kube.peek('v1', 'Service', 'reviews', 'shop')).toBeUndefined();
    mark(kube, 'Namespace', 'shop', undefined, null);
    expect(await pass(kube)).toEqual(['declarative: rolled back shop/reviews (the mark was removed)']);
    expect(await migrations(kube)).toEqual({});
    expect(kube.peek('v1', 'Service', 'reviews', 'shop')).toBeDefined();
    expect(kube.peek('v1', 'Service', 'reviews-acmg', 'shop')).toBeUndefined();
    expect(kube.peek('v1', 'Namespace', 'shop')!.metadata.labels!['istio-injection']).toBe('enabled');
    expect(await status(kube)).toEqual({});
  });

  test('a pass while `acmg rollback` undoes a still-marked declarative migration leaves it to that run (injection restored, then migrated again)', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews', { mark: 'keep-service' }));
    await pass(kube);
    const install = (await readState(kube, 'istio-system')).install!;
    // The controller's reconcile (the rolling-back write triggers one) runs between two of the rollback's phases.
    let during: string[] | undefined;
    const task: Task = (async (title: string, fn: Parameters<Task>[1]) => {
      if (!during && title.startsWith('remove DNS')) during = await pass(kube);
      return silentTask(title, fn);
    }) as Task;
    await rollbackMigrations(kube, install, ['shop/reviews'], { task, dnsTimeoutMs: 1000 });
    expect(during).toEqual([]);
    expect(await migrations(kube)).toEqual({});
    expect(kube.peek('v1', 'Namespace', 'shop')!.metadata.labels!['istio-injection']).toBe('enabled');
    // Still marked: the next pass migrates it again, with the label the namespace really had.
    await pass(kube);
    expect((await migrations(kube))['shop/reviews']).toMatchObject({ phase: 'complete', previousInjection: 'enabled' });
  });

  test("each namespace is rolled back on its own: one that fails holds back no other's; a deleted namespace's migrations are forgotten", async () => {
    const kube = await installedCluster();
    kube.seed(
      NS('api', {}, { 'istio-injection': 'enabled' }),
      NS('gone', { [MARK]: 'replace-service' }, { 'istio-injection': 'enabled' }),
      svc('shop', 'reviews', { mark: 'keep-service' }),
      svc('web', 'frontend', { mark: 'keep-service' }),
      svc('api', 'orders', { mark: 'keep-service' }),
      svc('gone', 'cart'),
    );
    await pass(kube);
    expect(Object.keys(await migrations(kube)).sort()).toEqual(['api/orders', 'gone/cart', 'shop/reviews', 'web/frontend']);
    // Namespaces shop and gone are deleted (their Services with them: creating one there is refused); api's label cannot be restored now.
    for (const [kind, name, namespace] of [
      ['Service', 'reviews', 'shop'],
      ['Service', 'cart-acmg', 'gone'],
      ['Namespace', 'shop', undefined],
      ['Namespace', 'gone', undefined],
    ] as const)
      await kube.delete('v1', kind, name, namespace);
    mark(kube, 'Service', 'frontend', 'web', null);
    mark(kube, 'Service', 'orders', 'api', null);
    kube.failWhen = (c) =>
      c.verb === 'create' && (c.namespace === 'shop' || c.namespace === 'gone')
        ? new ApiError(404, 'NotFound', `namespaces "${c.namespace}" not found`, 'POST', 'Service')
        : c.verb === 'patch' && c.kind === 'Namespace' && c.name === 'api'
          ? new ApiError(500, 'InternalError', 'etcd leader changed', 'PATCH', 'Namespace')
          : undefined;
    const log = await pass(kube, T0 + 1000);
    expect(log).toEqual([
      expect.stringMatching(/^declarative: not rolled back: api\/orders failed: .*etcd leader changed/),
      'declarative: rolled back gone/cart (the mark was removed)',
      'declarative: rolled back shop/reviews (the mark was removed)',
      'declarative: rolled back web/frontend (the mark was removed)',
    ]);
    expect(Object.keys(await migrations(kube))).toEqual(['api/orders']);
    expect(kube.peek('v1', 'Namespace', 'api')!.metadata.labels!['istio-injection']).toBe('disabled');
    expect((await status(kube))['api/orders']).toMatchObject({ want: 'rollback', attempts: 1 });
  });

  test('a migration that became the CLI’s after the pass decided is not rolled back by it, and a plan made before the CLI migrated is refused at its record step', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews', { mark: 'keep-service' }), svc('web', 'frontend', { mark: 'keep-service' }));
    await pass(kube);
    mark(kube, 'Service', 'reviews', 'shop', null);
    mark(kube, 'Service', 'frontend', 'web', null);
    kube.seed(svc('web', 'slow', { mark: 'keep-service' }));
    // While the pass migrates web/slow, shop/reviews becomes the CLI's (its origin dropped, as a CLI re-migration would record it).
    let changed: Promise<unknown> | undefined;
    kube.failWhen = (c) => {
      if (!changed && c.verb === 'apply' && c.kind === 'VirtualService' && c.name?.includes('slow'))
        changed = updateState(kube, 'istio-system', (st) => void delete st.migrations['shop/reviews']!.origin, { namespaces: ['shop'] });
      return undefined;
    };
    const log = await pass(kube, T0 + 3600_000);
    await changed;
    expect(log).toContain('declarative: rolled back web/frontend (the mark was removed)');
    expect((await migrations(kube))['shop/reviews']).toMatchObject({ phase: 'complete' });
    expect((await migrations(kube))['shop/reviews']!.origin).toBeUndefined();

    // The migrate side: the controller planned web/api, then `acmg migrate` migrated it before the plan ran.
    kube.failWhen = undefined;
    kube.seed(svc('web', 'api'));
    const plan = await planMigration(kube, { services: ['api'], namespace: 'web' }, { approach: 'keep-service', origin: 'declarative' });
    const cli = await planMigration(kube, { services: ['api'], namespace: 'web' }, { approach: 'keep-service' });
    const rt = { task: silentTask, dnsTimeoutMs: 1000, readinessTimeoutMs: 1000 };
    await applyMigration(kube, cli, rt);
    await expect(applyMigration(kube, plan, rt)).rejects.toMatchObject({ problems: [expect.stringMatching(/web\/api was migrated by acmg migrate/)] });
    expect((await migrations(kube))['web/api']).toMatchObject({ phase: 'complete' });
    expect((await migrations(kube))['web/api']!.origin).toBeUndefined();
  });

  test('replace-service marked on the Service: `none` on acmg’s replacement rolls it back, and a rollback (the controller’s or the CLI’s) restores the original without the mark', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews', { mark: 'replace-service' }), svc('shop', 'ratings', { mark: 'replace-service' }));
    await pass(kube);
    expect(kube.peek('v1', 'Service', 'reviews', 'shop')).toBeUndefined();
    // The original is gone, so the user marks what is there: acmg's replacement.
    mark(kube, 'Service', 'reviews-acmg', 'shop', 'none');
    expect(await pass(kube, T0 + 1000)).toEqual(['declarative: rolled back shop/reviews (the mark was removed)']);
    expect(kube.peek('v1', 'Service', 'reviews', 'shop')!.metadata.annotations?.[MARK]).toBeUndefined();
    // `acmg rollback` of the other: its original comes back unmarked too, so the controller does not migrate it again.
    const install = (await readState(kube, 'istio-system')).install!;
    await rollbackMigrations(kube, install, ['shop/ratings'], { task: silentTask, dnsTimeoutMs: 1000 });
    expect(kube.peek('v1', 'Service', 'ratings', 'shop')!.metadata.annotations?.[MARK]).toBeUndefined();
    kube.calls.splice(0);
    expect(await pass(kube, T0 + 2000)).toEqual([]);
    expect(kube.writes()).toEqual([]);
    expect(await migrations(kube)).toEqual({});
  });

  test('a mark changed to the other approach rolls the migration back at once and migrates it at the next pass', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews', { mark: 'keep-service' }));
    await pass(kube);
    mark(kube, 'Service', 'reviews', 'shop', 'replace-service');
    expect(await pass(kube, T0 + 1000)).toEqual(['declarative: rolled back shop/reviews (the mark asks for the other approach: migrated at the next pass)']);
    expect(await migrations(kube)).toEqual({});
    expect(await pass(kube, T0 + 2000)).toEqual(['declarative: migrated shop/reviews (--replace-service)']);
    expect((await migrations(kube))['shop/reviews']).toMatchObject({ phase: 'complete', approach: 'replace-service', origin: 'declarative' });
    expect(await status(kube)).toEqual({});
  });

  test('a mark fixed after refusals is tried at once, not after the old backoff', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'edge', { mark: 'replace-service', type: 'NodePort' }));
    await pass(kube);
    await pass(kube, T0 + declarativeBackoff(1));
    expect((await status(kube))['shop/edge']).toMatchObject({ want: 'replace-service', attempts: 2 });
    mark(kube, 'Service', 'edge', 'shop', 'keep-service');
    await pass(kube, T0 + declarativeBackoff(1) + 1000);
    expect((await migrations(kube))['shop/edge']).toMatchObject({ phase: 'complete', approach: 'keep-service' });
    expect(await status(kube)).toEqual({});
  });

  test('a group that fails (not a refusal) is tried again service by service: one failing service holds back no other', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews', { mark: 'keep-service' }), svc('shop', 'bad', { mark: 'keep-service' }));
    kube.failWhen = (c) =>
      c.verb === 'apply' && c.kind === 'VirtualService' && c.name?.includes('bad')
        ? new ApiError(500, 'InternalError', 'webhook timed out', 'PATCH', 'VirtualService')
        : undefined;
    const log = await pass(kube);
    expect(log).toEqual([
      expect.stringMatching(/^declarative: not migrated: shop\/bad failed: .*webhook timed out/),
      'declarative: migrated shop/reviews (--keep-service)',
    ]);
    expect(Object.keys(await migrations(kube))).toEqual(['shop/reviews']);
    expect(Object.keys(await status(kube))).toEqual(['shop/bad']);
  });

  test('with migration.restart, a declarative rollback restarts the Deployments of a namespace whose injection it restored, as its migration did', async () => {
    const kube = await installedCluster([...SETS, 'migration.restart=true']);
    kube.seed(
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'reviews', namespace: 'shop' }, spec: { replicas: 1, template: { metadata: {} } } },
      svc('shop', 'reviews', { mark: 'keep-service' }),
    );
    await pass(kube);
    mark(kube, 'Service', 'reviews', 'shop', null);
    kube.calls.splice(0);
    expect(await pass(kube, T0 + 1000)).toEqual(['declarative: rolled back shop/reviews (the mark was removed)']);
    expect(kube.calls.filter((c) => c.kind === 'Deployment' && c.verb === 'patch' && c.namespace === 'shop')).toHaveLength(1);
  });

  test('a CLI migration is never touched: not rolled back without a mark, not re-planned with one', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews'), svc('web', 'frontend', { mark: 'replace-service' }));
    for (const [namespace, name] of [
      ['shop', 'reviews'],
      ['web', 'frontend'],
    ] as const) {
      const plan = await planMigration(kube, { services: [name], namespace }, { approach: 'keep-service' });
      await applyMigration(kube, plan, { task: silentTask, dnsTimeoutMs: 1000, readinessTimeoutMs: 1000 });
    }
    const before = await migrations(kube);
    expect(Object.values(before).map((m: MigrationRecord) => m.origin)).toEqual([undefined, undefined]);
    kube.calls.splice(0);
    expect(await pass(kube)).toEqual([]);
    expect(kube.writes()).toEqual([]);
    expect(await migrations(kube)).toEqual(before);
  });
});

describe('the decision (pure)', () => {
  const rec = (service: string, extra: Partial<MigrationRecord> = {}): MigrationRecord => ({
    namespace: 'shop',
    service,
    approach: 'keep-service',
    fqdn: `${service}.shop.svc.cluster.local`,
    ports: [],
    journal: [],
    phase: 'complete',
    migratedAt: 'x',
    ...extra,
  });
  // The services' namespaces, allowed, unless the test names them.
  const view = (services: KObject[], migrations: MigrationRecord[], namespaces: KObject[] = []) => ({
    services: services.map((s) => withMark(projectService(s), s)),
    namespaces: new Map(
      [...services.map((s) => NS(s.metadata.namespace!)), ...namespaces].map((n) => [n.metadata.name, projectNamespace(n)] as [string, KObject]),
    ),
    migrations,
    excluded: new Set(['kube-system', 'istio-system']),
  });

  test('groups by namespace and approach; a Namespace mark skips acmg’s own Services and the excluded namespaces', () => {
    const replacement = { ...svc('shop', 'a-acmg'), metadata: { ...svc('shop', 'a-acmg').metadata, labels: { 'app.kubernetes.io/managed-by': 'acmg' } } };
    const d = decideDeclarative(
      view(
        [svc('shop', 'b'), svc('shop', 'a'), replacement, svc('web', 'x', { mark: 'replace-service' }), svc('istio-system', 'gw')],
        [],
        [NS('shop', { [MARK]: 'keep-service' }), NS('istio-system', { [MARK]: 'keep-service' })],
      ),
      {},
      T0,
    );
    expect(d.migrate).toEqual([
      { namespace: 'shop', approach: 'keep-service', services: ['a', 'b'] },
      { namespace: 'web', approach: 'replace-service', services: ['x'] },
    ]);
    expect(d.rollback).toEqual([]);
  });

  test('rolls back only its own migrations whose mark is gone', () => {
    const d = decideDeclarative(view([svc('shop', 'mine'), svc('shop', 'cli')], [rec('mine', { origin: 'declarative' }), rec('cli')]), {}, T0);
    expect(d.rollback).toEqual(['shop/mine']);
    expect(d.migrate).toEqual([]);
  });

  test('a record another run is changing (rolling-back: acmg rollback or uninstall --purge; in-progress) is neither migrated nor rolled back, and the status says so', () => {
    const d = decideDeclarative(
      view(
        [svc('shop', 'a', { mark: 'keep-service' }), svc('shop', 'b'), svc('shop', 'c', { mark: 'keep-service' }), svc('shop', 'd')],
        [
          rec('a', { origin: 'declarative', phase: 'rolling-back' }),
          rec('b', { origin: 'declarative', phase: 'rolling-back' }),
          rec('c', { origin: 'declarative', phase: 'in-progress' }),
          rec('d', { origin: 'declarative', phase: 'in-progress' }),
        ],
      ),
      {},
      T0,
    );
    expect(d.migrate).toEqual([]);
    expect(d.rollback).toEqual([]);
    const s = nextDeclarativeStatus({}, d, new Map(), T0);
    expect(s['shop/a']).toEqual({ reason: 'rolling back (another run)', attempts: 0, held: true });
    expect(s['shop/b']).toEqual({ reason: 'rolling back (another run)', attempts: 0, held: true });
    expect(s['shop/c']!.reason).toMatch(/^in progress \(another run/);
    expect(s['shop/d']!.reason).toMatch(/^in progress \(another run/);
  });

  test('marks count only in Namespaces an admin allowed (acmg.io/declarative=enabled); a Service mark reaches no excluded namespace, default/kubernetes or Service acmg made; those are ignored, not retried', () => {
    const labelled = (s: KObject, labels: Record<string, string>) => ({ ...s, metadata: { ...s.metadata, labels: { ...s.metadata.labels, ...labels } } });
    const d = decideDeclarative(
      view(
        [
          svc('tenant', 'a', { mark: 'keep-service' }),
          svc('team', 'b'),
          svc('default', 'kubernetes', { mark: 'keep-service' }),
          svc('istio-system', 'gw', { mark: 'keep-service' }),
          labelled(svc('shop', 'x-acmg', { mark: 'keep-service' }), { 'acmg.io/replaces': 'x' }),
          labelled(svc('shop', 'door', { mark: 'keep-service' }), { 'app.kubernetes.io/managed-by': 'acmg' }),
          svc('shop', 'ok', { mark: 'keep-service' }),
        ],
        [],
        [NS('tenant', {}, {}, false), NS('team', { [MARK]: 'keep-service' }, {}, false), NS('default'), NS('istio-system')],
      ),
      {},
      T0,
    );
    expect(d.migrate).toEqual([{ namespace: 'shop', approach: 'keep-service', services: ['ok'] }]);
    expect([...d.pending]).toEqual(['shop/ok']);
    expect(nextDeclarativeStatus({}, d, new Map(), T0)).toEqual({});
  });

  test('a retry time further off than the longest backoff (a clock that was ahead) waits no longer than that', () => {
    const far = { want: 'keep-service' as const, reason: 'refused: x', attempts: 3, retryAt: new Date(T0 + 24 * 3600_000).toISOString() };
    const d = decideDeclarative(view([svc('shop', 'a', { mark: 'keep-service' })], []), { 'shop/a': far }, T0);
    expect(d.migrate).toEqual([{ namespace: 'shop', approach: 'keep-service', services: ['a'] }]);
    expect(nextRetryIn({ 'shop/a': far }, T0)).toBe(DECLARATIVE_BACKOFF_MAX_MS);
  });

  test("a record's origin is declarative or absent (state validation)", () => {
    expect(migrationRecordProblems('shop/a', { ...rec('a'), origin: 'declarative' })).toEqual([]);
    expect(migrationRecordProblems('shop/a', { ...rec('a'), origin: 'cli' })).toEqual(['origin is "cli"; expected "declarative" or nothing']);
  });

  test('the status keeps failures with a doubling backoff and drops what succeeded or is no longer pending', () => {
    const d = decideDeclarative(view([svc('shop', 'a', { mark: 'keep-service' }), svc('shop', 'b', { mark: 'keep-service' })], []), {}, T0);
    const failed = new Map([['shop/a', { want: 'keep-service' as const, reason: 'refused: x' }]]);
    const s1 = nextDeclarativeStatus({ 'shop/gone': { want: 'keep-service', reason: 'r', attempts: 3, retryAt: 'z' } }, d, failed, T0);
    expect(s1).toEqual({ 'shop/a': { want: 'keep-service', reason: 'refused: x', attempts: 1, retryAt: new Date(T0 + 30_000).toISOString() } });
    // The controller passes again when the earliest retry is due (none: only on changes and resyncs).
    expect(nextRetryIn(s1, T0 + 10_000)).toBe(20_000);
    expect(nextRetryIn(s1, T0 + 40_000)).toBe(0);
    expect(nextRetryIn({}, T0)).toBeUndefined();
    expect(declarativeBackoff(2)).toBe(60_000);
    expect(declarativeBackoff(100)).toBe(10 * 60_000);
  });
});

/** RBAC as the API server names a call: the group (from the call's apiVersion: a Gateway is Istio's or the Gateway API's) and the plural. */
const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');
const RESOURCES: Record<string, string> = {
  'v1/Service': 'services',
  'v1/Namespace': 'namespaces',
  'v1/ConfigMap': 'configmaps',
  'v1/Pod': 'pods',
  'v1/Event': 'events',
  'apps/v1/Deployment': 'deployments',
  'discovery.k8s.io/v1/EndpointSlice': 'endpointslices',
  'networking.istio.io/v1/VirtualService': 'virtualservices',
  'networking.istio.io/v1/DestinationRule': 'destinationrules',
  'networking.istio.io/v1/Gateway': 'gateways',
  'gateway.networking.k8s.io/v1/Gateway': 'gateways',
  'gateway.networking.k8s.io/v1/HTTPRoute': 'httproutes',
  'gateway.networking.k8s.io/v1/TCPRoute': 'tcproutes',
  'gateway.networking.k8s.io/v1/GRPCRoute': 'grpcroutes',
  'gateway.networking.k8s.io/v1/TLSRoute': 'tlsroutes',
  'security.istio.io/v1/AuthorizationPolicy': 'authorizationpolicies',
  'security.istio.io/v1/PeerAuthentication': 'peerauthentications',
  'security.istio.io/v1/RequestAuthentication': 'requestauthentications',
};
const VERBS: Record<Call['verb'], string[]> = {
  get: ['get'],
  list: ['list'],
  watch: ['watch'],
  apply: ['create', 'patch'], // server-side apply: patch, and create where the object is new
  create: ['create'],
  replace: ['update'],
  patch: ['patch'],
  delete: ['delete'],
};
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

function denied(objects: KObject[], calls: Call[]): string[] {
  const roles = objects.filter((o) => (o.kind === 'ClusterRole' || o.kind === 'Role') && o.metadata.name.startsWith('acmg-controller'));
  const rulesFor = (namespace?: string) =>
    roles.filter((r) => r.kind === 'ClusterRole' || (namespace !== undefined && r.metadata.namespace === namespace)).flatMap((r) => r.rules as Rule[]);
  const out = new Set<string>();
  for (const c of calls) {
    const group = groupOf(c.apiVersion);
    const resource = RESOURCES[`${c.apiVersion}/${c.kind}`] ?? `? ${c.apiVersion}/${c.kind}`;
    for (const verb of VERBS[c.verb]) {
      const ok = rulesFor(c.namespace).some(
        (r) =>
          r.apiGroups.includes(group) &&
          r.resources.includes(resource) &&
          r.verbs.includes(verb) &&
          (!r.resourceNames || (c.name !== undefined && r.resourceNames.includes(c.name))),
      );
      if (!ok) out.add(`${verb} ${resource}${c.namespace ? ` in ${c.namespace}` : ''}${c.name ? ` (${c.name})` : ''}`);
    }
  }
  return [...out].sort();
}

describe("the controller's RBAC for declarative migrations", () => {
  test('covers every call of migrate, refusal, rollback and status (both approaches); without the value, those verbs are not granted', async () => {
    const kube = await installedCluster();
    kube.seed(
      NS('shop', { [MARK]: 'replace-service' }, { 'istio-injection': 'enabled' }),
      svc('shop', 'reviews'),
      svc('shop', 'edge', { type: 'NodePort' }),
      svc('web', 'frontend', { mark: 'keep-service' }),
    );
    await pass(kube);
    mark(kube, 'Namespace', 'shop', undefined, null);
    mark(kube, 'Service', 'frontend', 'web', null);
    await pass(kube, T0 + 60 * 60_000);
    expect(await migrations(kube)).toEqual({});
    const render = (sets: string[]) => renderManifests(resolveValues({ profile: 'minimal', sets }), { clusterDomain: 'cluster.local', version: 't' });
    // Every call of both passes (the marks are the user's edits, not recorded).
    const controllers = kube.calls;
    expect(denied(render(SETS), controllers)).toEqual([]);
    expect(denied(render(['controller.enabled=true']), controllers)).toEqual(
      expect.arrayContaining(['create services in shop (reviews)', 'delete services in shop (reviews)', 'patch namespaces (shop)']),
    );
  });

  test('with the Gateway API: every call of migrate and rollback is granted, and no delete of VirtualServices (its rollback deletes none)', async () => {
    const sets = [...SETS, 'routing.api=gateway-api'];
    const kube = await installedCluster(sets);
    kube.seed(svc('shop', 'reviews', { mark: 'replace-service' }), svc('web', 'frontend', { mark: 'keep-service' }));
    expect(await pass(kube)).toEqual(['declarative: migrated shop/reviews (--replace-service)', 'declarative: migrated web/frontend (--keep-service)']);
    mark(kube, 'Service', 'reviews-acmg', 'shop', 'none');
    mark(kube, 'Service', 'frontend', 'web', null);
    await pass(kube, T0 + 1000);
    expect(await migrations(kube)).toEqual({});
    const rendered = renderManifests(resolveValues({ profile: 'minimal', sets }), { clusterDomain: 'cluster.local', version: 't' });
    expect(denied(rendered, kube.calls)).toEqual([]);
    expect(kube.calls.filter((c) => c.kind === 'VirtualService' && c.verb === 'delete')).toEqual([]);
    const rules = rendered.filter((o) => o.kind === 'ClusterRole' && o.metadata.name.startsWith('acmg-controller')).flatMap((r) => r.rules as Rule[]);
    expect(rules.filter((r) => r.resources.includes('virtualservices') && r.verbs.includes('delete'))).toEqual([]);
  });

  test('off (the default), the rendered RBAC is unchanged', () => {
    const rbac = (sets: string[]) =>
      renderManifests(resolveValues({ profile: 'minimal', sets }), { clusterDomain: 'cluster.local', version: 't' }).filter((o) => /Role/.test(o.kind));
    expect(rbac(['controller.enabled=true', 'controller.declarative.enabled=false'])).toEqual(rbac(['controller.enabled=true']));
    expect(JSON.stringify(rbac(SETS))).not.toEqual(JSON.stringify(rbac(['controller.enabled=true'])));
  });
});

const controllerOptions = (logs: string[], signal: AbortSignal, leaderElect = true) => ({
  resyncMs: 60_000,
  debounceMs: 10,
  maxDelayMs: 50,
  healthPort: 0,
  leaderElect,
  identity: 'test',
  unhealthyAfterMs: 60_000,
  log: (m: string) => logs.push(m),
  signal,
});

describe('the controller (acmg sync --watch) runs the pass after its reconcile', () => {
  test('without --leader-elect (acmg sync --watch by hand) it runs no pass, and says so once', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews', { mark: 'keep-service' }));
    kube.watchHook = () => new Promise((r) => setTimeout(r, 20));
    const logs: string[] = [];
    const ac = new AbortController();
    const run = runController(kube, controllerOptions(logs, ac.signal, false));
    try {
      await until(() => logs.filter((l) => l.startsWith('reconciled') || l.includes('--leader-elect')).length >= 1);
      mark(kube, 'Service', 'reviews', 'shop', 'replace-service');
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      ac.abort();
      await run;
    }
    expect(await migrations(kube)).toEqual({});
    expect(logs.filter((l) => l.includes('--leader-elect'))).toEqual([
      'declarative migrations run only with --leader-elect (the rendered controller has it): this one does not run them',
    ]);
  }, 20_000);

  test('a refused service is tried again when its backoff ends, with no watch event (a timer from its retry time)', async () => {
    jest.useFakeTimers({ advanceTimers: true, now: T0, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const kube = await installedCluster();
    kube.seed(svc('shop', 'edge', { mark: 'replace-service', type: 'NodePort' }));
    // Watches replay what changed, then are opened again; once quiet, they stay open and deliver nothing.
    let quiet = false;
    kube.watchHook = (opts) =>
      quiet ? new Promise((r) => opts.signal?.addEventListener('abort', () => r(), { once: true })) : new Promise((r) => setTimeout(r, 20));
    const logs: string[] = [];
    const ac = new AbortController();
    const run = runController(kube, controllerOptions(logs, ac.signal));
    try {
      await until(async () => (await status(kube))['shop/edge']?.attempts === 1);
      quiet = true;
      await new Promise((r) => setTimeout(r, 200));
      expect((await status(kube))['shop/edge']!.attempts).toBe(1);
      // A second at a time, so the Lease is renewed on the way (a jump would lose it, and the new lead would reconcile).
      for (let t = 0; t < declarativeBackoff(1); t += 1000) {
        jest.advanceTimersByTime(1000);
        await new Promise((r) => setImmediate(r));
      }
      // No watch has delivered anything since quiet (each waits for its signal): the retry timer did it.
      await until(async () => (await status(kube))['shop/edge']?.attempts === 2);
      expect(logs.filter((l) => l.includes('lease'))).toEqual(['became the leader (lease istio-system/acmg-controller)']);
    } finally {
      ac.abort();
      await run;
      jest.useRealTimers();
    }
  }, 20_000);

  test('a replica that loses the Lease mid-pass stops before its next migration or rollback, and writes no status', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews', { mark: 'keep-service' }), svc('web', 'frontend', { mark: 'replace-service', type: 'NodePort' }));
    const install = (await readState(kube, 'istio-system')).install!;
    const services = (await kube.list('v1', 'Service')).items.map((s) => withMark(projectService(s), s));
    const namespaces = new Map((await kube.list('v1', 'Namespace')).items.map((n) => [n.metadata.name, projectNamespace(n)]));
    let asked = 0;
    const r = await declarativePass(kube, install, {
      services,
      namespaces,
      dnsTimeoutMs: 1000,
      readinessTimeoutMs: 1000,
      now: () => T0,
      isLeader: () => asked++ === 0,
    });
    expect(r.stopped).toBe(true);
    expect(r.log).toEqual([
      'declarative: migrated shop/reviews (--keep-service)',
      'declarative: lost the lease: the pass stops (the new leader runs the rest)',
    ]);
    expect(Object.keys(await migrations(kube))).toEqual(['shop/reviews']);
    expect(kube.peek('v1', 'ConfigMap', 'acmg-declarative', 'istio-system')).toBeUndefined();
  });

  test('a Service marked while it runs is migrated, logged, and its mark removed rolls it back', async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'reviews'));
    // Watches that end (as the in-memory ones do after replaying) are opened again a little later.
    kube.watchHook = () => new Promise((r) => setTimeout(r, 20));
    const logs: string[] = [];
    const ac = new AbortController();
    const run = runController(kube, controllerOptions(logs, ac.signal));
    try {
      await until(() => logs.some((l) => l.startsWith('serving')) && kube.calls.some((c) => c.verb === 'watch' && c.kind === 'Namespace'));
      mark(kube, 'Service', 'reviews', 'shop', 'keep-service');
      await until(async () => (await migrations(kube))['shop/reviews']?.phase === 'complete');
      expect((await migrations(kube))['shop/reviews']!.origin).toBe('declarative');
      await until(() => logs.includes('declarative: migrated shop/reviews (--keep-service)'));
      mark(kube, 'Service', 'reviews', 'shop', null);
      await until(async () => !(await migrations(kube))['shop/reviews']);
      await until(() => logs.includes('declarative: rolled back shop/reviews (the mark was removed)'));
    } finally {
      ac.abort();
      await run;
    }
  }, 20_000);
});

async function until(fn: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
