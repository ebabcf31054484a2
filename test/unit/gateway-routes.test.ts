// How a migrated service's calls are routed at its namespace's gateway listener: the user's mesh
// rules carried over, narrowed to the service's names and listener; rules that need the client's
// sidecar named; the per-namespace Service and Gateway; listener ports handed out once.
import type { KObject } from '../../src/model/object.js';
import { authorityRegex, renderGatewayRoute, routesService } from '../../src/render/gateway-routes.js';
import { allocateListenerPorts, namespaceGatewayName, renderNamespaceGateway } from '../../src/render/namespace-gateway.js';

const vs = (name: string, spec: object, namespace = 'bookinfo'): KObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name, namespace },
  spec,
});
const reviewsVs = vs('reviews', {
  hosts: ['reviews'],
  http: [
    { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
    { route: [{ destination: { host: 'reviews', subset: 'v1' } }], timeout: '2s', retries: { attempts: 3, perTryTimeout: '0.5s' } },
  ],
});
const input = (userRoutes: KObject[], extra: object = {}) => ({
  service: 'reviews',
  namespace: 'bookinfo',
  clusterDomain: 'cluster.local',
  gateway: { namespace: 'istio-system', name: 'acmg-bookinfo' },
  destination: 'reviews',
  ports: [{ name: 'http', port: 9080, protocol: 'HTTP' as const, listenerPort: 20001 }],
  userRoutes,
  version: '0.0.0-test',
  ...extra,
});

describe('the authority a call carries selects the service', () => {
  const re = new RegExp(authorityRegex('reviews', 'bookinfo', 'cluster.local').replace('(?i)', ''), 'i');
  test.each([
    'reviews',
    'reviews:9080',
    'reviews.bookinfo',
    'reviews.bookinfo:9080',
    'reviews.bookinfo.svc',
    'reviews.bookinfo.svc.cluster.local',
    'reviews.bookinfo.svc.cluster.local.',
    'reviews.bookinfo.svc.cluster.local.:9080',
    'Reviews.Bookinfo',
  ])('matches %s', (a) => expect(re.test(a)).toBe(true));
  test.each(['ratings', 'reviews.other', 'reviewsx', 'reviews.bookinfo.svc.clusterxlocal', 'xreviews', 'reviews.bookinfo.svc.cluster.local.evil'])(
    'does not match %s',
    (a) => expect(re.test(a)).toBe(false),
  );
});

describe("the user's mesh rules are carried to the gateway", () => {
  test('header match, subsets, timeout and retries as the user wrote them, each narrowed to the listener and the names', () => {
    const r = renderGatewayRoute(input([reviewsVs]));
    const authority = { regex: authorityRegex('reviews', 'bookinfo', 'cluster.local') };
    expect(r.refused).toEqual([]);
    expect(r.carried).toEqual(['bookinfo/reviews']);
    expect(r.virtualService.spec).toEqual({
      hosts: ['*'],
      gateways: ['istio-system/acmg-bookinfo'],
      exportTo: ['istio-system'],
      http: [
        {
          match: [{ headers: { 'end-user': { exact: 'jason' } }, port: 20001, authority }],
          route: [{ destination: { host: 'reviews.bookinfo.svc.cluster.local', subset: 'v2', port: { number: 9080 } } }],
        },
        {
          match: [{ port: 20001, authority }],
          route: [{ destination: { host: 'reviews.bookinfo.svc.cluster.local', subset: 'v1', port: { number: 9080 } } }],
          timeout: '2s',
          retries: { attempts: 3, perTryTimeout: '0.5s' },
        },
      ],
    });
  });

  test('without a user rule: one route per port to the service; approach 2 routes to the replacement', () => {
    const r = renderGatewayRoute(input([], { destination: 'reviews-acmg' }));
    expect(r.virtualService.spec.http).toEqual([
      {
        name: 'port-9080',
        match: [{ port: 20001, authority: { regex: authorityRegex('reviews', 'bookinfo', 'cluster.local') } }],
        route: [{ destination: { host: 'reviews-acmg.bookinfo.svc.cluster.local', port: { number: 9080 } } }],
      },
    ]);
  });

  test('a match on a port keeps to that port; other ports of a multi-port service get their own routes', () => {
    const two = [
      { name: 'http', port: 9080, protocol: 'HTTP' as const, listenerPort: 20001 },
      { name: 'http-admin', port: 8080, protocol: 'HTTP' as const, listenerPort: 20002 },
    ];
    const user = vs('reviews', { hosts: ['reviews'], http: [{ name: 'admin', match: [{ port: 8080 }], route: [{ destination: { host: 'reviews' } }] }] });
    const http = renderGatewayRoute(input([user], { ports: two })).virtualService.spec.http;
    expect(http.map((h: any) => [h.name, h.match.map((m: any) => m.port), h.route[0].destination.port.number])).toEqual([['admin-8080', [20002], 8080]]);
  });

  test('rules that need the client sidecar are named, not silently dropped', () => {
    const user = vs('reviews', {
      hosts: ['reviews'],
      http: [{ match: [{ sourceLabels: { app: 'productpage' } }], route: [{ destination: { host: 'reviews', subset: 'v3' } }] }],
    });
    expect(renderGatewayRoute(input([user])).refused).toEqual([
      {
        key: expect.stringMatching(/^VirtualService bookinfo\/reviews http\.match\.sourceLabels [0-9a-f]{16}$/),
        message: expect.stringMatching(/^VirtualService bookinfo\/reviews http\[0\]\.match\[0\]\.sourceLabels: /),
      },
    ]);
  });

  test("a refused rule's key is its object, reason and content, not its index: a rule inserted above leaves it the same", () => {
    const refused = { match: [{ sourceLabels: { app: 'productpage' } }], route: [{ destination: { host: 'reviews', subset: 'v3' } }] };
    const other = { match: [{ uri: { prefix: '/new' } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] };
    const [before] = renderGatewayRoute(input([vs('reviews', { hosts: ['reviews'], http: [refused] })])).refused;
    const [after] = renderGatewayRoute(input([vs('reviews', { hosts: ['reviews'], http: [other, refused] })])).refused;
    expect(after!.key).toBe(before!.key);
    expect(after!.message).not.toBe(before!.message);
    const [changed] = renderGatewayRoute(
      input([vs('reviews', { hosts: ['reviews'], http: [{ ...refused, match: [{ sourceLabels: { app: 'ratings' } }] }] })]),
    ).refused;
    expect(changed!.key).not.toBe(before!.key);
  });

  test('which VirtualServices route the service for sidecars: mesh-bound, its FQDN or a short name in its namespace', () => {
    expect(routesService(reviewsVs, 'reviews', 'bookinfo', 'cluster.local')).toBe(true);
    expect(routesService(vs('x', { hosts: ['reviews.bookinfo.svc.cluster.local'] }, 'clients'), 'reviews', 'bookinfo', 'cluster.local')).toBe(true);
    expect(routesService(vs('x', { hosts: ['reviews'] }, 'clients'), 'reviews', 'bookinfo', 'cluster.local')).toBe(false);
    expect(routesService(vs('x', { hosts: ['reviews'], gateways: ['istio-system/ingress'] }), 'reviews', 'bookinfo', 'cluster.local')).toBe(false);
    expect(routesService(vs('x', { hosts: ['reviews'], gateways: ['mesh', 'istio-system/ingress'] }), 'reviews', 'bookinfo', 'cluster.local')).toBe(true);
  });
});

describe("a namespace's door on the gateway", () => {
  test('a Service mapping each service port to its listener port, kept out of Istio port translation, and a Gateway bound to the namespace', () => {
    const [svc, gw] = renderNamespaceGateway({
      namespace: 'bookinfo',
      installNamespace: 'istio-system',
      selector: { app: 'acmg-gateway', istio: 'acmg-gateway' },
      listeners: [
        { port: 9080, protocol: 'HTTP', listenerPort: 20001 },
        { port: 3306, protocol: 'TCP', listenerPort: 20002 },
      ],
      version: '0.0.0-test',
    });
    expect(svc!.metadata.labels!['experimental.istio.io/disable-gateway-port-translation']).toBe('true');
    expect(svc!.spec.ports).toEqual([
      { name: 'tcp-3306', port: 3306, targetPort: 20002, protocol: 'TCP' },
      { name: 'tcp-9080', port: 9080, targetPort: 20001, protocol: 'TCP' },
    ]);
    expect(gw!.spec.servers).toEqual([
      { port: { number: 20002, name: 'tcp-3306-20002', protocol: 'TCP' }, hosts: ['bookinfo/*'] },
      { port: { number: 20001, name: 'http-9080-20001', protocol: 'HTTP' }, hosts: ['bookinfo/*'] },
    ]);
  });

  test('names stay within 63 characters and distinct for long namespaces', () => {
    const a = namespaceGatewayName('a'.repeat(63));
    const b = namespaceGatewayName(`${'a'.repeat(62)}b`);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(namespaceGatewayName('bookinfo')).toBe('acmg-bookinfo');
  });

  test('listener ports: given ones are kept, new ones take the lowest free port, reserved ports are skipped', () => {
    expect(allocateListenerPorts({ 'b/9080': 20000 }, ['a/9080', 'b/9080', 'c/80'], new Set([20001]))).toEqual({
      'a/9080': 20002,
      'b/9080': 20000,
      'c/80': 20003,
    });
  });
});
