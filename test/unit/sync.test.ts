import type { KObject } from '../../src/model/object.js';
import type { MigrationRecord } from '../../src/model/state.js';
import { boundToGateway, desiredState, namesToCheck, projectService, projectVirtualService, resolveHost } from '../../src/plan/sync.js';

const gw = { namespace: 'istio-system', name: 'acmg-gateway' };
const vs = (ns: string, name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): KObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name, namespace: ns, labels },
  spec,
});
const svc = (ns: string, name: string, ports: Record<string, unknown>[]): [string, KObject] => [
  `${ns}/${name}`,
  { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { ports } },
];
const migration = (ns: string, service: string): MigrationRecord => ({
  namespace: ns,
  service,
  approach: 'keep-service',
  fqdn: `${service}.${ns}.svc.cluster.local`,
  ports: [],
  journal: ['gateway-ports', 'route', 'dns'],
  phase: 'complete',
  migratedAt: '',
});

/** Bound, unbound, TCP, outside-the-cluster and acmg-owned VirtualServices, and the Services they name. */
const MIXED_VSES: KObject[] = [
  vs('shop', 'reviews', {
    gateways: ['istio-system/acmg-gateway'],
    http: [{ route: [{ destination: { host: 'reviews' } }, { destination: { host: 'reviews-v2', port: { number: 9081 } } }] }],
  }),
  vs('data', 'db', { gateways: ['istio-system/acmg-gateway'], tcp: [{ route: [{ destination: { host: 'db.data', port: { number: 5432 } } }] }] }),
  vs('shop', 'ext', { gateways: ['istio-system/acmg-gateway'], http: [{ route: [{ destination: { host: 'api.example.com' } }] }] }),
  vs('shop', 'mesh-only', { gateways: ['mesh'], http: [{ route: [{ destination: { host: 'ratings' } }] }] }),
  vs(
    'default',
    'acmg-helloworld',
    { gateways: ['istio-system/acmg-gateway'], http: [{ route: [{ destination: { host: 'helloworld-acmg' } }] }] },
    { 'app.kubernetes.io/managed-by': 'acmg' },
  ),
];
const MIXED_SERVICES = new Map([svc('shop', 'reviews', [{ name: 'http', port: 9080 }]), svc('data', 'db', [{ name: 'tcp-pg', port: 5432 }])]);

describe('acmg sync desired state', () => {
  test('binding: "ns/name", or the bare name from the gateway namespace', () => {
    expect(boundToGateway(vs('shop', 'a', { gateways: ['istio-system/acmg-gateway'] }), gw)).toBe(true);
    expect(boundToGateway(vs('istio-system', 'a', { gateways: ['acmg-gateway'] }), gw)).toBe(true);
    expect(boundToGateway(vs('shop', 'a', { gateways: ['acmg-gateway'] }), gw)).toBe(false);
    expect(boundToGateway(vs('shop', 'a', { gateways: ['mesh'] }), gw)).toBe(false);
  });

  test('hosts: short names relative to the VirtualService namespace, the real domain, outside hosts ignored', () => {
    expect(resolveHost('reviews', 'shop', 'corp.internal').fqdn).toBe('reviews.shop.svc.corp.internal');
    expect(resolveHost('reviews.books', 'shop', 'cluster.local').fqdn).toBe('reviews.books.svc.cluster.local');
    expect(resolveHost('reviews.books.svc', 'shop', 'cluster.local').fqdn).toBe('reviews.books.svc.cluster.local');
    expect(resolveHost('Reviews.Books.svc.cluster.local.', 'shop', 'cluster.local').fqdn).toBe('reviews.books.svc.cluster.local');
    expect(resolveHost('api.example.com', 'shop', 'cluster.local').why).toMatch(/outside the cluster domain/);
    expect(resolveHost('*.shop.svc.cluster.local', 'shop', 'cluster.local').why).toMatch(/wildcard/);
  });

  test('entries = migrations + destinations of bound VirtualServices; acmg routes and unbound ones skipped; ports from the Service', () => {
    const d = desiredState({
      gateway: gw,
      gatewayIP: '10.96.9.9',
      doorIPs: new Map([['default', '10.96.7.7']]),
      clusterDomain: 'cluster.local',
      migrations: [migration('default', 'helloworld'), migration('web', 'doorless')],
      virtualServices: MIXED_VSES,
      services: MIXED_SERVICES,
    });
    expect(d.entries.map((e) => e.fqdn)).toEqual([
      'db.data.svc.cluster.local',
      'helloworld.default.svc.cluster.local',
      'reviews-v2.shop.svc.cluster.local',
      'reviews.shop.svc.cluster.local',
    ]);
    // A migrated name answers its namespace's door; a bound VirtualService's destination the shared gateway.
    expect(d.entries.filter((e) => e.ip !== '10.96.9.9')).toEqual([{ fqdn: 'helloworld.default.svc.cluster.local', ip: '10.96.7.7' }]);
    expect(d.ports).toEqual([
      { name: 'tcp-pg', port: 5432, protocol: 'TCP' },
      { name: 'http', port: 9080, protocol: 'HTTP' },
      { name: '', port: 9081, protocol: 'HTTP' },
    ]);
    expect(d.ignored).toEqual([
      'web/doorless is migrated but namespace web has no door on the gateway; its DNS entry is left out (roll it back and migrate it again to recreate the door)',
      'VirtualService shop/ext: "api.example.com" is outside the cluster domain cluster.local; ignored',
    ]);
    expect(d.sources['shop/reviews']).toEqual(['reviews.shop.svc.cluster.local', 'reviews-v2.shop.svc.cluster.local']);
  });

  test("a VirtualService steers only valid names of its own namespace's Services, never a system or the install namespace", () => {
    const bound = (ns: string, name: string, host: string) =>
      vs(ns, name, { gateways: ['istio-system/acmg-gateway'], http: [{ route: [{ destination: { host } }] }] });
    const d = desiredState({
      gateway: gw,
      gatewayIP: '10.96.9.9',
      doorIPs: new Map(),
      clusterDomain: 'cluster.local',
      migrations: [],
      virtualServices: [
        bound('team-a', 'hijack', 'kubernetes.default.svc.cluster.local'),
        bound('team-a', 'other-team', 'reviews.shop'),
        bound('kube-system', 'dns', 'kube-dns'),
        bound('istio-system', 'self', 'istiod'),
        bound('team-a', 'inject', 'x.team-a.svc.cluster.local\n}\n. {\n  forward . 6.6.6.6\n}'),
        bound('team-a', 'own', 'web'),
      ],
      services: new Map(),
    });
    expect(d.entries.map((e) => e.fqdn)).toEqual(['web.team-a.svc.cluster.local']);
    expect(d.ignored).toEqual([
      expect.stringMatching(/^VirtualService istio-system\/self: "istiod" is in istio-system, whose Services acmg never steers; ignored$/),
      expect.stringMatching(/^VirtualService kube-system\/dns: "kube-dns" is in kube-system/),
      expect.stringMatching(
        /^VirtualService team-a\/hijack: "kubernetes\.default\.svc\.cluster\.local" is a Service of namespace default: a VirtualService steers only Services of its own namespace \(team-a\)/,
      ),
      expect.stringMatching(/^VirtualService team-a\/inject: [\s\S]*(not a valid Service name|outside the cluster domain)/),
      expect.stringMatching(/^VirtualService team-a\/other-team: "reviews\.shop" is a Service of namespace shop/),
    ]);
  });

  test('Gateway API: HTTPRoutes and TCPRoutes whose parentRefs name the shared Gateway steer their Service backends, as bound VirtualServices do', () => {
    const route = (kind: 'HTTPRoute' | 'TCPRoute', ns: string, name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): KObject => ({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind,
      metadata: { name, namespace: ns, labels },
      spec,
    });
    const shared = [{ name: 'acmg-gateway', namespace: 'istio-system' }];
    const d = desiredState({
      gateway: gw,
      gatewayIP: '10.96.9.9',
      doorIPs: new Map(),
      clusterDomain: 'cluster.local',
      migrations: [],
      virtualServices: [],
      gatewayRoutes: [
        route('HTTPRoute', 'shop', 'reviews', {
          parentRefs: shared,
          rules: [
            {
              backendRefs: [
                { name: 'reviews', port: 9080 },
                { name: 'reviews-v2', port: 9081 },
              ],
            },
          ],
        }),
        route('TCPRoute', 'data', 'db', {
          parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', ...shared[0] }],
          rules: [{ backendRefs: [{ name: 'db', port: 5432 }] }],
        }),
        // GAMMA (parentRefs a Service), another Gateway, the parent's namespace defaulting to the route's: not bound.
        route('HTTPRoute', 'shop', 'gamma', {
          parentRefs: [{ group: '', kind: 'Service', name: 'ratings' }],
          rules: [{ backendRefs: [{ name: 'ratings', port: 9080 }] }],
        }),
        route('HTTPRoute', 'shop', 'elsewhere', {
          parentRefs: [{ name: 'other', namespace: 'istio-system' }],
          rules: [{ backendRefs: [{ name: 'details', port: 9080 }] }],
        }),
        route('HTTPRoute', 'shop', 'same-name', { parentRefs: [{ name: 'acmg-gateway' }], rules: [{ backendRefs: [{ name: 'productpage', port: 9080 }] }] }),
        // Bound, but a backend of another namespace, a system Service, or not a Service: never steered.
        route('HTTPRoute', 'team-a', 'hijack', { parentRefs: shared, rules: [{ backendRefs: [{ name: 'kubernetes', namespace: 'default', port: 443 }] }] }),
        route('HTTPRoute', 'team-a', 'bucket', { parentRefs: shared, rules: [{ backendRefs: [{ group: 'example.io', kind: 'Bucket', name: 'web' }] }] }),
        // acmg's own routes are covered by its migrations.
        route(
          'HTTPRoute',
          'default',
          'acmg-helloworld-5000',
          { parentRefs: shared, rules: [{ backendRefs: [{ name: 'helloworld', port: 5000 }] }] },
          { 'app.kubernetes.io/managed-by': 'acmg' },
        ),
      ],
      services: MIXED_SERVICES,
    });
    expect(d.entries).toEqual([
      { fqdn: 'db.data.svc.cluster.local', ip: '10.96.9.9' },
      { fqdn: 'reviews-v2.shop.svc.cluster.local', ip: '10.96.9.9' },
      { fqdn: 'reviews.shop.svc.cluster.local', ip: '10.96.9.9' },
    ]);
    expect(d.ports).toEqual([
      { name: 'tcp-pg', port: 5432, protocol: 'TCP' },
      { name: 'http', port: 9080, protocol: 'HTTP' },
      { name: '', port: 9081, protocol: 'HTTP' },
    ]);
    expect(d.ignored).toEqual([
      expect.stringMatching(
        /^HTTPRoute team-a\/hijack: "kubernetes\.default" is a Service of namespace default: an HTTPRoute steers only Services of its own namespace \(team-a\); ignored$/,
      ),
    ]);
    expect(d.sources).toEqual({
      'HTTPRoute shop/reviews': ['reviews.shop.svc.cluster.local', 'reviews-v2.shop.svc.cluster.local'],
      'TCPRoute data/db': ['db.data.svc.cluster.local'],
    });
  });

  test('a migration being rolled back has no DNS entry: a controller alongside does not put back what the rollback takes away', () => {
    const m = { ...migration('default', 'helloworld'), phase: 'rolling-back' as const };
    const d = desiredState({
      gateway: gw,
      gatewayIP: '1.1.1.1',
      doorIPs: new Map([['default', '10.96.7.7']]),
      clusterDomain: 'cluster.local',
      migrations: [m],
      virtualServices: [],
      services: new Map(),
    });
    expect(d.entries).toEqual([]);
  });

  test('the result depends only on the inputs, not their order (level-triggered)', () => {
    const vses = Array.from({ length: 30 }, (_, i) =>
      vs(`ns${i % 3}`, `v${i}`, { gateways: ['istio-system/acmg-gateway'], http: [{ route: [{ destination: { host: `s${i}` } }] }] }),
    );
    const a = desiredState({
      gateway: gw,
      gatewayIP: '1.1.1.1',
      doorIPs: new Map(),
      clusterDomain: 'cluster.local',
      migrations: [],
      virtualServices: vses,
      services: new Map(),
    });
    const b = desiredState({
      gateway: gw,
      gatewayIP: '1.1.1.1',
      doorIPs: new Map(),
      clusterDomain: 'cluster.local',
      migrations: [],
      virtualServices: [...vses].reverse(),
      services: new Map(),
    });
    expect(b).toEqual(a);
  });

  test("the controller's projections keep everything desiredState reads, and little else", () => {
    // What the API server adds: managedFields, annotations, status, other labels and route fields.
    const noisy = (o: KObject): KObject => ({
      ...o,
      metadata: {
        ...o.metadata,
        labels: { ...o.metadata.labels, team: 'shop' },
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(o).repeat(3) },
        managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:http': {} } } }],
        resourceVersion: '123',
        uid: 'u',
      },
      spec: { ...o.spec, hosts: ['a.example', 'b.example'], http: o.spec?.http?.map((r: any) => ({ ...r, timeout: '5s', retries: { attempts: 3 } })) },
      status: { conditions: [{ type: 'Reconciled', status: 'True' }] },
    });
    const input = (vses: KObject[], services: Map<string, KObject>) => ({
      gateway: gw,
      gatewayIP: '10.96.9.9',
      doorIPs: new Map(),
      clusterDomain: 'cluster.local',
      migrations: [],
      virtualServices: vses,
      services,
    });
    const full = MIXED_VSES.map(noisy);
    const fullServices = new Map([...MIXED_SERVICES].map(([k, v]) => [k, noisy(v)]));
    const projected = full.map(projectVirtualService);
    const projectedServices = new Map([...fullServices].map(([k, v]) => [k, projectService(v)]));
    expect(desiredState(input(projected, projectedServices))).toEqual(desiredState(input(full, fullServices)));
    expect(desiredState(input(projected, projectedServices)).entries).toHaveLength(3);
    expect(JSON.stringify(projected).length).toBeLessThan(JSON.stringify(full).length / 3);
    expect(JSON.stringify(projected)).not.toMatch(/managedFields|last-applied|Reconciled|team/);
  });
});

describe('namesToCheck: what DNS must answer after a write', () => {
  test('added and changed names their new address, removed names anything but their old one, sorted and capped', () => {
    const add = [
      { fqdn: 'b.shop.svc.cluster.local', ip: '10.96.0.9' },
      { fqdn: 'a.shop.svc.cluster.local', ip: '10.96.0.9' },
    ];
    const remove = [
      { fqdn: 'a.shop.svc.cluster.local', ip: '10.96.0.8' }, // changed: checked as added
      { fqdn: 'c.shop.svc.cluster.local', ip: '10.96.0.9' },
    ];
    expect([...namesToCheck(add, remove)]).toEqual([
      ['a.shop.svc.cluster.local', '10.96.0.9'],
      ['b.shop.svc.cluster.local', '10.96.0.9'],
      ['c.shop.svc.cluster.local', { not: '10.96.0.9' }],
    ]);
    const many = Array.from({ length: 50 }, (_, i) => ({ fqdn: `s${String(i).padStart(2, '0')}.x.svc.cluster.local`, ip: '10.96.0.9' }));
    expect([...namesToCheck(many, []).keys()]).toEqual(many.slice(0, 20).map((e) => e.fqdn));
  });
});
