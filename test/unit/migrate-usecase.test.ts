// The migrate and rollback use cases through the KubeApi seam, in milliseconds: plan against state,
// the journal, rollback after a failure at each step, replay of an interrupted run, undo order.
// The e2e tests (migrate.test.ts and others) prove the same flows on the real components.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { AcmgError, ExitCode } from '../../src/errors.js';
import { ApiError } from '../../src/kube/api.js';
import { readState, updateState } from '../../src/kube/state.js';
import type { KObject } from '../../src/model/object.js';
import type { StepName } from '../../src/model/state.js';
import { loadInstall } from '../../src/ops/install-record.js';
import { applyMigration, describeMigration, MIGRATION_STEP_NAMES, migrationSteps, planMigration } from '../../src/ops/migrate/index.js';
import { ROLLBACK_PHASES, rollbackMigrations } from '../../src/ops/rollback.js';
import { reconcile } from '../../src/ops/sync.js';
import { projectRoutingObject } from '../../src/plan/route-follow.js';
import { projectService, projectVirtualService } from '../../src/plan/sync.js';
import { currentDnsEntries, updateDnsEntries } from '../../src/kube/dns-store.js';
import { dnsSettings } from '../../src/ops/install-record.js';
import { applyUninstall, planUninstall, uninstallIsEmpty } from '../../src/ops/uninstall.js';
import { resolveValues } from '../../src/profile/load.js';
import { renderManifests } from '../../src/render/index.js';
import { routeName } from '../../src/render/routes.js';
import { MemoryKube, recordInstall } from './memory-kube.js';

/** A user's Istio object (VirtualService, DestinationRule) in namespace shop. */
const istio = (kind: 'VirtualService' | 'DestinationRule', name: string, spec: object): KObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind,
  metadata: { name, namespace: 'shop' },
  spec,
});
const NS = (name: string, labels: Record<string, string> = {}): KObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const svc = (namespace: string, name: string, ports: object[], extra: object = {}): KObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace, labels: { app: name } },
  spec: { selector: { app: name }, ports, ...extra },
});

/** A cluster with acmg (profile minimal) installed, kubeadm CoreDNS, and two namespaces of services. */
async function installedCluster(): Promise<MemoryKube> {
  const kube = new MemoryKube();
  const coredns = yaml.load(readFileSync(join(process.cwd(), 'hack/layouts/kubeadm.yaml'), 'utf8')) as KObject;
  const doc = resolveValues({ profile: 'minimal' });
  const objects = renderManifests(doc, { clusterDomain: 'cluster.local', version: '0.0.0-test' });
  kube.seed(
    NS('istio-system'),
    NS('kube-system'),
    NS('shop', { 'istio-injection': 'enabled' }),
    NS('web'),
    coredns,
    ...objects,
    svc('shop', 'reviews', [{ name: 'http', port: 9080, targetPort: 9080 }]),
    svc('shop', 'ratings', [{ name: 'http', port: 9080, targetPort: 9080 }]),
    svc('shop', 'syslog', [{ name: 'syslog', port: 514, protocol: 'UDP' }]),
    svc('web', 'frontend', [{ name: 'http', port: 8000, targetPort: 8000 }]),
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'reviews', namespace: 'shop' }, spec: { replicas: 1 } },
  );
  await recordInstall(kube, doc.spec, objects);
  kube.calls.splice(0);
  return kube;
}

const titles: string[] = [];
const task = async <T>(title: string, fn: (update: (t: string) => void) => Promise<T>) => {
  titles.push(title);
  return fn(() => {});
};
const opts = (extra: object = {}) => ({ dnsTimeoutMs: 1000, readinessTimeoutMs: 1000, task, ...extra });
const corefile = (kube: MemoryKube) => String(kube.peek('v1', 'ConfigMap', 'coredns', 'kube-system')!.data.Corefile);
const gatewayPorts = (kube: MemoryKube) => kube.peek('v1', 'Service', 'acmg-gateway', 'istio-system')!.spec.ports.map((p: { port: number }) => p.port);
/** A namespace's door on the gateway: its Service's ports as port -> listener port. */
const doorPorts = (kube: MemoryKube, ns: string) =>
  kube.peek('v1', 'Service', `acmg-${ns}`, 'istio-system')?.spec.ports.map((p: { port: number; targetPort: number }) => [p.port, p.targetPort]);

beforeEach(() => titles.splice(0));

describe('plan', () => {
  test('bad services are refused with every problem, and nothing is written', async () => {
    const kube = await installedCluster();
    const e = await planMigration(kube, { services: ['reviews', 'syslog', 'nope'], namespace: 'shop' }, { approach: 'keep-service' }).catch((x) => x);
    expect(e).toBeInstanceOf(AcmgError);
    expect((e as AcmgError).code).toBe(ExitCode.Usage);
    expect((e as AcmgError).problems).toEqual([
      expect.stringMatching(/service "nope" not found/),
      expect.stringMatching(/shop\/syslog port 514 \(syslog\): UDP/),
    ]);
    expect(kube.writes()).toEqual([]);
  });

  test('a DNS write that would not fit in the ConfigMap is refused at plan time, with the number that fits, and nothing is written', async () => {
    const kube = await installedCluster();
    // The cluster's own Corefile already near the 1 MiB a ConfigMap holds: acmg's region would tip it over.
    const cm = kube.peek('v1', 'ConfigMap', 'coredns', 'kube-system')!;
    const filler = `# ${'x'.repeat(1024 * 1024 - Buffer.byteLength(cm.data.Corefile) - 200)}\n`;
    kube.seed({ ...cm, data: { ...cm.data, Corefile: cm.data.Corefile + filler } });
    const e = await planMigration(kube, { services: ['reviews', 'ratings'], namespace: 'shop' }, { approach: 'keep-service' }).catch((x) => x);
    expect(e).toBeInstanceOf(AcmgError);
    expect((e as AcmgError).code).toBe(ExitCode.Usage);
    expect((e as AcmgError).problems).toEqual([
      expect.stringMatching(
        /^cluster DNS: 2 DNS entries would make the coredns ConfigMap \d+ bytes, over the 1 MiB a ConfigMap can hold .*at most ~\d+ entries\) \(migrate fewer/,
      ),
    ]);
    expect(kube.writes()).toEqual([]);
  });

  test('the dry-run plan is the list of steps apply runs, from the same data', async () => {
    const kube = await installedCluster();
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'replace-service' });
    expect(migrationSteps(plan).map((s) => s.name)).toEqual(['record', 'gateway-ports', 'route', 'dns', 'injection-label', 'delete-original', 'complete']);
    expect(describeMigration(plan)).toEqual(migrationSteps(plan).flatMap((s) => s.describe(plan)));
    expect(describeMigration(plan).join('\n')).toMatch(
      /create Service shop\/reviews-acmg[\s\S]*switch DNS in one CoreDNS write[\s\S]*label namespace shop istio-injection=disabled[\s\S]*delete Service shop\/reviews/,
    );
    expect(kube.writes()).toEqual([]);
  });
});

describe('one mechanism', () => {
  test('every migration step is undone by exactly one rollback phase', () => {
    const undoneBy = new Map<string, string[]>();
    for (const phase of ROLLBACK_PHASES) for (const step of phase.undoes) undoneBy.set(step, [...(undoneBy.get(step) ?? []), phase.name]);
    // The journal's restart entry is written inside the injection-label step.
    const steps = [...MIGRATION_STEP_NAMES, 'restart', 'replacement-service'];
    expect(Object.fromEntries(steps.map((s) => [s, (undoneBy.get(s) ?? []).length]))).toEqual(Object.fromEntries(steps.map((s) => [s, 1])));
    expect([...undoneBy.keys()].filter((s) => !steps.includes(s))).toEqual([]);
  });

  test('the plan carries every decision: the same runtime applies a replace-service plan with restart, and a keep-service plan without', async () => {
    const kube = await installedCluster();
    const replace = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'replace-service', restart: true });
    expect(replace).toMatchObject({ approach: 'replace-service', restart: true, force: false, onFailure: 'rollback' });
    await applyMigration(kube, replace, opts());
    expect(kube.peek('v1', 'Service', 'reviews', 'shop')).toBeUndefined();
    expect(kube.writes()).toContain('patch Deployment shop/reviews');
    const keep = await planMigration(kube, { services: ['frontend'], namespace: 'web' }, { approach: 'keep-service' });
    kube.calls.splice(0);
    await applyMigration(kube, keep, opts());
    expect(kube.peek('v1', 'Service', 'frontend', 'web')).toBeDefined();
    expect(kube.writes().filter((w) => w.startsWith('patch Deployment'))).toEqual([]);
    expect((await readState(kube, 'istio-system')).migrations['web/frontend']!.approach).toBe('keep-service');
  });
});

describe('apply', () => {
  test('keep-service: journal in order, one DNS write, injection off, the route, phase complete', async () => {
    const kube = await installedCluster();
    const plan = await planMigration(kube, { services: ['reviews', 'ratings'], namespace: 'shop' }, { approach: 'keep-service' });
    const r = await applyMigration(kube, plan, opts());
    expect(r.migrated).toEqual(['shop/reviews', 'shop/ratings']);
    expect(r.dnsWrites).toBe(1);
    const st = await readState(kube, 'istio-system');
    expect(st.migrations['shop/reviews']).toMatchObject({
      phase: 'complete',
      journal: ['gateway-ports', 'route', 'dns', 'injection-label'],
      previousInjection: 'enabled',
    });
    expect(corefile(kube)).toMatch(/10\.96\.0\.\d+ reviews\.shop\.svc\.cluster\.local/);
    expect(kube.writes().filter((w) => w.endsWith('ConfigMap kube-system/coredns'))).toEqual(['replace ConfigMap kube-system/coredns']);
    expect(kube.peek('v1', 'Namespace', 'shop')!.metadata.labels).toEqual({ 'istio-injection': 'disabled' });
    expect(kube.peek('networking.istio.io/v1', 'VirtualService', routeName('reviews'), 'shop')).toBeDefined();
    // The shared gateway keeps the profile's ports; the services arrive through shop's door.
    expect(gatewayPorts(kube)).toEqual([80, 15021]);
    expect(doorPorts(kube, 'shop')).toEqual([[9080, 20000]]);
    const door = kube.peek('v1', 'Service', 'acmg-shop', 'istio-system')!.spec.clusterIP;
    expect(corefile(kube)).toContain(`${door} reviews.shop.svc.cluster.local`);
    expect(r.addresses).toEqual({ shop: door });
  });

  test('replace-service: the replacement first, the original deleted last and kept for rollback', async () => {
    const kube = await installedCluster();
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'replace-service' });
    await applyMigration(kube, plan, opts());
    const w = kube.writes();
    expect(w.indexOf('apply Service shop/reviews-acmg')).toBeLessThan(w.indexOf('replace ConfigMap kube-system/coredns'));
    expect(w[w.length - 3]).toBe('delete Service shop/reviews');
    const st = await readState(kube, 'istio-system');
    expect(st.migrations['shop/reviews']!.journal).toEqual(['gateway-ports', 'replacement-service', 'route', 'dns', 'injection-label', 'delete-original']);
    expect(st.migrations['shop/reviews']!.originalService?.spec.clusterIP).toMatch(/^10\.96\./);
  });

  test('migration.restart in the values restarts the Deployments (as --restart)', async () => {
    const kube = await installedCluster();
    await updateState(kube, 'istio-system', (st) => {
      st.install!.values.migration.restart = true;
    });
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' });
    expect(plan.restart).toBe(true);
    await applyMigration(kube, plan, opts());
    expect(kube.writes()).toContain('patch Deployment shop/reviews');
    expect((await readState(kube, 'istio-system')).migrations['shop/reviews']!.journal).toContain('restart');
  });
});

describe("each namespace's door on the gateway", () => {
  test('names answer their own namespace door; a second namespace gets its own listener; rolling back the last service of a namespace closes its door', async () => {
    const kube = await installedCluster();
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    await applyMigration(kube, await planMigration(kube, { services: ['frontend'], namespace: 'web' }, { approach: 'keep-service' }), opts());
    const shop = kube.peek('v1', 'Service', 'acmg-shop', 'istio-system')!.spec.clusterIP;
    const web = kube.peek('v1', 'Service', 'acmg-web', 'istio-system')!.spec.clusterIP;
    expect(shop).not.toBe(web);
    expect(corefile(kube)).toContain(`${shop} reviews.shop.svc.cluster.local`);
    expect(corefile(kube)).toContain(`${web} frontend.web.svc.cluster.local`);
    expect([doorPorts(kube, 'shop'), doorPorts(kube, 'web')]).toEqual([[[9080, 20000]], [[8000, 20001]]]);
    expect(kube.peek('networking.istio.io/v1', 'Gateway', 'acmg-web', 'istio-system')!.spec.servers).toEqual([
      { port: { number: 20001, name: 'http-8000-20001', protocol: 'HTTP' }, hosts: ['web/*'] },
    ]);
    await rollbackMigrations(kube, await loadInstall(kube), ['web/frontend'], { dnsTimeoutMs: 1000, task });
    expect(kube.peek('v1', 'Service', 'acmg-web', 'istio-system')).toBeUndefined();
    expect(kube.peek('networking.istio.io/v1', 'Gateway', 'acmg-web', 'istio-system')).toBeUndefined();
    expect((await readState(kube, 'istio-system')).listeners).toEqual({ 'shop/9080': 20000 });
    expect(doorPorts(kube, 'shop')).toEqual([[9080, 20000]]);
  });

  test("a run never closes another namespace's door, even one it cannot see in the state it read", async () => {
    const kube = await installedCluster();
    await applyMigration(kube, await planMigration(kube, { services: ['frontend'], namespace: 'web' }, { approach: 'keep-service' }), opts());
    // As a run that read the state just before web's first migration was recorded sees it.
    await updateState(kube, 'istio-system', (st) => void delete st.migrations['web/frontend'], { namespaces: ['web'] });
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    expect(kube.peek('v1', 'Service', 'acmg-web', 'istio-system')).toBeDefined();
    expect(kube.peek('networking.istio.io/v1', 'Gateway', 'acmg-web', 'istio-system')).toBeDefined();
    await rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews'], { dnsTimeoutMs: 1000, task });
    expect(kube.peek('v1', 'Service', 'acmg-web', 'istio-system')).toBeDefined();
  });

  test('a door that moves while DNS is switched (a rollback of the namespace at the same time) fails the run, which is undone', async () => {
    const kube = await installedCluster();
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' });
    // The door Service is deleted and made again (a new ClusterIP) while DNS is asked.
    const ip = () => kube.peek('v1', 'Service', 'acmg-shop', 'istio-system')?.spec.clusterIP;
    const first: string[] = [];
    const resolver = {
      describe: 'test',
      ask: async (name: string) => {
        if (!first.length) {
          const door = kube.peek('v1', 'Service', 'acmg-shop', 'istio-system')!;
          first.push(door.spec.clusterIP);
          await kube.delete('v1', 'Service', 'acmg-shop', 'istio-system');
          await kube.apply({ ...door, metadata: { ...door.metadata, resourceVersion: undefined }, spec: { ...door.spec, clusterIP: undefined } });
        }
        // What CoreDNS would answer: the door while the entry is there, the Service once it is gone.
        const data = corefile(kube).includes(name) ? first[0] : kube.peek('v1', 'Service', 'reviews', 'shop')!.spec.clusterIP;
        return { rcode: 'NOERROR', answers: [{ name, type: 'A', ttl: 5, data }], truncated: false, transport: 'udp' as const, questionName: name };
      },
      close: async () => {},
    };
    const e = (await applyMigration(kube, plan, opts({ resolver })).catch((x) => x)) as AcmgError;
    expect(e.code).toBe(ExitCode.Cluster);
    expect(ip()).not.toBe(first[0]);
    expect(e.problems[0]).toMatch(/door for namespace shop changed while DNS was switched/);
    expect((await readState(kube, 'istio-system')).migrations).toEqual({});
    expect(corefile(kube)).not.toContain('reviews.shop');
  });

  test('two TCP services on one port migrate from different namespaces (each has its own door), not from the same one', async () => {
    const kube = await installedCluster();
    kube.seed(
      svc('shop', 'pg', [{ name: 'tcp-pg', port: 5432 }]),
      svc('web', 'pg', [{ name: 'tcp-pg', port: 5432 }]),
      svc('web', 'pg2', [{ name: 'tcp-pg', port: 5432 }]),
    );
    await applyMigration(kube, await planMigration(kube, { services: ['pg'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    await applyMigration(kube, await planMigration(kube, { services: ['pg'], namespace: 'web' }, { approach: 'keep-service' }), opts());
    expect([doorPorts(kube, 'shop'), doorPorts(kube, 'web')]).toEqual([[[5432, 20000]], [[5432, 20001]]]);
    const e = (await planMigration(kube, { services: ['pg2'], namespace: 'web' }, { approach: 'keep-service' }).catch((x) => x)) as AcmgError;
    expect(e.code).toBe(ExitCode.Usage);
    expect(e.problems[0]).toMatch(/^web\/pg2: .*5432.*web\/pg/);
  });

  test("the user's mesh rules for the service are carried into acmg's route at the door", async () => {
    const kube = await installedCluster();
    kube.seed(
      istio('VirtualService', 'reviews', {
        hosts: ['reviews'],
        http: [
          { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
          { route: [{ destination: { host: 'reviews', subset: 'v1' } }], timeout: '2s' },
        ],
      }),
    );
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' });
    expect(describeMigration(plan).join('\n')).toMatch(/with the rules of VirtualService shop\/reviews/);
    await applyMigration(kube, plan, opts());
    const route = kube.peek('networking.istio.io/v1', 'VirtualService', routeName('reviews'), 'shop')!;
    expect(route.spec.gateways).toEqual(['istio-system/acmg-shop']);
    expect(route.spec.http.map((h: any) => [h.match[0].headers ?? null, h.match[0].port, h.route[0].destination.subset, h.timeout ?? null])).toEqual([
      [{ 'end-user': { exact: 'jason' } }, 20000, 'v2', null],
      [null, 20000, 'v1', '2s'],
    ]);
    // The user's own VirtualService is never touched.
    expect(kube.writes().filter((w) => w.includes('VirtualService shop/reviews'))).toEqual([]);
  });

  test("approach 2: the user's DestinationRule is copied for the replacement, so carried subsets hold; rollback removes the copy", async () => {
    const kube = await installedCluster();
    kube.seed(
      istio('DestinationRule', 'reviews', { host: 'reviews', subsets: [{ name: 'v2', labels: { version: 'v2' } }], exportTo: ['.'] }),
      istio('VirtualService', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v2' } }] }] }),
    );
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'replace-service' });
    expect(plan.ruleChanges).toEqual([]);
    await applyMigration(kube, plan, opts());
    const copy = kube.peek('networking.istio.io/v1', 'DestinationRule', routeName('reviews'), 'shop')!;
    expect(copy.spec).toEqual({ host: 'reviews-acmg.shop.svc.cluster.local', subsets: [{ name: 'v2', labels: { version: 'v2' } }] });
    const route = kube.peek('networking.istio.io/v1', 'VirtualService', routeName('reviews'), 'shop')!;
    expect(route.spec.http[0].route[0].destination).toEqual({ host: 'reviews-acmg.shop.svc.cluster.local', subset: 'v2', port: { number: 9080 } });
    await rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews'], { dnsTimeoutMs: 1000, task });
    expect(kube.peek('networking.istio.io/v1', 'DestinationRule', routeName('reviews'), 'shop')).toBeUndefined();
    expect(kube.peek('networking.istio.io/v1', 'DestinationRule', 'reviews', 'shop')).toBeDefined();
  });

  test("approach 1 refuses a DestinationRule the gateway's namespace cannot see (exportTo), which would lose its subsets at the gateway", async () => {
    const kube = await installedCluster();
    kube.seed(istio('DestinationRule', 'reviews', { host: 'reviews', subsets: [{ name: 'v2', labels: { version: 'v2' } }], exportTo: ['.'] }));
    const e = (await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }).catch((x) => x)) as AcmgError;
    expect(e.problems).toEqual([
      expect.stringMatching(/^DestinationRule shop\/reviews is exported only to \["\."\]: the gateway in istio-system would not apply/),
    ]);
  });

  test('approach 2 without a DestinationRule for a carried subset is refused', async () => {
    const kube = await installedCluster();
    kube.seed(istio('VirtualService', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v2' } }] }] }));
    const e = (await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'replace-service' }).catch((x) => x)) as AcmgError;
    expect(e.problems).toEqual([expect.stringMatching(/^subset "v2" of reviews\.shop\.svc\.cluster\.local: no DestinationRule in shop defines it/)]);
  });

  test('a mesh security policy the move changes is refused (exit 2, nothing written) unless accepted, and named in the plan', async () => {
    const kube = await installedCluster();
    kube.seed(
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reviews-1', namespace: 'shop', labels: { app: 'reviews' } } },
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'reviews-viewer', namespace: 'shop' },
        spec: { selector: { matchLabels: { app: 'reviews' } }, rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/productpage'] } }] }] },
      },
    );
    const e = (await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }).catch((x) => x)) as AcmgError;
    expect(e.code).toBe(ExitCode.Usage);
    expect(e.problems).toEqual([
      expect.stringMatching(/^AuthorizationPolicy shop\/reviews-viewer \(ALLOW\) applies to the pods of shop\/reviews .*--accept-policy-changes/),
    ]);
    expect(kube.writes()).toEqual([]);
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service', acceptPolicyChanges: true });
    expect(plan.policyChanges).toHaveLength(1);
    await applyMigration(kube, plan, opts());
    expect(Object.keys((await readState(kube, 'istio-system')).migrations)).toEqual(['shop/reviews']);
  });

  test('a rule that needs the client sidecar is refused (exit 2, nothing written) unless accepted', async () => {
    const kube = await installedCluster();
    kube.seed(
      istio('VirtualService', 'reviews', {
        hosts: ['reviews'],
        http: [{ match: [{ sourceLabels: { app: 'productpage' } }], route: [{ destination: { host: 'reviews' } }] }],
      }),
    );
    kube.calls.splice(0);
    const e = (await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }).catch((x) => x)) as AcmgError;
    expect(e.code).toBe(ExitCode.Usage);
    expect(e.problems).toEqual([expect.stringMatching(/^VirtualService shop\/reviews http\[0\]\.match\[0\]\.sourceLabels: .*--accept-rule-changes/)]);
    expect(kube.writes()).toEqual([]);
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service', acceptRuleChanges: true });
    expect(plan.ruleChanges).toHaveLength(1);
  });
});

describe("acmg sync follows the user's routing of migrated services", () => {
  const jasonTo = (subset: string, extra: object = {}) =>
    istio('VirtualService', 'reviews', {
      hosts: ['reviews'],
      http: [
        { match: [{ headers: { 'end-user': { exact: 'jason' } }, ...extra }], route: [{ destination: { host: 'reviews', subset } }] },
        { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      ],
    });
  const routeSubsets = (kube: MemoryKube) =>
    kube.peek('networking.istio.io/v1', 'VirtualService', routeName('reviews'), 'shop')!.spec.http.map((h: any) => h.route[0].destination.subset);
  const routeWrites = (kube: MemoryKube) => kube.writes().filter((w) => /(VirtualService|DestinationRule) shop\/acmg-/.test(w));

  test("an edit of the user's VirtualService reaches acmg's route at the door, once; an unchanged one writes nothing", async () => {
    const kube = await installedCluster();
    kube.seed(jasonTo('v2'));
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    expect(routeSubsets(kube)).toEqual(['v2', 'v1']);
    kube.calls.splice(0);
    expect((await reconcile(kube)).routes).toEqual([]);
    expect(routeWrites(kube)).toEqual([]);

    await kube.apply(jasonTo('v3'));
    const dry = await reconcile(kube, { dryRun: true });
    expect(dry.routes).toEqual(['apply VirtualService shop/acmg-reviews']);
    expect(routeSubsets(kube)).toEqual(['v2', 'v1']);
    expect((await reconcile(kube)).routes).toEqual(['apply VirtualService shop/acmg-reviews']);
    expect(routeSubsets(kube)).toEqual(['v3', 'v1']);
    expect((await reconcile(kube)).routes).toEqual([]);
    // The user's VirtualService deleted: the door routes the service itself, as a sidecar would.
    await kube.delete('networking.istio.io/v1', 'VirtualService', 'reviews', 'shop');
    await reconcile(kube);
    expect(routeSubsets(kube)).toEqual([undefined]);
  });

  test("the controller's view (its caches, handed over as one-pass iterators) follows the edit as a fresh list does", async () => {
    const kube = await installedCluster();
    kube.seed(jasonTo('v2'));
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    await kube.apply(jasonTo('v3'));
    const all = async (kind: string, project: (o: KObject) => KObject) => (await kube.list('networking.istio.io/v1', kind)).items.map(project);
    const view = async () => ({
      virtualServices: (await all('VirtualService', projectVirtualService)).values(),
      destinationRules: (await all('DestinationRule', projectRoutingObject)).values(),
      services: new Map((await kube.list('v1', 'Service')).items.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, projectService(s)])),
    });
    expect((await reconcile(kube, { view: await view() })).routes).toEqual(['apply VirtualService shop/acmg-reviews']);
    expect(routeSubsets(kube)).toEqual(['v3', 'v1']);
    expect((await reconcile(kube, { view: await view() })).routes).toEqual([]);
  });

  test('an edit the gateway cannot hold is not carried: the route keeps its rules and sync says why', async () => {
    const kube = await installedCluster();
    kube.seed(jasonTo('v2'));
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    await kube.apply(jasonTo('v3', { sourceLabels: { app: 'productpage' } }));
    const r = await reconcile(kube);
    expect(r.routes).toEqual([]);
    expect(r.warnings).toEqual([expect.stringMatching(/^shop\/reviews: not carrying the edit to the gateway, which keeps the rules it had: .*sourceLabels/)]);
    expect(routeSubsets(kube)).toEqual(['v2', 'v1']);
  });

  /** reviews migrated with --accept-rule-changes, its VirtualService matching on sourceLabels. */
  const migratedAccepting = async () => {
    const kube = await installedCluster();
    kube.seed(jasonTo('v2', { sourceLabels: { app: 'productpage' } }));
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service', acceptRuleChanges: true });
    await applyMigration(kube, plan, opts());
    return { kube, plan };
  };

  test('a rule accepted at migrate (--accept-rule-changes) stays accepted when the rest of the VirtualService changes', async () => {
    const { kube, plan } = await migratedAccepting();
    expect((await readState(kube, 'istio-system')).migrations['shop/reviews']!.acceptedRuleChanges).toEqual(
      plan.ruleChanges.map((message) => ({ key: expect.stringMatching(/^VirtualService shop\/reviews http\.match\.sourceLabels [0-9a-f]{16}$/), message })),
    );
    await kube.apply(jasonTo('v3', { sourceLabels: { app: 'productpage' } }));
    expect((await reconcile(kube)).warnings).toEqual([]);
    expect(routeSubsets(kube)).toEqual(['v3', 'v1']);
  });

  test('a rule accepted at migrate stays accepted when a new rule is inserted above it (matched by what the rule is, not its index)', async () => {
    const { kube } = await migratedAccepting();
    const edited = jasonTo('v2', { sourceLabels: { app: 'productpage' } });
    edited.spec.http.unshift({ match: [{ uri: { prefix: '/new' } }], route: [{ destination: { host: 'reviews', subset: 'v3' } }] });
    await kube.apply(edited);
    const r = await reconcile(kube);
    expect(r.warnings).toEqual([]);
    expect(r.routes).toEqual(['apply VirtualService shop/acmg-reviews']);
    expect(routeSubsets(kube)).toEqual(['v3', 'v2', 'v1']);
  });

  test('a record written before keys (accepted rules as message text) is still matched by that text', async () => {
    const { kube, plan } = await migratedAccepting();
    await updateState(kube, 'istio-system', (st) => void (st.migrations['shop/reviews']!.acceptedRuleChanges = plan.ruleChanges), { namespaces: ['shop'] });
    await kube.apply(jasonTo('v3', { sourceLabels: { app: 'productpage' } }));
    expect((await reconcile(kube)).warnings).toEqual([]);
    expect(routeSubsets(kube)).toEqual(['v3', 'v1']);
  });

  test("approach 2: the DestinationRule copy follows the user's (edited, deleted, made again)", async () => {
    const kube = await installedCluster();
    const rule = (subsets: string[]) =>
      istio('DestinationRule', 'reviews', { host: 'reviews', subsets: subsets.map((v) => ({ name: v, labels: { version: v } })) });
    kube.seed(rule(['v1', 'v2']));
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'replace-service' }), opts());
    const copy = () => kube.peek('networking.istio.io/v1', 'DestinationRule', routeName('reviews'), 'shop')?.spec.subsets.map((x: any) => x.name);
    expect(copy()).toEqual(['v1', 'v2']);
    await kube.apply(rule(['v1', 'v2', 'v3']));
    expect((await reconcile(kube)).routes).toEqual(['apply DestinationRule shop/acmg-reviews']);
    expect(copy()).toEqual(['v1', 'v2', 'v3']);
    await kube.delete('networking.istio.io/v1', 'DestinationRule', 'reviews', 'shop');
    expect((await reconcile(kube)).routes).toEqual(['delete DestinationRule shop/acmg-reviews']);
    expect(copy()).toBeUndefined();
    await kube.apply(rule(['v1']));
    expect((await reconcile(kube)).routes).toEqual(['apply DestinationRule shop/acmg-reviews']);
    expect(copy()).toEqual(['v1']);
  });

  test('a migration still in progress or rolling back is left to its own run', async () => {
    const kube = await installedCluster();
    kube.seed(jasonTo('v2'));
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    await kube.apply(jasonTo('v3'));
    for (const phase of ['in-progress', 'rolling-back'] as const) {
      await updateState(kube, 'istio-system', (st) => void (st.migrations['shop/reviews']!.phase = phase), { namespaces: ['shop'] });
      expect((await reconcile(kube, { dryRun: true })).routes).toEqual([]);
    }
  });
  test("a rollback between sync's read of the state and its route write leaves no route behind (sync takes back a write the rollback missed)", async () => {
    const kube = await installedCluster();
    kube.seed(jasonTo('v2'));
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    await kube.apply(jasonTo('v3'));
    // The rollback runs whole after sync read the state (complete) and just before its route write.
    const apply = kube.apply.bind(kube);
    let raced = false;
    kube.apply = (async (o: KObject, x?: { dryRun?: boolean; force?: boolean }) => {
      if (!raced && o.kind === 'VirtualService' && o.metadata.name === routeName('reviews')) {
        raced = true;
        await rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews'], { dnsTimeoutMs: 1000, task });
      }
      return apply(o, x);
    }) as typeof kube.apply;
    const r = await reconcile(kube);
    expect(raced).toBe(true);
    expect((await readState(kube, 'istio-system')).migrations['shop/reviews']).toBeUndefined();
    expect(kube.peek('networking.istio.io/v1', 'VirtualService', routeName('reviews'), 'shop')).toBeUndefined();
    expect(r.routes).toEqual([]);
    expect(r.warnings).toContainEqual(expect.stringMatching(/^shop\/reviews was rolled back meanwhile: took back VirtualService shop\/acmg-reviews/));
  });
});

describe('acmg sync beside a concurrent writer', () => {
  test("a conflict on its DNS write makes sync apply its own change to the fresh read, keeping another run's new entry", async () => {
    const kube = await installedCluster();
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    const s = dnsSettings(await loadInstall(kube));
    // The entry was taken out by hand: sync will put it back.
    await updateDnsEntries(kube, s, (cur) => cur.filter((e) => !e.fqdn.startsWith('reviews.')));
    const base = kube.peek('v1', 'ConfigMap', 'coredns', 'kube-system')!;
    // What a concurrent migrate writes between sync's read and its write: a new entry.
    await updateDnsEntries(kube, s, (cur) => [...cur, { fqdn: 'frontend.web.svc.cluster.local', ip: '10.96.0.99' }]);
    const concurrent = kube.peek('v1', 'ConfigMap', 'coredns', 'kube-system')!;
    kube.seed(base);
    let raced = false;
    kube.failWhen = (call) => {
      if (raced || call.verb !== 'replace' || call.name !== 'coredns') return undefined;
      raced = true;
      kube.seed(concurrent);
      return new ApiError(409, 'Conflict', 'the object has been modified', 'PUT', 'ConfigMap');
    };
    await reconcile(kube);
    expect(raced).toBe(true);
    const fqdns = (await currentDnsEntries(kube, s)).entries.map((e) => e.fqdn).sort();
    expect(fqdns).toEqual(['frontend.web.svc.cluster.local', 'reviews.shop.svc.cluster.local']);
  });
});

describe("nothing of someone else's is taken over", () => {
  test('--replace-service refuses NodePort and LoadBalancer Services (their node ports and address would go), and writes nothing', async () => {
    const kube = await installedCluster();
    kube.seed(
      svc('shop', 'np', [{ name: 'http', port: 9080, nodePort: 30081 }], { type: 'NodePort' }),
      svc('shop', 'lb', [{ name: 'http', port: 9080 }], { type: 'LoadBalancer' }),
    );
    kube.calls.splice(0);
    const e = (await planMigration(kube, { services: ['np', 'lb'], namespace: 'shop' }, { approach: 'replace-service' }).catch((x) => x)) as AcmgError;
    expect(e.code).toBe(ExitCode.Usage);
    expect(e.problems).toEqual([
      expect.stringMatching(/^shop\/np is a NodePort Service: --replace-service would delete it, releasing its node ports .*use --keep-service/),
      expect.stringMatching(/^shop\/lb is a LoadBalancer Service: .*external address/),
    ]);
    expect(kube.writes()).toEqual([]);
    // --keep-service leaves the Service as it is: allowed.
    await planMigration(kube, { services: ['np'], namespace: 'shop' }, { approach: 'keep-service' });
  });

  test("a Service named like the replacement that is not acmg's, or a VirtualService named like acmg's route, is refused", async () => {
    const kube = await installedCluster();
    kube.seed(
      svc('shop', 'reviews-acmg', [{ name: 'http', port: 9080 }]),
      istio('VirtualService', routeName('ratings'), { hosts: ['ratings.example'], http: [{ route: [{ destination: { host: 'ratings' } }] }] }),
    );
    const e = (await planMigration(kube, { services: ['reviews', 'ratings'], namespace: 'shop' }, { approach: 'replace-service' }).catch(
      (x) => x,
    )) as AcmgError;
    expect(e.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^VirtualService shop\/acmg-ratings exists and is not acmg's/),
        expect.stringMatching(/^Service shop\/reviews-acmg exists and is not acmg's replacement for reviews/),
      ]),
    );
  });

  test("--accept-rule-changes does not accept a name taken by someone else's object: still refused, and their object is untouched", async () => {
    const kube = await installedCluster();
    const theirs = istio('VirtualService', routeName('ratings'), { hosts: ['ratings.example'], http: [{ route: [{ destination: { host: 'ratings' } }] }] });
    kube.seed(svc('shop', 'reviews-acmg', [{ name: 'http', port: 9080 }]), theirs);
    kube.calls.splice(0);
    const e = (await planMigration(
      kube,
      { services: ['reviews', 'ratings'], namespace: 'shop' },
      { approach: 'replace-service', acceptRuleChanges: true },
    ).catch((x) => x)) as AcmgError;
    expect(e).toBeInstanceOf(AcmgError);
    expect(e.code).toBe(ExitCode.Usage);
    expect(e.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^VirtualService shop\/acmg-ratings exists and is not acmg's/),
        expect.stringMatching(/^Service shop\/reviews-acmg exists and is not acmg's replacement for reviews/),
      ]),
    );
    // A name conflict is not a rule change: the hint offers renaming, not --accept-rule-changes.
    expect(e.problems.filter((p) => /exists and is not acmg's/.test(p) && /--accept-rule-changes/.test(p))).toEqual([]);
    expect(kube.writes()).toEqual([]);
    expect(kube.peek('networking.istio.io/v1', 'VirtualService', routeName('ratings'), 'shop')!.spec.hosts).toEqual(['ratings.example']);
  });

  test("rollback removes only acmg's own route: a VirtualService of that name made by someone else stays", async () => {
    const kube = await installedCluster();
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    // Someone replaces acmg's route with their own object of the same name.
    kube.seed(istio('VirtualService', routeName('reviews'), { hosts: ['x'] }));
    await rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews'], { dnsTimeoutMs: 1000, task });
    expect(kube.peek('networking.istio.io/v1', 'VirtualService', routeName('reviews'), 'shop')!.spec.hosts).toEqual(['x']);
  });
});

describe('a failure rolls the run back from its journal', () => {
  const failingAt: [string, StepName[], (c: { verb: string; kind: string; name?: string }) => boolean][] = [
    ['opening gateway ports', [], (c) => c.verb === 'apply' && c.kind === 'Gateway'],
    ['the route', ['gateway-ports'], (c) => c.verb === 'apply' && c.kind === 'VirtualService'],
    ['the DNS write', ['gateway-ports', 'route'], (c) => c.verb === 'replace' && c.name === 'coredns'],
    ['the relabel', ['gateway-ports', 'route', 'dns'], (c) => c.verb === 'patch' && c.kind === 'Namespace'],
  ];

  test.each(failingAt)('at %s: rolled back, the cause and the rollback both reported, the cluster as before', async (_name, journaled, when) => {
    const kube = await installedCluster();
    const before = { corefile: corefile(kube), ports: gatewayPorts(kube), labels: kube.peek('v1', 'Namespace', 'shop')!.metadata.labels };
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' });
    let seen: StepName[] = [];
    let failed = false;
    kube.failWhen = (call) => {
      if (!failed && when(call)) {
        failed = true;
        return new ApiError(500, 'InternalError', 'injected by the test', 'X', call.kind);
      }
      return undefined;
    };
    const e = (await applyMigration(
      kube,
      plan,
      opts({ afterStep: async () => void (seen = [...((await readState(kube, 'istio-system')).migrations['shop/reviews']?.journal ?? [])]) }),
    ).catch((x) => x)) as AcmgError;
    expect(e).toBeInstanceOf(AcmgError);
    expect(e.code).toBe(ExitCode.Cluster);
    expect(e.problems[0]).toMatch(/^migration failed and was rolled back: .*injected by the test/);
    expect(seen).toEqual(journaled);
    const st = await readState(kube, 'istio-system');
    expect(st.migrations).toEqual({});
    expect(corefile(kube)).toBe(before.corefile);
    expect(gatewayPorts(kube)).toEqual(before.ports);
    expect(kube.peek('v1', 'Namespace', 'shop')!.metadata.labels).toEqual(before.labels);
    expect(kube.peek('networking.istio.io/v1', 'VirtualService', routeName('reviews'), 'shop')).toBeUndefined();
  });

  test('a failure right after the DNS write (the state write that follows it fails) still takes the entries out: the intent is journaled first', async () => {
    const kube = await installedCluster();
    const before = corefile(kube);
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' });
    let wrote = false;
    let failed = false;
    const writing = (c: { verb: string }) => !['get', 'list', 'watch'].includes(c.verb);
    kube.failWhen = (call) => {
      if (call.kind !== 'ConfigMap' || !writing(call)) return undefined;
      if (call.name === 'coredns') wrote = true;
      else if (wrote && !failed && call.name?.startsWith('acmg-state')) {
        failed = true;
        return new ApiError(500, 'InternalError', 'injected by the test', 'PUT', 'ConfigMap');
      }
      return undefined;
    };
    const e = (await applyMigration(kube, plan, opts()).catch((x) => x)) as AcmgError;
    expect(failed).toBe(true);
    expect(e.code).toBe(ExitCode.Cluster);
    expect(corefile(kube)).toBe(before);
    expect((await readState(kube, 'istio-system')).migrations).toEqual({});
  });

  test('approach 2, between two deletes of originals: both Services back with their ClusterIPs, nothing of acmg left', async () => {
    const kube = await installedCluster();
    const ips = ['reviews', 'ratings'].map((n) => kube.peek('v1', 'Service', n, 'shop')!.spec.clusterIP);
    const plan = await planMigration(kube, { services: ['reviews', 'ratings'], namespace: 'shop' }, { approach: 'replace-service' });
    let deletes = 0;
    kube.failWhen = (call) =>
      call.verb === 'delete' && call.kind === 'Service' && ++deletes === 2
        ? new ApiError(500, 'InternalError', 'injected by the test', 'DELETE', 'Service')
        : undefined;
    const e = (await applyMigration(kube, plan, opts()).catch((x) => x)) as AcmgError;
    expect(e.problems[0]).toMatch(/^migration failed and was rolled back: .*injected by the test/);
    expect(['reviews', 'ratings'].map((n) => kube.peek('v1', 'Service', n, 'shop')?.spec.clusterIP)).toEqual(ips);
    // reviews was deleted before the failure, so the rollback recreated it; ratings' delete was refused.
    expect(kube.writes().filter((w) => /Service shop\/(reviews|ratings)$/.test(w))).toEqual([
      'delete Service shop/reviews',
      'delete Service shop/ratings',
      'create Service shop/reviews',
    ]);
    expect(kube.peek('v1', 'Service', 'reviews-acmg', 'shop')).toBeUndefined();
    expect((await readState(kube, 'istio-system')).migrations).toEqual({});
  });

  test('a rollback that fails too: both errors are reported, the cause first', async () => {
    const kube = await installedCluster();
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' });
    let relabels = 0;
    kube.failWhen = (call) => {
      if (call.verb === 'patch' && call.kind === 'Namespace' && relabels++ === 0)
        return new ApiError(500, 'InternalError', 'relabel refused', 'PATCH', 'Namespace');
      if (call.verb === 'delete' && call.kind === 'VirtualService')
        return new ApiError(500, 'InternalError', 'route delete refused', 'DELETE', 'VirtualService');
      return undefined;
    };
    const e = (await applyMigration(kube, plan, opts()).catch((x) => x)) as AcmgError;
    expect(e.problems).toEqual([
      expect.stringMatching(/^migration failed: .*relabel refused/),
      expect.stringMatching(/^the automatic rollback failed too: .*route delete refused/),
    ]);
    expect(e.hint).toMatch(/acmg rollback/);
  });

  test('--no-rollback leaves what was done, journaled', async () => {
    const kube = await installedCluster();
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service', noRollback: true });
    kube.failWhen = (call) => (call.verb === 'patch' && call.kind === 'Namespace' ? new Error('boom') : undefined);
    const e = (await applyMigration(kube, plan, opts()).catch((x) => x)) as AcmgError;
    expect(e.problems[0]).toMatch(/^migration failed: boom/);
    expect((await readState(kube, 'istio-system')).migrations['shop/reviews']).toMatchObject({
      phase: 'in-progress',
      journal: ['gateway-ports', 'route', 'dns'],
    });
  });
});

describe('rollback', () => {
  test('an interrupted run (journal without dns) is undone without touching DNS', async () => {
    const kube = await installedCluster();
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service', noRollback: true });
    kube.failWhen = (call) => (call.verb === 'replace' && call.name === 'coredns' ? new Error('killed') : undefined);
    await applyMigration(kube, plan, opts()).catch(() => undefined);
    kube.failWhen = undefined;
    kube.calls.splice(0);
    const install = await loadInstall(kube);
    expect(await rollbackMigrations(kube, install, ['shop/reviews'], { dnsTimeoutMs: 1000, task })).toEqual(['shop/reviews']);
    expect(kube.writes().some((w) => w.includes('coredns'))).toBe(false);
    expect(kube.peek('networking.istio.io/v1', 'VirtualService', routeName('reviews'), 'shop')).toBeUndefined();
    expect((await readState(kube, 'istio-system')).migrations).toEqual({});
  });

  test('approach 2 is undone in order: original Service back, label, DNS, routes and replacement, the door, state', async () => {
    const kube = await installedCluster();
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'replace-service' });
    await applyMigration(kube, plan, opts());
    const ip = (await readState(kube, 'istio-system')).migrations['shop/reviews']!.originalService!.spec.clusterIP;
    kube.calls.splice(0);
    await rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews'], { dnsTimeoutMs: 1000, task });
    const order = [
      'create Service shop/reviews',
      'patch Namespace shop',
      'replace ConfigMap kube-system/coredns',
      `delete VirtualService shop/${routeName('reviews')}`,
      'delete Service shop/reviews-acmg',
      'delete Service istio-system/acmg-shop',
      'replace ConfigMap istio-system/acmg-state-shop',
    ];
    const w = kube.writes();
    // First of all, the migration is marked as rolling back (a controller alongside honours it); the
    // state is written last when the migration is forgotten, after its door is closed (a rollback
    // killed before that finds the record again).
    expect(w[0]).toBe('replace ConfigMap istio-system/acmg-state-shop');
    const at = (x: string) => (x.includes('acmg-state') ? w.lastIndexOf(x) : w.indexOf(x));
    expect(order.map(at)).toEqual([...order.map(at)].sort((a, b) => a - b));
    expect(order.every((x) => w.includes(x))).toBe(true);
    expect(kube.peek('v1', 'Service', 'reviews', 'shop')!.spec.clusterIP).toBe(ip);
    expect(kube.peek('v1', 'Namespace', 'shop')!.metadata.labels).toEqual({ 'istio-injection': 'enabled' });
  });

  test('a rollback that stops while closing the door finds its record again: run again, the door closes', async () => {
    const kube = await installedCluster();
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    let failed = false;
    kube.failWhen = (call) => {
      if (!failed && call.verb === 'delete' && call.name === 'acmg-shop') {
        failed = true;
        return new ApiError(500, 'InternalError', 'injected by the test', 'DELETE', 'Service');
      }
      return undefined;
    };
    await expect(rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews'], { dnsTimeoutMs: 1000, task })).rejects.toThrow(/injected/);
    expect((await readState(kube, 'istio-system')).migrations['shop/reviews']?.phase).toBe('rolling-back');
    expect(await rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews'], { dnsTimeoutMs: 1000, task })).toEqual(['shop/reviews']);
    expect(kube.peek('v1', 'Service', 'acmg-shop', 'istio-system')).toBeUndefined();
    expect(kube.peek('networking.istio.io/v1', 'Gateway', 'acmg-shop', 'istio-system')).toBeUndefined();
    expect((await readState(kube, 'istio-system')).migrations).toEqual({});
  });

  test("while a rollback of one service is under way, another run keeps that service's door ports (its names still answer the door)", async () => {
    const kube = await installedCluster();
    kube.seed(svc('shop', 'db', [{ name: 'tcp-db', port: 5432 }]), svc('web', 'db', [{ name: 'tcp-db', port: 5432 }]));
    await applyMigration(kube, await planMigration(kube, { services: ['db'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    const shopListener = (await readState(kube, 'istio-system')).listeners!['shop/5432'];
    // A rollback of shop/db has marked it (and waits for DNS) when web/db is migrated.
    await updateState(kube, 'istio-system', (st) => void (st.migrations['shop/db']!.phase = 'rolling-back'), { namespaces: ['shop'] });
    await applyMigration(kube, await planMigration(kube, { services: ['db'], namespace: 'web' }, { approach: 'keep-service' }), opts());
    const listeners = (await readState(kube, 'istio-system')).listeners!;
    expect(listeners['shop/5432']).toBe(shopListener);
    expect(listeners['web/5432']).not.toBe(shopListener);
    expect(doorPorts(kube, 'shop')).toEqual([[5432, shopListener]]);
  });

  test('a route sync cannot write (its namespace gone, an admission policy) is a warning: DNS and the other routes go on', async () => {
    const kube = await installedCluster();
    kube.seed(istio('VirtualService', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] }));
    await applyMigration(kube, await planMigration(kube, { services: ['reviews', 'ratings'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    await kube.delete('networking.istio.io/v1', 'VirtualService', routeName('reviews'), 'shop');
    await kube.delete('networking.istio.io/v1', 'VirtualService', routeName('ratings'), 'shop');
    kube.failWhen = (call) =>
      call.verb === 'apply' && call.name === routeName('reviews') ? new ApiError(403, 'Forbidden', 'denied by a policy', 'PATCH', 'VirtualService') : undefined;
    const r = await reconcile(kube);
    expect(r.routes).toEqual([`apply VirtualService shop/${routeName('ratings')}`]);
    expect(r.warnings).toEqual([expect.stringMatching(/^could not apply VirtualService shop\/acmg-reviews .*denied by a policy/)]);
    expect(kube.peek('networking.istio.io/v1', 'VirtualService', routeName('ratings'), 'shop')).toBeDefined();
  });

  test('--replace-service deletes the original only as it was planned: changed meanwhile, it stays and the run is undone', async () => {
    const kube = await installedCluster();
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'replace-service' });
    const e = (await applyMigration(
      kube,
      plan,
      opts({
        // Its owner changes it while the run is on (a Helm upgrade during the DNS wait).
        afterStep: async (step: string) => {
          if (step !== 'injection-label') return;
          const live = kube.peek('v1', 'Service', 'reviews', 'shop')!;
          await kube.apply({ ...live, metadata: { ...live.metadata, labels: { ...live.metadata.labels, release: '2' } } });
        },
      }),
    ).catch((x) => x)) as AcmgError;
    expect(e.code).toBe(ExitCode.Cluster);
    expect(e.problems.join('\n')).toMatch(/Service shop\/reviews was changed since migrate read it: not deleted/);
    expect(kube.peek('v1', 'Service', 'reviews', 'shop')!.metadata.labels).toMatchObject({ release: '2' });
    expect(kube.peek('v1', 'Service', 'reviews-acmg', 'shop')).toBeUndefined();
    expect((await readState(kube, 'istio-system')).migrations).toEqual({});
  });

  test('the injection label stays off while another service of the namespace is still migrated', async () => {
    const kube = await installedCluster();
    await applyMigration(kube, await planMigration(kube, { services: ['reviews', 'ratings'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    await rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews'], { dnsTimeoutMs: 1000, task });
    expect(kube.peek('v1', 'Namespace', 'shop')!.metadata.labels).toEqual({ 'istio-injection': 'disabled' });
    expect(Object.keys((await readState(kube, 'istio-system')).migrations)).toEqual(['shop/ratings']);
    expect(doorPorts(kube, 'shop')).toEqual([[9080, 20000]]); // ratings still needs 9080
  });
});

describe('uninstall --purge', () => {
  test('rolls every migration back, deletes what acmg made, restores the Corefile byte for byte', async () => {
    const kube = await installedCluster();
    const original = corefile(kube);
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'replace-service' }), opts());
    await applyMigration(kube, await planMigration(kube, { services: ['frontend'], namespace: 'web' }, { approach: 'keep-service' }), opts());
    expect(corefile(kube)).not.toBe(original);
    const plan = await planUninstall(kube, { purge: true });
    expect(plan.migrated).toEqual(['shop/reviews', 'web/frontend']);
    await applyUninstall(kube, plan, { dnsTimeoutMs: 1000, task });
    expect(corefile(kube)).toBe(original);
    expect(kube.peek('v1', 'Service', 'reviews', 'shop')).toBeDefined();
    expect(kube.peek('v1', 'ConfigMap', 'acmg-state', 'istio-system')).toBeUndefined();
    expect(kube.peek('apps/v1', 'Deployment', 'acmg-gateway', 'istio-system')).toBeUndefined();
    expect(kube.peek('v1', 'Namespace', 'shop')!.metadata.labels).toEqual({ 'istio-injection': 'enabled' });
    expect(uninstallIsEmpty(await planUninstall(kube, { purge: true }))).toBe(true);
  });

  test('without --purge it refuses while services are migrated, and writes nothing', async () => {
    const kube = await installedCluster();
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts());
    kube.calls.splice(0);
    const e = (await applyUninstall(kube, await planUninstall(kube, { purge: false }), { dnsTimeoutMs: 1000, task }).catch((x) => x)) as AcmgError;
    expect(e.code).toBe(ExitCode.Usage);
    expect(e.problems[0]).toMatch(/1 service\(s\) are still migrated: shop\/reviews/);
    expect(kube.writes()).toEqual([]);
  });
});
