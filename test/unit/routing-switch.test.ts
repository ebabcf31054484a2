// Issue #24 point 3: an install with migrated services moves from one routing API to the other in
// place (ops/routing-switch.ts): the new API's routes and door Gateways first, then the old API's
// go; the doors' Services (the addresses DNS answers) stay. Install runs for real on the in-memory
// API (plan, apply, record); only precheck is replaced (its Istio, RBAC and CRD checks are the e2e
// tests' business). test/e2e/gateway-api.test.ts traces the calls through the real istiod.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import yaml from 'js-yaml';
import { ApiError } from '../../src/kube/api.js';
import type { KObject } from '../../src/model/object.js';
import type { AcmgOperator } from '../../src/profile/schema.js';
import { MemoryKube } from './memory-kube.js';

jest.unstable_mockModule('../../src/check/precheck.js', () => ({
  runPrecheck: async (kube: MemoryKube, doc: AcmgOperator) => ({
    results: [{ category: 'dns', check: 'cluster DNS layout supported', status: 'ok' }],
    layout: (await loadDns(kube, doc.spec.dns)).layout,
  }),
}));
const { loadDns } = await import('../../src/kube/dns-store.js');
const { applyInstall, planInstall } = await import('../../src/ops/install.js');
const { loadInstall } = await import('../../src/ops/install-record.js');
const { applyMigration, planMigration } = await import('../../src/ops/migrate/index.js');
const { rollbackMigrations } = await import('../../src/ops/rollback.js');
const { readState } = await import('../../src/kube/state.js');
const { resolveValues } = await import('../../src/profile/load.js');

const GW_API = 'gateway.networking.k8s.io/v1';
const ISTIO = 'networking.istio.io/v1';
const task = async <T>(_title: string, fn: (update: (t: string) => void) => Promise<T>) => fn(() => {});
const opts = { dnsTimeoutMs: 1000, readinessTimeoutMs: 1000, task };
const NS = (name: string, labels: Record<string, string> = {}): KObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const svc = (name: string, ports: object[]): KObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'shop', labels: { app: name } },
  spec: { selector: { app: name }, ports },
});
const valuesFor = (api: string) => resolveValues({ profile: 'minimal', sets: [`routing.api=${api}`, 'dns.mode=corefile'] });

async function install(kube: MemoryKube, api: string) {
  const plan = await planInstall(kube, valuesFor(api));
  const failures = plan.checks.filter((c) => c.status === 'fail');
  if (failures.length === 0) await applyInstall(kube, plan, opts);
  return { plan, failures };
}

/** Installed with `api`, reviews (HTTP) migrated with approach 1 and db (TCP) with approach 2. */
async function migratedCluster(api: string, extra: KObject[] = []): Promise<MemoryKube> {
  const kube = new MemoryKube();
  const coredns = yaml.load(readFileSync(join(process.cwd(), 'hack/layouts/kubeadm.yaml'), 'utf8')) as KObject;
  kube.seed(
    NS('istio-system'),
    NS('kube-system'),
    NS('shop', { 'istio-injection': 'enabled' }),
    coredns,
    svc('reviews', [{ name: 'http', port: 9080, targetPort: 9080 }]),
    svc('db', [{ name: 'tcp-db', port: 5432 }]),
    ...extra,
  );
  expect((await install(kube, api)).failures).toEqual([]);
  await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts);
  await applyMigration(kube, await planMigration(kube, { services: ['db'], namespace: 'shop' }, { approach: 'replace-service' }), opts);
  kube.calls.splice(0);
  return kube;
}

const names = async (kube: MemoryKube, apiVersion: string, kind: string, namespace: string) =>
  (await kube.list(apiVersion, kind, { namespace })).items.map((o) => o.metadata.name).sort();

/** Every routing object of acmg's, of both APIs: the routes in shop, the Gateways in istio-system. */
const routing = async (kube: MemoryKube) => ({
  gatewayApi: {
    gateways: await names(kube, GW_API, 'Gateway', 'istio-system'),
    routes: [...(await names(kube, GW_API, 'HTTPRoute', 'shop')), ...(await names(kube, GW_API, 'TCPRoute', 'shop'))],
  },
  istio: { gateways: await names(kube, ISTIO, 'Gateway', 'istio-system'), routes: await names(kube, ISTIO, 'VirtualService', 'shop') },
});

const ISTIO_FORM = { gatewayApi: { gateways: [], routes: [] }, istio: { gateways: ['acmg-gateway', 'acmg-shop'], routes: ['acmg-db', 'acmg-reviews'] } };
const GATEWAY_API_FORM = {
  gatewayApi: { gateways: ['acmg-gateway', 'acmg-shop'], routes: ['acmg-reviews-9080', 'acmg-db-5432'] },
  istio: { gateways: [], routes: [] },
};

describe('install switches routing.api in place while services are migrated', () => {
  test('istio -> gateway-api -> istio: routes and doors move, nothing of the old form is left, the door keeps its address', async () => {
    const kube = await migratedCluster('istio');
    expect(await routing(kube)).toEqual(ISTIO_FORM);
    const doorIP = kube.peek('v1', 'Service', 'acmg-shop', 'istio-system')!.spec.clusterIP;

    const { plan, failures } = await install(kube, 'gateway-api');
    expect(failures).toEqual([]);
    expect(plan.routingSwitch).toMatchObject({ from: 'istio', to: 'gateway-api', services: ['shop/db', 'shop/reviews'], problems: [] });
    expect(await routing(kube)).toEqual(GATEWAY_API_FORM);
    expect(kube.peek('v1', 'Service', 'acmg-shop', 'istio-system')!.spec.clusterIP).toBe(doorIP);
    expect((await readState(kube, 'istio-system')).install!.values.routing.api).toBe('gateway-api');
    // The new routes and door Gateway before the old door Gateway, the old routes last: routed throughout.
    const writes = kube.calls
      .filter((c) => !c.dryRun && (c.verb === 'apply' || c.verb === 'delete'))
      .map((c) => `${c.verb} ${c.apiVersion} ${c.kind} ${c.name}`);
    const at = (w: string) => writes.indexOf(w);
    expect(at(`apply ${GW_API} HTTPRoute acmg-reviews-9080`)).toBeGreaterThanOrEqual(0);
    expect(at(`apply ${GW_API} HTTPRoute acmg-reviews-9080`)).toBeLessThan(at(`apply ${GW_API} Gateway acmg-shop`));
    expect(at(`apply ${GW_API} Gateway acmg-shop`)).toBeLessThan(at(`delete ${ISTIO} Gateway acmg-shop`));
    expect(at(`delete ${ISTIO} Gateway acmg-shop`)).toBeLessThan(at(`delete ${ISTIO} VirtualService acmg-reviews`));
    // db's TCPRoute sends to its replacement, as the VirtualService did.
    expect(kube.peek(GW_API, 'TCPRoute', 'acmg-db-5432', 'shop')!.spec.rules[0].backendRefs[0].name).toBe('db-acmg');

    expect((await install(kube, 'istio')).failures).toEqual([]);
    expect(await routing(kube)).toEqual(ISTIO_FORM);
    expect(kube.peek('v1', 'Service', 'acmg-shop', 'istio-system')!.spec.clusterIP).toBe(doorIP);
  });

  test("a user's VirtualService the Gateway API would not carry refuses the switch, naming it, and nothing is written", async () => {
    const userVs: KObject = {
      apiVersion: ISTIO,
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'shop' },
      spec: { hosts: ['reviews'], http: [{ timeout: '2s', route: [{ destination: { host: 'reviews' } }] }] },
    };
    const kube = await migratedCluster('istio', [userVs]);
    const before = await routing(kube);
    const { failures } = await install(kube, 'gateway-api');
    expect(failures.map((f) => f.detail)).toEqual([
      expect.stringMatching(/^shop\/reviews: with routing\.api gateway-api, VirtualService shop\/reviews routes reviews for sidecars/),
    ]);
    expect(kube.writes()).toEqual([]);
    expect(await routing(kube)).toEqual(before);
    expect((await readState(kube, 'istio-system')).install!.values.routing.api).toBe('istio');
  });

  test('a switch interrupted after the new routes is finished by install run again, also after the services were rolled back meanwhile', async () => {
    for (const meanwhile of ['nothing', 'rollback'] as const) {
      const kube = await migratedCluster('istio');
      kube.failWhen = (c) =>
        c.verb === 'delete' && c.kind === 'Gateway' && c.apiVersion === ISTIO
          ? new ApiError(503, 'ServiceUnavailable', 'etcd leader changed', 'DELETE', 'Gateway')
          : undefined;
      await expect(install(kube, 'gateway-api')).rejects.toThrow(/etcd leader changed/);
      kube.failWhen = undefined;
      // Both forms live: the new routes and doors, the old ones not yet removed.
      expect((await routing(kube)).gatewayApi.routes).toEqual(GATEWAY_API_FORM.gatewayApi.routes);
      expect((await routing(kube)).istio.routes).toEqual(ISTIO_FORM.istio.routes);
      if (meanwhile === 'rollback') await rollbackMigrations(kube, await loadInstall(kube), ['shop/db', 'shop/reviews'], opts);
      const { plan, failures } = await install(kube, 'gateway-api');
      expect(failures).toEqual([]);
      expect(plan.routingSwitch).toMatchObject({ from: 'istio', to: 'gateway-api', problems: [] });
      expect(await routing(kube)).toEqual(
        meanwhile === 'nothing' ? GATEWAY_API_FORM : { gatewayApi: { gateways: ['acmg-gateway'], routes: [] }, istio: { gateways: [], routes: [] } },
      );
    }
  });
});
