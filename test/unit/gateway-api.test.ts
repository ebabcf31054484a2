// routing.api: gateway-api through the use cases (KubeApi seam): install renders a Gateway API
// Gateway, migrate writes an HTTPRoute (TCPRoute) per service port at the namespace's door and
// carries the user's GAMMA HTTPRoutes, rollback and purge take them away, and the two APIs never
// mix. The e2e test gateway-api.test.ts proves the same on the real API server and istiod.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { AcmgError, ExitCode } from '../../src/errors.js';
import { ApiError } from '../../src/kube/api.js';
import type { KObject } from '../../src/model/object.js';
import { loadInstall } from '../../src/ops/install-record.js';
import { applyMigration, describeMigration, planMigration } from '../../src/ops/migrate/index.js';
import { runController } from '../../src/ops/controller.js';
import { rollbackMigrations } from '../../src/ops/rollback.js';
import { reconcile } from '../../src/ops/sync.js';
import { applyUninstall, planUninstall } from '../../src/ops/uninstall.js';
import { resolveValues } from '../../src/profile/load.js';
import { GATEWAY_API_VERSION } from '../../src/render/gateway-api.js';
import { grpcPathMatch, renderGatewayApiRoutes } from '../../src/render/gateway-api-routes.js';
import { renderServiceRouting } from '../../src/render/gateway-routes.js';
import { renderManifests } from '../../src/render/index.js';
import { renderNamespaceGateway } from '../../src/render/namespace-gateway.js';
import { MemoryKube, recordInstall } from './memory-kube.js';

const NS = (name: string, labels: Record<string, string> = {}): KObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const svc = (namespace: string, name: string, ports: object[]): KObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace, labels: { app: name } },
  spec: { selector: { app: name }, ports },
});
/** A user's GAMMA HTTPRoute in shop: parentRefs the Service. */
const meshRoute = (name: string, spec: object): KObject => ({
  apiVersion: GATEWAY_API_VERSION,
  kind: 'HTTPRoute',
  metadata: { name, namespace: 'shop' },
  spec,
});
/** The user's GAMMA route for reviews: jason to reviews-v2, the rest to reviews. */
const jasonToV2 = () =>
  meshRoute('reviews', {
    parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }],
    rules: [
      { matches: [{ headers: [{ name: 'end-user', value: 'jason' }] }], backendRefs: [{ name: 'reviews-v2', port: 9080 }] },
      { backendRefs: [{ name: 'reviews', port: 9080 }] },
    ],
  });
/** The backends of acmg's route for reviews, rule by rule. */
const backendsOf = (kube: { peek: MemoryKube['peek'] }) =>
  kube.peek(GATEWAY_API_VERSION, 'HTTPRoute', 'acmg-reviews-9080', 'shop')!.spec.rules.map((r: any) => r.backendRefs.map((b: any) => b.name).join(','));
const HOST_RE = '(?i)^reviews(\\.shop(\\.svc(\\.cluster\\.local\\.?)?)?)?(:[0-9]+)?$';

async function installedCluster(api: 'istio' | 'gateway-api' = 'gateway-api'): Promise<MemoryKube> {
  const kube = new MemoryKube();
  const coredns = yaml.load(readFileSync(join(process.cwd(), 'hack/layouts/kubeadm.yaml'), 'utf8')) as KObject;
  const doc = resolveValues({ profile: 'minimal', sets: [`routing.api=${api}`] });
  const objects = renderManifests(doc, { clusterDomain: 'cluster.local', version: '0.0.0-test' });
  kube.seed(
    NS('istio-system'),
    NS('kube-system'),
    NS('shop', { 'istio-injection': 'enabled' }),
    coredns,
    ...objects,
    svc('shop', 'reviews', [{ name: 'http', port: 9080, targetPort: 9080 }]),
    svc('shop', 'reviews-v2', [{ name: 'http', port: 9080, targetPort: 9080 }]),
    svc('shop', 'db', [{ name: 'tcp-db', port: 5432 }]),
  );
  await recordInstall(kube, doc.spec, objects);
  kube.calls.splice(0);
  return kube;
}

const task = async <T>(_title: string, fn: (update: (t: string) => void) => Promise<T>) => fn(() => {});
const opts = { dnsTimeoutMs: 1000, readinessTimeoutMs: 1000, task };

describe('rendering', () => {
  test("install renders a Gateway API Gateway of class istio on the gateway's Service, and no Istio Gateway", () => {
    const doc = resolveValues({ profile: 'minimal', sets: ['routing.api=gateway-api'] });
    const gws = renderManifests(doc, { clusterDomain: 'cluster.local', version: 't' }).filter((o) => o.kind === 'Gateway');
    expect(gws.map((g) => g.apiVersion)).toEqual([GATEWAY_API_VERSION]);
    expect(gws[0]!.spec).toEqual({
      gatewayClassName: 'istio',
      addresses: [{ type: 'Hostname', value: 'acmg-gateway' }],
      listeners: [{ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } }],
    });
  });

  test('istioGateway.hosts "ns/*" entries become a namespace selector; a DNS name is refused with the Gateway API', () => {
    const doc = resolveValues({ profile: 'minimal', sets: ['routing.api=gateway-api', 'istioGateway.hosts=[team-b/*,team-a/*]'] });
    const gw = renderManifests(doc, { clusterDomain: 'cluster.local', version: 't' }).find((o) => o.kind === 'Gateway')!;
    expect(gw.spec.listeners[0].allowedRoutes).toEqual({
      namespaces: { from: 'Selector', selector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['team-a', 'team-b'] }] } },
    });
    expect(() => resolveValues({ profile: 'minimal', sets: ['routing.api=gateway-api', 'istioGateway.hosts=[shop.example.com]'] })).toThrow(
      /istioGateway.hosts: "shop.example.com" with routing.api gateway-api: use "\*" or "namespace\/\*"/,
    );
  });

  test("a namespace's door is a Gateway on its door Service: a listener per service port, taking that namespace's routes only", () => {
    const [door, gw] = renderNamespaceGateway({
      namespace: 'shop',
      installNamespace: 'istio-system',
      selector: { istio: 'acmg-gateway' },
      listeners: [
        { port: 9080, protocol: 'HTTP', listenerPort: 20000 },
        { port: 5432, protocol: 'TCP', listenerPort: 20001 },
      ],
      version: 't',
      api: 'gateway-api',
    });
    expect(door!.spec.ports).toEqual([
      { name: 'tcp-5432', port: 5432, targetPort: 20001, protocol: 'TCP' },
      { name: 'tcp-9080', port: 9080, targetPort: 20000, protocol: 'TCP' },
    ]);
    expect(gw!.apiVersion).toBe(GATEWAY_API_VERSION);
    expect(gw!.spec.addresses).toEqual([{ type: 'Hostname', value: 'acmg-shop' }]);
    const only = { namespaces: { from: 'Selector', selector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } } };
    expect(gw!.spec.listeners).toEqual([
      { name: 'tcp-5432', port: 5432, protocol: 'TCP', allowedRoutes: { ...only, kinds: [{ group: 'gateway.networking.k8s.io', kind: 'TCPRoute' }] } },
      { name: 'http-9080', port: 9080, protocol: 'HTTP', allowedRoutes: { ...only, kinds: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }] } },
    ]);
  });

  test("without a user route: an HTTPRoute matching the service's names by Host, a TCPRoute for a TCP port, the CRDs' defaults spelled out", () => {
    const r = renderGatewayApiRoutes({
      service: 'reviews',
      namespace: 'shop',
      clusterDomain: 'cluster.local',
      gateway: { namespace: 'istio-system', name: 'acmg-shop' },
      destination: 'reviews-acmg',
      ports: [
        { name: 'http', port: 9080, protocol: 'HTTP', listenerPort: 20000 },
        { name: 'tcp', port: 7000, protocol: 'TCP', listenerPort: 20001 },
      ],
      userRoutes: [],
      version: 't',
    });
    expect(r.refused).toEqual([]);
    expect(r.objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      'HTTPRoute shop/acmg-reviews-9080',
      'TCPRoute shop/acmg-reviews-7000',
    ]);
    expect(r.objects[0]!.spec).toEqual({
      parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'istio-system', name: 'acmg-shop', sectionName: 'http-9080' }],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'Host', type: 'RegularExpression', value: HOST_RE }] }],
          backendRefs: [{ group: '', kind: 'Service', weight: 1, name: 'reviews-acmg', port: 9080 }],
        },
      ],
    });
    expect(r.objects[1]!.spec.rules).toEqual([{ backendRefs: [{ group: '', kind: 'Service', weight: 1, name: 'reviews-acmg', port: 7000 }] }]);
    const host = new RegExp(HOST_RE.replace('(?i)', ''), 'i');
    for (const name of ['reviews', 'reviews:9080', 'reviews.shop', 'REVIEWS.shop.svc', 'reviews.shop.svc.cluster.local.']) expect(name).toMatch(host);
    for (const name of ['reviews2', 'reviews.other', 'ratings']) expect(name).not.toMatch(host);
  });
});

describe('migrate and rollback', () => {
  test("the user's GAMMA HTTPRoute is carried to the door, each match narrowed by Host; its backendRef to the service goes to the replacement", async () => {
    const kube = await installedCluster();
    kube.seed(
      meshRoute('reviews', {
        parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }],
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ type: 'Exact', name: 'end-user', value: 'jason' }] }],
            backendRefs: [{ group: '', kind: 'Service', name: 'reviews-v2', port: 9080, weight: 1 }],
          },
          { backendRefs: [{ name: 'reviews', port: 9080 }], timeouts: { request: '2s' } },
        ],
      }),
    );
    const plan = await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'replace-service' });
    expect(plan.ruleChanges).toEqual([]);
    expect(describeMigration(plan).join('\n')).toMatch(
      /create HTTPRoute shop\/acmg-reviews-9080 at the door of shop, port 9080 \(.*with the rules of HTTPRoute shop\/reviews\)/,
    );
    await applyMigration(kube, plan, opts);
    expect(kube.peek('networking.istio.io/v1', 'VirtualService', 'acmg-reviews', 'shop')).toBeUndefined();
    const route = kube.peek(GATEWAY_API_VERSION, 'HTTPRoute', 'acmg-reviews-9080', 'shop')!;
    const host = { name: 'Host', type: 'RegularExpression', value: HOST_RE };
    expect(route.spec.rules).toEqual([
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ type: 'Exact', name: 'end-user', value: 'jason' }, host] }],
        backendRefs: [{ group: '', kind: 'Service', name: 'reviews-v2', port: 9080, weight: 1 }],
      },
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [host] }],
        backendRefs: [{ group: '', kind: 'Service', weight: 1, name: 'reviews-acmg', port: 9080 }],
        timeouts: { request: '2s' },
      },
    ]);
    // The user's own route is never touched; the door is a Gateway API Gateway, no Istio Gateway.
    expect(kube.writes().filter((w) => w.includes('HTTPRoute shop/reviews'))).toEqual([]);
    expect(kube.peek(GATEWAY_API_VERSION, 'Gateway', 'acmg-shop', 'istio-system')).toBeDefined();
    expect(kube.peek('networking.istio.io/v1', 'Gateway', 'acmg-shop', 'istio-system')).toBeUndefined();

    // acmg sync finds nothing to change in what migrate wrote (the fingerprints agree).
    const sync = await reconcile(kube);
    expect(sync.routes).toEqual([]);

    await rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews'], opts);
    expect(kube.peek(GATEWAY_API_VERSION, 'HTTPRoute', 'acmg-reviews-9080', 'shop')).toBeUndefined();
    expect(kube.peek(GATEWAY_API_VERSION, 'Gateway', 'acmg-shop', 'istio-system')).toBeUndefined();
    expect(kube.peek(GATEWAY_API_VERSION, 'HTTPRoute', 'reviews', 'shop')).toBeDefined();
    expect(kube.peek('v1', 'Service', 'reviews', 'shop')).toBeDefined();
  });

  test('--replace-service: a carried rule that sends to another replaced Service goes to its replacement, in one run or across runs, and back on rollback', async () => {
    const kube = await installedCluster();
    kube.seed(jasonToV2());
    const backends = () => backendsOf(kube);
    const migrate = async (services: string[]) =>
      applyMigration(kube, await planMigration(kube, { services, namespace: 'shop' }, { approach: 'replace-service' }), opts);

    // One run: reviews-v2 is replaced too, so jason's rule goes to its replacement.
    await migrate(['reviews', 'reviews-v2']);
    expect(backends()).toEqual(['reviews-v2-acmg', 'reviews-acmg']);
    await rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews-v2'], opts);
    // reviews-v2 is back: so is jason's rule, before the replacement went.
    expect(backends()).toEqual(['reviews-v2', 'reviews-acmg']);
    expect(kube.peek('v1', 'Service', 'reviews-v2', 'shop')).toBeDefined();
    // Another run replaces reviews-v2 later: reviews's route follows, before the original is deleted.
    await migrate(['reviews-v2']);
    expect(backends()).toEqual(['reviews-v2-acmg', 'reviews-acmg']);
    const w = kube.writes();
    expect(w.lastIndexOf('apply HTTPRoute shop/acmg-reviews-9080')).toBeLessThan(w.lastIndexOf('delete Service shop/reviews-v2'));
  });

  test("--replace-service of reviews-v2 while reviews is on approach 1: reviews's carried rule follows to the replacement, and back to reviews-v2 on its rollback", async () => {
    const kube = await installedCluster();
    kube.seed(jasonToV2());
    const backends = () => backendsOf(kube);
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts);
    await applyMigration(kube, await planMigration(kube, { services: ['reviews-v2'], namespace: 'shop' }, { approach: 'replace-service' }), opts);
    expect(backends()).toEqual(['reviews-v2-acmg', 'reviews']);
    await rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews-v2'], opts);
    // reviews-v2 is back and its replacement gone: jason's rule sends to reviews-v2 again.
    expect(kube.peek('v1', 'Service', 'reviews-v2-acmg', 'shop')).toBeUndefined();
    expect(backends()).toEqual(['reviews-v2', 'reviews']);
    const w = kube.writes();
    expect(w.lastIndexOf('apply HTTPRoute shop/acmg-reviews-9080')).toBeLessThan(w.lastIndexOf('delete Service shop/reviews-v2-acmg'));
  });

  test('a held route (a GAMMA TLSRoute for reviews was added, which the gateway cannot carry) keeps its rules, but follows reviews-v2 to its replacement and back', async () => {
    const kube = await installedCluster();
    kube.seed(jasonToV2());
    const route = () => kube.peek(GATEWAY_API_VERSION, 'HTTPRoute', 'acmg-reviews-9080', 'shop')!;
    const backends = () => backendsOf(kube);
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts);
    kube.seed({
      apiVersion: GATEWAY_API_VERSION,
      kind: 'TLSRoute',
      metadata: { name: 'reviews-tls', namespace: 'shop' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] },
    });
    // The user also edits the HTTPRoute: held, the gateway keeps the rules it had.
    const user = kube.peek(GATEWAY_API_VERSION, 'HTTPRoute', 'reviews', 'shop')!;
    kube.seed({ ...user, spec: { ...user.spec, rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] } });
    const sync = await reconcile(kube, { dryRun: true });
    expect(sync.warnings).toEqual([expect.stringMatching(/shop\/reviews: not carrying the edit to the gateway.*TLSRoute shop\/reviews-tls/)]);
    const rulesBefore = route().spec.rules.length;
    await applyMigration(kube, await planMigration(kube, { services: ['reviews-v2'], namespace: 'shop' }, { approach: 'replace-service' }), opts);
    // The held rules, with jason's destination following reviews-v2 (deleted) to its replacement.
    expect(backends()).toEqual(['reviews-v2-acmg', 'reviews']);
    expect(route().spec.rules.length).toBe(rulesBefore);
    expect(kube.peek('v1', 'Service', 'reviews-v2', 'shop')).toBeUndefined();
    await rollbackMigrations(kube, await loadInstall(kube), ['shop/reviews-v2'], opts);
    expect(backends()).toEqual(['reviews-v2', 'reviews']);
  });

  test("acmg sync follows an edit of the user's GAMMA HTTPRoute to the gateway, and a hand edit of acmg's route back", async () => {
    const kube = await installedCluster();
    const jasonTo = (backend: string) =>
      meshRoute('reviews', {
        parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }],
        rules: [{ matches: [{ headers: [{ name: 'end-user', value: 'jason' }] }], backendRefs: [{ name: backend, port: 9080 }] }],
      });
    kube.seed(jasonTo('reviews-v2'));
    await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts);
    const jason = () => kube.peek(GATEWAY_API_VERSION, 'HTTPRoute', 'acmg-reviews-9080', 'shop')!.spec.rules[0].backendRefs[0].name;
    expect(jason()).toBe('reviews-v2');
    kube.seed(jasonTo('reviews'));
    expect((await reconcile(kube)).routes).toEqual(['apply HTTPRoute shop/acmg-reviews-9080']);
    expect(jason()).toBe('reviews');
    const route = kube.peek(GATEWAY_API_VERSION, 'HTTPRoute', 'acmg-reviews-9080', 'shop')!;
    kube.seed({ ...route, spec: { ...route.spec, rules: [] } });
    expect((await reconcile(kube)).routes).toEqual(['apply HTTPRoute shop/acmg-reviews-9080']);
    expect(jason()).toBe('reviews');
  });

  test('a TCP service gets a TCPRoute on its own door listener; purge removes every Gateway API object acmg made', async () => {
    const kube = await installedCluster();
    const plan = await planMigration(kube, { services: ['db'], namespace: 'shop' }, { approach: 'keep-service' });
    await applyMigration(kube, plan, opts);
    const route = kube.peek(GATEWAY_API_VERSION, 'TCPRoute', 'acmg-db-5432', 'shop')!;
    expect(route.spec.parentRefs[0].sectionName).toBe('tcp-5432');
    const un = await planUninstall(kube, { purge: true });
    await applyUninstall(kube, un, opts);
    for (const [kind, name, ns] of [
      ['TCPRoute', 'acmg-db-5432', 'shop'],
      ['Gateway', 'acmg-shop', 'istio-system'],
      ['Gateway', 'acmg-gateway', 'istio-system'],
    ] as const)
      expect(kube.peek(GATEWAY_API_VERSION, kind, name, ns)).toBeUndefined();
  });

  test('a mesh VirtualService for the service is named with the Gateway API (not carried), a GAMMA HTTPRoute with the Istio API', async () => {
    const vs: KObject = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'shop' },
      spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] },
    };
    const hr = meshRoute('reviews', {
      parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }],
      rules: [{ backendRefs: [{ name: 'reviews-v2', port: 9080 }] }],
    });
    const base = {
      service: 'reviews',
      namespace: 'shop',
      approach: 'keep-service' as const,
      clusterDomain: 'cluster.local',
      installNamespace: 'istio-system',
      replacementSuffix: '-acmg',
      ports: [{ name: 'http', port: 9080, protocol: 'HTTP' as const, listenerPort: 20000 }],
      destinationRules: [],
      version: 't',
    };
    const gatewayApi = renderServiceRouting({ ...base, api: 'gateway-api', virtualServices: [vs], httpRoutes: [hr] });
    expect(gatewayApi.refused.map((x) => x.message)).toEqual([
      expect.stringMatching(/^VirtualService shop\/reviews routes reviews for sidecars: with routing.api gateway-api/),
    ]);
    const istio = renderServiceRouting({ ...base, api: 'istio', virtualServices: [vs], httpRoutes: [hr] });
    expect(istio.refused.map((x) => x.message)).toEqual([
      expect.stringMatching(/^HTTPRoute shop\/reviews routes reviews for the mesh \(GAMMA\): with routing.api istio/),
    ]);

    // Through migrate: refused (exit 2) unless accepted, and nothing is written.
    const kube = await installedCluster();
    kube.seed(vs);
    await expect(planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' })).rejects.toThrow(/--accept-rule-changes/);
    expect(kube.writes()).toEqual([]);
  });

  test.each(['gateway-api', 'istio'] as const)(
    "with routing.api %s, the user's GAMMA routes of the kinds it does not carry (TLSRoutes; GRPCRoutes and TCPRoutes with Istio's) are named, not dropped: refused (exit 2, nothing written) unless accepted",
    async (api) => {
      const kube = await installedCluster(api);
      const gamma = (kind: string, name: string, service: string, rules: object[]): KObject => ({
        apiVersion: GATEWAY_API_VERSION,
        kind,
        metadata: { name, namespace: 'shop' },
        spec: { parentRefs: [{ group: '', kind: 'Service', name: service }], rules },
      });
      kube.seed(
        gamma('GRPCRoute', 'reviews-grpc', 'reviews', [
          { matches: [{ method: { type: 'Exact', service: 'shop.Reviews' } }], backendRefs: [{ name: 'reviews-v2', port: 9080 }] },
        ]),
        gamma('TCPRoute', 'db-split', 'db', [{ backendRefs: [{ name: 'db', port: 5432, weight: 90 }] }]),
        gamma('TLSRoute', 'reviews-tls', 'reviews', [{ backendRefs: [{ name: 'reviews', port: 9080 }] }]),
        // Another service's route is not this migration's business.
        gamma('GRPCRoute', 'other', 'reviews-v2', [{ backendRefs: [{ name: 'reviews-v2', port: 9080 }] }]),
      );
      kube.calls.splice(0);
      const e = (await planMigration(kube, { services: ['reviews', 'db'], namespace: 'shop' }, { approach: 'keep-service' }).catch((x) => x)) as AcmgError;
      expect(e).toBeInstanceOf(AcmgError);
      expect(e.code).toBe(ExitCode.Usage);
      const refused = [
        ...(api === 'istio' ? ['GRPCRoute shop/reviews-grpc routes reviews for the mesh (GAMMA)'] : []),
        'TLSRoute shop/reviews-tls routes reviews for the mesh (GAMMA)',
        ...(api === 'istio' ? ['TCPRoute shop/db-split routes db for the mesh (GAMMA)'] : []),
      ];
      expect(e.problems.map((p) => p.split(':')[0])).toEqual(refused);
      expect(e.problems[0]).toMatch(/acmg does not carry (GRPC|TLS)Routes to the gateway.*--accept-rule-changes migrates anyway, without that route's rules/);
      expect(kube.writes()).toEqual([]);
      const plan = await planMigration(kube, { services: ['reviews', 'db'], namespace: 'shop' }, { approach: 'keep-service', acceptRuleChanges: true });
      expect(plan.ruleChanges).toHaveLength(refused.length);
      // With the Gateway API the GRPCRoute is carried: the route at the door has its rule, by path.
      if (api === 'gateway-api') {
        expect(plan.candidates.find((c) => c.service.metadata.name === 'reviews')!.userRoutes.map((r) => `${r.kind} ${r.metadata.name}`)).toEqual([
          'GRPCRoute reviews-grpc',
        ]);
        await applyMigration(kube, plan, opts);
        expect(kube.peek(GATEWAY_API_VERSION, 'HTTPRoute', 'acmg-reviews-9080', 'shop')!.spec.rules).toEqual([
          {
            matches: [{ path: { type: 'PathPrefix', value: '/shop.Reviews/' }, headers: [{ name: 'Host', type: 'RegularExpression', value: HOST_RE }] }],
            backendRefs: [{ group: '', kind: 'Service', weight: 1, name: 'reviews-v2', port: 9080 }],
          },
        ]);
        // And the TCPRoute: its backends and weights at db's door listener.
        expect(kube.peek(GATEWAY_API_VERSION, 'TCPRoute', 'acmg-db-5432', 'shop')!.spec.rules).toEqual([
          { backendRefs: [{ group: '', kind: 'Service', weight: 90, name: 'db', port: 5432 }] },
        ]);
      }
    },
  );

  test("a GAMMA TCPRoute is carried to the door's TCPRoute: its backends and weights, the service itself sent to its replacement (approach 2); two for one port are refused", () => {
    const tcp = (name: string, created: string): KObject => ({
      apiVersion: GATEWAY_API_VERSION,
      kind: 'TCPRoute',
      metadata: { name, namespace: 'shop', creationTimestamp: created },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'db', port: 5432 }],
        rules: [
          {
            backendRefs: [
              { name: 'db', port: 5432, weight: 90 },
              { name: 'db-v2', port: 5432, weight: 10 },
            ],
          },
        ],
      },
    });
    const render = (userRoutes: KObject[]) =>
      renderGatewayApiRoutes({
        service: 'db',
        namespace: 'shop',
        clusterDomain: 'cluster.local',
        gateway: { namespace: 'istio-system', name: 'acmg-shop' },
        destination: 'db-acmg',
        ports: [{ name: 'tcp-db', port: 5432, protocol: 'TCP', listenerPort: 20001 }],
        userRoutes,
        version: 't',
      });
    const one = render([tcp('db-split', '2026-01-01T00:00:00Z')]);
    expect(one.refused).toEqual([]);
    expect(one.objects.map((o) => [o.kind, o.spec.rules])).toEqual([
      [
        'TCPRoute',
        [
          {
            backendRefs: [
              { group: '', kind: 'Service', weight: 90, name: 'db-acmg', port: 5432 },
              { group: '', kind: 'Service', weight: 10, name: 'db-v2', port: 5432 },
            ],
          },
        ],
      ],
    ]);
    expect(render([tcp('db-split', '2026-01-01T00:00:00Z'), tcp('db-other', '2026-01-02T00:00:00Z')]).refused.map((x) => x.message)).toEqual([
      expect.stringMatching(/^TCPRoute shop\/db-split: 2 TCPRoutes route port 5432 of db; acmg carries one/),
      expect.stringMatching(/^TCPRoute shop\/db-other: 2 TCPRoutes route port 5432 of db/),
    ]);
  });

  test("a route made of the user's rules that the API server would refuse (a CRD limit: 16 headers a match, once Host is added) is a plan problem: exit 2, nothing written", async () => {
    const kube = await installedCluster();
    const headers = Array.from({ length: 16 }, (_, k) => ({ name: `x-h${k}`, value: 'y' }));
    kube.seed(meshRoute('reviews-many', { parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }], rules: [{ matches: [{ headers }] }] }));
    // The API server's answer to a dry run of acmg's route (a rendered match with 17 headers).
    kube.failWhen = (c, o) =>
      c.dryRun && c.kind === 'HTTPRoute' && o?.spec.rules[0].matches[0].headers.length > 16
        ? new ApiError(
            422,
            'Invalid',
            'HTTPRoute.gateway.networking.k8s.io "acmg-reviews-9080" is invalid: spec.rules[0].matches[0].headers: Too many: 17: must have at most 16 items',
            'PATCH',
            '/apis/x',
          )
        : undefined;
    kube.calls.splice(0);
    const e = (await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service', acceptRuleChanges: true }).catch(
      (x) => x,
    )) as AcmgError;
    expect(e).toBeInstanceOf(AcmgError);
    expect(e.code).toBe(ExitCode.Usage);
    expect(e.problems).toEqual([
      'HTTPRoute shop/acmg-reviews-9080, made of the rules of HTTPRoute shop/reviews-many, is refused by the API server: HTTPRoute.gateway.networking.k8s.io "acmg-reviews-9080" is invalid: spec.rules[0].matches[0].headers: Too many: 17: must have at most 16 items (fewer rules or matches in those routes: acmg adds a Host header match to each)',
    ]);
    expect(kube.writes()).toEqual([]);
    expect(kube.calls.filter((c) => c.dryRun).map((c) => `${c.kind} ${c.name}`)).toEqual(['HTTPRoute acmg-reviews-9080']);
  });

  test('an HTTPRoute or GRPCRoute on a port the gateway carries as TCP (an unnamed port a sidecar would sniff) is named, not dropped in silence', () => {
    const route = (kind: string, name: string): KObject => ({
      apiVersion: GATEWAY_API_VERSION,
      kind,
      metadata: { name, namespace: 'shop', creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'db' }], rules: [{ backendRefs: [{ name: 'db-v2', port: 5432 }] }] },
    });
    const out = renderGatewayApiRoutes({
      service: 'db',
      namespace: 'shop',
      clusterDomain: 'cluster.local',
      gateway: { namespace: 'istio-system', name: 'acmg-shop' },
      destination: 'db',
      ports: [{ name: '', port: 5432, protocol: 'TCP', listenerPort: 20001 }],
      userRoutes: [route('HTTPRoute', 'db-http'), route('GRPCRoute', 'db-grpc')],
      version: 't',
    });
    expect(out.refused.map((x) => [x.key, x.message])).toEqual([
      [
        'HTTPRoute shop/db-http http-route-on-tcp-port',
        expect.stringMatching(/^HTTPRoute shop\/db-http routes port 5432 of db, which the gateway carries as TCP \(port name ""\)/),
      ],
      [
        'GRPCRoute shop/db-grpc http-route-on-tcp-port',
        expect.stringMatching(/^GRPCRoute shop\/db-grpc routes port 5432 of db, which the gateway carries as TCP/),
      ],
    ]);
    // The door's TCPRoute goes to the service itself, as before.
    expect(out.objects.map((o) => o.spec.rules)).toEqual([[{ backendRefs: [{ group: '', kind: 'Service', weight: 1, name: 'db', port: 5432 }] }]]);
  });

  test('a GRPCRoute match becomes the HTTPRoute match istiod makes of it: /service/method exact, a service alone its prefix, a method alone or a regular expression a regular expression', () => {
    expect(
      [
        { type: 'Exact', service: 'shop.Reviews', method: 'Get' },
        { type: 'Exact', service: 'shop.Reviews' },
        { type: 'Exact', method: 'Get' },
        { service: 'shop.Reviews', method: 'Get' },
        { type: 'RegularExpression', service: 'shop\\.Rev.*', method: 'G.t' },
        { type: 'RegularExpression', service: 'shop\\.Reviews' },
        { type: 'RegularExpression', method: 'G.t' },
        undefined,
      ].map(grpcPathMatch),
    ).toEqual([
      { type: 'Exact', value: '/shop.Reviews/Get' },
      { type: 'PathPrefix', value: '/shop.Reviews/' },
      { type: 'RegularExpression', value: '/[^/]+/Get' },
      { type: 'Exact', value: '/shop.Reviews/Get' },
      { type: 'RegularExpression', value: '/shop\\.Rev.*/G.t' },
      { type: 'RegularExpression', value: '/shop\\.Reviews/.+' },
      { type: 'RegularExpression', value: '/[^/]+/G.t' },
      undefined,
    ]);
  });

  test("a GAMMA GRPCRoute is carried as HTTPRoute rules: headers, filters, weights and mirrors kept, the service's names matched by Host; where the gateway would order rules otherwise than the sidecars, it is refused", () => {
    const grpc = (name: string, rules: object[]): KObject => ({
      apiVersion: GATEWAY_API_VERSION,
      kind: 'GRPCRoute',
      metadata: { name, namespace: 'shop', creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }], rules },
    });
    const render = (userRoutes: KObject[]) =>
      renderGatewayApiRoutes({
        service: 'reviews',
        namespace: 'shop',
        clusterDomain: 'cluster.local',
        gateway: { namespace: 'istio-system', name: 'acmg-shop' },
        destination: 'reviews',
        ports: [{ name: 'grpc', port: 9080, protocol: 'GRPC', listenerPort: 20000 }],
        userRoutes,
        version: 't',
      });
    const host = { name: 'Host', type: 'RegularExpression', value: HOST_RE };
    const r = render([
      grpc('reviews-grpc', [
        {
          matches: [{ method: { type: 'Exact', service: 'shop.Reviews', method: 'Get' }, headers: [{ type: 'Exact', name: 'end-user', value: 'jason' }] }],
          filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'reviews', port: 9080 } } }],
          backendRefs: [
            { name: 'reviews-v2', port: 9080, weight: 80 },
            { name: 'reviews-v3', port: 9080, weight: 20 },
          ],
        },
        // No match: every call (the sidecars rank it last; no regular expression here, so the gateway does too).
        { backendRefs: [{ name: 'reviews', port: 9080 }] },
      ]),
    ]);
    expect(r.refused).toEqual([]);
    expect(r.objects[0]!.spec.rules).toEqual([
      {
        matches: [{ path: { type: 'Exact', value: '/shop.Reviews/Get' }, headers: [{ type: 'Exact', name: 'end-user', value: 'jason' }, host] }],
        filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { group: '', kind: 'Service', name: 'reviews', port: 9080 } } }],
        backendRefs: [
          { group: '', kind: 'Service', weight: 80, name: 'reviews-v2', port: 9080 },
          { group: '', kind: 'Service', weight: 20, name: 'reviews-v3', port: 9080 },
        ],
      },
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [host] }],
        backendRefs: [{ group: '', kind: 'Service', weight: 1, name: 'reviews', port: 9080 }],
      },
    ]);

    // A match without a method beside a regular-expression one: the gateway would rank "/" above the expression.
    const regex = render([
      grpc('reviews-grpc', [
        { matches: [{ method: { type: 'RegularExpression', method: 'List.*' } }], backendRefs: [{ name: 'reviews-v2', port: 9080 }] },
        { matches: [{ headers: [{ type: 'Exact', name: 'end-user', value: 'jason' }] }], backendRefs: [{ name: 'reviews-v3', port: 9080 }] },
      ]),
    ]);
    expect(regex.refused.map((x) => x.message)).toEqual([
      expect.stringMatching(/^GRPCRoute shop\/reviews-grpc: a match without a method beside a regular-expression method match/),
    ]);
    // An HTTPRoute and a GRPCRoute for the same port: not carried together.
    const mixed = render([
      grpc('reviews-grpc', [{ backendRefs: [{ name: 'reviews', port: 9080 }] }]),
      meshRoute('reviews-http', { parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }], rules: [] }),
    ]);
    expect(mixed.refused.map((x) => x.message)).toEqual([
      expect.stringMatching(
        /^GRPCRoute shop\/reviews-grpc and HTTPRoute shop\/reviews-http both route port 9080 of reviews: the sidecars rank their rules together/,
      ),
    ]);
  });

  test.each(['gateway-api', 'istio'] as const)(
    'with routing.api %s, a GAMMA route of a cluster whose older Gateway API serves its kind only at an alpha version is named all the same, not skipped',
    async (api) => {
      const kube = await installedCluster(api);
      // A Gateway API before TCPRoute and TLSRoute reached v1: their lists at v1 are a 404.
      kube.failWhen = (c) =>
        (c.kind === 'TCPRoute' || c.kind === 'TLSRoute') && c.apiVersion === GATEWAY_API_VERSION
          ? new ApiError(404, 'NotFound', 'the server could not find the requested resource', 'GET', c.kind)
          : undefined;
      const alpha = (kind: string, version: string, name: string, service: string, port: number): KObject => ({
        apiVersion: `gateway.networking.k8s.io/${version}`,
        kind,
        metadata: { name, namespace: 'shop' },
        spec: { parentRefs: [{ group: '', kind: 'Service', name: service }], rules: [{ backendRefs: [{ name: service, port }] }] },
      });
      kube.seed(alpha('TCPRoute', 'v1alpha2', 'db-split', 'db', 5432), alpha('TLSRoute', 'v1alpha3', 'reviews-tls', 'reviews', 9080));
      const e = (await planMigration(kube, { services: ['reviews', 'db'], namespace: 'shop' }, { approach: 'keep-service' }).catch((x) => x)) as AcmgError;
      expect(e).toBeInstanceOf(AcmgError);
      expect(e.code).toBe(ExitCode.Usage);
      // (With the Gateway API the TCPRoute is carried, not named: but this cluster does not serve
      // the v1 TCPRoute acmg writes at the door, and the dry run of it says so before anything is written.)
      expect(e.problems.map((p) => p.split(':')[0])).toEqual([
        ...(api === 'gateway-api' ? ['TCPRoute shop/acmg-db-5432'] : []),
        'TLSRoute shop/reviews-tls routes reviews for the mesh (GAMMA)',
        ...(api === 'istio' ? ['TCPRoute shop/db-split routes db for the mesh (GAMMA)'] : []),
      ]);
      expect(kube.writes()).toEqual([]);
    },
  );

  test.each(['gateway-api', 'istio'] as const)(
    "with routing.api %s, a GAMMA GRPCRoute added after a migration: acmg sync carries it to the gateway (Gateway API), or names it and leaves the gateway's route as it was (Istio's)",
    async (api) => {
      const kube = await installedCluster(api);
      await applyMigration(kube, await planMigration(kube, { services: ['reviews'], namespace: 'shop' }, { approach: 'keep-service' }), opts);
      expect((await reconcile(kube)).warnings).toEqual([]);
      kube.seed({
        apiVersion: GATEWAY_API_VERSION,
        kind: 'GRPCRoute',
        metadata: { name: 'reviews-grpc', namespace: 'shop' },
        spec: {
          parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }],
          rules: [{ matches: [{ method: { type: 'Exact', service: 'shop.Reviews' } }], backendRefs: [{ name: 'reviews-v2', port: 9080 }] }],
        },
      });
      const writesBefore = kube.writes().length;
      const sync = await reconcile(kube);
      if (api === 'istio') {
        expect(sync.warnings).toEqual([
          expect.stringMatching(
            /^shop\/reviews: not carrying the edit to the gateway, which keeps the rules it had: GRPCRoute shop\/reviews-grpc routes reviews for the mesh \(GAMMA\)/,
          ),
        ]);
        expect(sync.routes).toEqual([]);
        expect(kube.writes().length).toBe(writesBefore);
        return;
      }
      expect({ warnings: sync.warnings, routes: sync.routes }).toEqual({ warnings: [], routes: ['apply HTTPRoute shop/acmg-reviews-9080'] });
      expect(kube.peek(GATEWAY_API_VERSION, 'HTTPRoute', 'acmg-reviews-9080', 'shop')!.spec.rules.map((r: any) => r.matches[0].path)).toEqual([
        { type: 'PathPrefix', value: '/shop.Reviews/' },
      ]);
      expect((await reconcile(kube)).routes).toEqual([]);
    },
  );

  test("the controller (acmg sync --watch) reads the GAMMA kinds too, with Istio's API: a GAMMA TCPRoute for a migrated service served only at v1alpha2 is named", async () => {
    const kube = await installedCluster('istio');
    await applyMigration(kube, await planMigration(kube, { services: ['db'], namespace: 'shop' }, { approach: 'keep-service' }), opts);
    kube.failWhen = (c) =>
      c.kind === 'TCPRoute' && c.apiVersion === GATEWAY_API_VERSION
        ? new ApiError(404, 'NotFound', 'the server could not find the requested resource', 'GET', c.kind)
        : undefined;
    kube.seed({
      apiVersion: 'gateway.networking.k8s.io/v1alpha2',
      kind: 'TCPRoute',
      metadata: { name: 'db-split', namespace: 'shop' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'db' }], rules: [{ backendRefs: [{ name: 'db', port: 5432, weight: 90 }] }] },
    });
    // Watches replay what there is, then stay open until the controller stops.
    kube.watchHook = (o) => new Promise((r) => o.signal?.addEventListener('abort', () => r(), { once: true }));
    const logs: string[] = [];
    const ac = new AbortController();
    const run = runController(kube, {
      resyncMs: 60_000,
      debounceMs: 10,
      maxDelayMs: 50,
      healthPort: 0,
      leaderElect: false,
      identity: 'test',
      unhealthyAfterMs: 60_000,
      log: (m: string) => logs.push(m),
      signal: ac.signal,
    });
    try {
      for (let i = 0; i < 300 && !logs.some((l) => l.startsWith('warning:')); i++) await new Promise((r) => setTimeout(r, 10));
    } finally {
      ac.abort();
      await run;
    }
    expect(logs.filter((l) => l.startsWith('warning:'))).toEqual([
      expect.stringMatching(
        /^warning: shop\/db: not carrying the edit to the gateway, which keeps the rules it had: TCPRoute shop\/db-split routes db for the mesh \(GAMMA\)/,
      ),
    ]);
    // Watched at the version served, cluster-wide.
    expect(kube.calls.filter((c) => c.kind === 'TCPRoute' && c.verb === 'watch').map((c) => c.apiVersion)).toEqual(['gateway.networking.k8s.io/v1alpha2']);
  }, 20_000);

  test("acmg sync steers a GRPCRoute's Service backend when its parentRefs name the shared Gateway, as for an HTTPRoute", async () => {
    const kube = await installedCluster();
    kube.seed({
      apiVersion: GATEWAY_API_VERSION,
      kind: 'GRPCRoute',
      metadata: { name: 'reviews-edge', namespace: 'shop' },
      spec: {
        parentRefs: [{ name: 'acmg-gateway', namespace: 'istio-system' }],
        rules: [{ matches: [{ method: { service: 'shop.Reviews' } }], backendRefs: [{ name: 'reviews', port: 9080 }] }],
      },
    });
    const gatewayIP = kube.peek('v1', 'Service', 'acmg-gateway', 'istio-system')!.spec.clusterIP;
    const sync = await reconcile(kube);
    expect(sync.add).toEqual([{ fqdn: 'reviews.shop.svc.cluster.local', ip: gatewayIP }]);
    expect(sync.ports).toContain(9080);
  });

  test('acmg sync works where the GRPCRoute CRD is not installed (an install made before precheck asked for it): there are none to follow', async () => {
    const kube = await installedCluster();
    kube.failWhen = (c) =>
      c.kind === 'GRPCRoute' ? new ApiError(404, 'NotFound', 'the server could not find the requested resource', 'GET', 'GRPCRoute') : undefined;
    const sync = await reconcile(kube);
    expect(sync.warnings).toEqual([]);
    // Asked at v1, then at the alpha version an older Gateway API serves it at; neither is served.
    expect(kube.calls.filter((c) => c.kind === 'GRPCRoute').map((c) => c.apiVersion)).toEqual([GATEWAY_API_VERSION, 'gateway.networking.k8s.io/v1alpha2']);
  });
});

describe('retargetRoute (a held route following approach 2)', () => {
  test("renames a VirtualService's destination and mirror hosts of the route's namespace only, and an HTTPRoute's Service backendRefs and mirror", async () => {
    const { retargetRoute } = await import('../../src/plan/route-follow.js');
    const fq = (n: string, ns = 'shop') => `${n}.${ns}.svc.cluster.local`;
    const vs: KObject = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'acmg-reviews', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'acmg' }, resourceVersion: '7' },
      spec: {
        http: [
          { route: [{ destination: { host: fq('reviews-v2') } }, { destination: { host: fq('reviews-v2', 'other') } }], mirror: { host: fq('reviews-v2') } },
        ],
      },
    };
    const moved = retargetRoute(vs, { 'reviews-v2': 'reviews-v2-acmg' }, 'cluster.local')!;
    expect(moved.spec.http[0].route.map((w: any) => w.destination.host)).toEqual([fq('reviews-v2-acmg'), fq('reviews-v2', 'other')]);
    expect(moved.spec.http[0].mirror.host).toBe(fq('reviews-v2-acmg'));
    expect(moved.metadata).toEqual({ name: 'acmg-reviews', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'acmg' } });
    expect(vs.spec.http[0].route[0].destination.host).toBe(fq('reviews-v2')); // the input is left as it was
    expect(retargetRoute(vs, { ratings: 'ratings-acmg' }, 'cluster.local')).toBeUndefined();

    const hr: KObject = {
      apiVersion: GATEWAY_API_VERSION,
      kind: 'HTTPRoute',
      metadata: { name: 'acmg-reviews-9080', namespace: 'shop' },
      spec: {
        rules: [
          {
            backendRefs: [
              { group: '', kind: 'Service', name: 'reviews-v2-acmg', port: 9080 },
              { group: '', kind: 'Service', name: 'reviews-v2-acmg', namespace: 'other', port: 9080 },
            ],
            filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'reviews-v2-acmg', port: 9080 } } }],
          },
        ],
      },
    };
    const back = retargetRoute(hr, { 'reviews-v2-acmg': 'reviews-v2' }, 'cluster.local')!;
    expect(back.spec.rules[0].backendRefs.map((b: any) => `${b.namespace ?? 'shop'}/${b.name}`)).toEqual(['shop/reviews-v2', 'other/reviews-v2-acmg']);
    expect(back.spec.rules[0].filters[0].requestMirror.backendRef.name).toBe('reviews-v2');
  });
});
