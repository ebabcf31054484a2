// verify-routes' judgement of a gateway proxy's configuration (plan/route-check.ts), on a config
// dump istiod produced for acmg's gateway with service demo/web migrated (fixtures/
// config-dump-door.json, from /debug/config_dump?proxyID=...), and on edits of it that break it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { callNames, checkRoutes, pickVirtualHost, stringMatches, type RouteTarget } from '../../src/plan/route-check.js';

const dump = () => JSON.parse(readFileSync(join(process.cwd(), 'test/unit/fixtures/config-dump-door.json'), 'utf8'));
const web: RouteTarget = {
  namespace: 'demo',
  service: 'web',
  clusterDomain: 'cluster.local',
  ports: [{ port: 8080, protocol: 'HTTP', listenerPort: 20000 }],
  destinations: ['web.demo.svc.cluster.local'],
};
const routeConfig = (d: any, name: string) =>
  d.configs.find((c: any) => c['@type'].endsWith('.RoutesConfigDump')).dynamicRouteConfigs.find((r: any) => r.routeConfig.name === name).routeConfig;

test('every name a client uses (bare, svc.ns, svc.ns.svc, FQDN, FQDN., with and without the port) is routed to the service on its door listener', () => {
  const r = checkRoutes([web], dump(), 'gw-1.istio-system');
  expect(r.map((x) => x.name)).toEqual(callNames('web', 'demo', 'cluster.local', 8080));
  expect(r).toHaveLength(10);
  expect(r.every((x) => x.pass && x.outcome === 'routed' && x.clusters.join() === 'outbound|8080||web.demo.svc.cluster.local')).toBe(true);
});

test('a name the route does not take is a 404 (no route); a route to another host is "elsewhere"; no routes on the door port are named', () => {
  const d = dump();
  const route = routeConfig(d, 'http.20000').virtualHosts[0].routes[0];
  route.match.headers[0].stringMatch.safeRegex.regex = '(?i)^web(\\.demo)?(:[0-9]+)?$';
  const r = checkRoutes([web], d, 'gw-1.istio-system');
  expect(r.filter((x) => !x.pass).map((x) => [x.name, x.outcome])).toEqual([
    ['web.demo.svc', 'no-route'],
    ['web.demo.svc:8080', 'no-route'],
    ['web.demo.svc.cluster.local', 'no-route'],
    ['web.demo.svc.cluster.local:8080', 'no-route'],
    ['web.demo.svc.cluster.local.', 'no-route'],
    ['web.demo.svc.cluster.local.:8080', 'no-route'],
  ]);
  route.match.headers[0].stringMatch.safeRegex.regex = '(?i)^web.*$';
  route.route.cluster = 'outbound|8080||other.demo.svc.cluster.local';
  const elsewhere = checkRoutes([web], d, 'gw-1.istio-system');
  expect(new Set(elsewhere.map((x) => x.outcome))).toEqual(new Set(['elsewhere']));
  expect(elsewhere[0]!.why).toMatch(/routed to outbound\|8080\|\|other\.demo\.svc\.cluster\.local, not to web\.demo\.svc\.cluster\.local/);
  const noDoor = checkRoutes([{ ...web, ports: [{ port: 8080, protocol: 'HTTP', listenerPort: 20001 }] }], dump(), 'gw-1.istio-system');
  expect(noDoor.every((x) => x.outcome === 'no-route' && /http\.20001/.test(x.why))).toBe(true);
});

test("a carried subset or another destination named by acmg's route counts as routed", () => {
  const d = dump();
  routeConfig(d, 'http.20000').virtualHosts[0].routes[0].route = {
    weightedClusters: { clusters: [{ name: 'outbound|8080|v1|web.demo.svc.cluster.local' }, { name: 'outbound|8080||canary.demo.svc.cluster.local' }] },
  };
  const r = checkRoutes([{ ...web, destinations: ['web.demo.svc.cluster.local', 'canary.demo.svc.cluster.local'] }], d, 'p');
  expect(r.every((x) => x.pass)).toBe(true);
});

test("Envoy's virtual host choice and string matchers", () => {
  const vhs = [
    { name: 'star', domains: ['*'] },
    { name: 'suffix', domains: ['*.demo.svc.cluster.local'] },
    { name: 'exact', domains: ['web.demo.svc.cluster.local'] },
  ];
  expect(pickVirtualHost(vhs, 'web.demo.svc.cluster.local:8080', true)?.name).toBe('exact');
  expect(pickVirtualHost(vhs, 'api.demo.svc.cluster.local', true)?.name).toBe('suffix');
  expect(pickVirtualHost(vhs, 'web', true)?.name).toBe('star');
  expect(pickVirtualHost([{ name: 'x', domains: ['web'] }], 'web:80', false)).toBeUndefined();
  expect(stringMatches({ safeRegex: { regex: '(?i)^WEB$' } }, 'web')).toBe(true);
  expect(stringMatches({ prefix: 'we' }, 'web')).toBe(true);
  expect(stringMatches({ exact: 'Web', ignoreCase: true }, 'web')).toBe(true);
  expect(stringMatches({ safeRegex: { regex: '(?P<x>a)' } }, 'a')).toBeUndefined();
});

test('a TCP port is checked on the door listener: its tcp_proxy cluster', () => {
  const d = dump();
  const listeners = d.configs.find((c: any) => c['@type'].endsWith('.ListenersConfigDump')).dynamicListeners;
  listeners.push({
    name: '0.0.0.0_20002',
    activeState: {
      listener: {
        name: '0.0.0.0_20002',
        filterChains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { cluster: 'outbound|5432||pg.demo.svc.cluster.local' } }] }],
      },
    },
  });
  const pg = { ...web, service: 'pg', ports: [{ port: 5432, protocol: 'TCP', listenerPort: 20002 }], destinations: ['pg.demo.svc.cluster.local'] };
  expect(checkRoutes([pg], d, 'p').map((x) => [x.name, x.outcome])).toEqual([['tcp', 'routed']]);
  expect(checkRoutes([{ ...pg, ports: [{ port: 5432, protocol: 'TCP', listenerPort: 20003 }] }], d, 'p').map((x) => x.outcome)).toEqual(['no-listener']);
});
