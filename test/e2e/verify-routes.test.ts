// acmg verify-routes against the real istiod: the configuration istiod gives the gateway's proxies
// (read from istiod's /debug/config_dump, as on a real cluster; the gateway pods are simulated, so
// xds-probe --hold stands in for their Envoys' xDS connection). Every name of helloworld is routed
// after migrate; a route deleted by hand fails the check (exit 1, JSON and JUnit naming the names);
// acmg sync puts acmg's route back and the check passes again.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DNS_NAMESERVER, acmg, applyFiles, eventually, expectExit, istiodMonitoringPort, kubectl, kubectlJson } from './cluster.js';
import { holdGatewayProxies } from './xds.js';

const NS = ['--nameserver', DNS_NAMESERVER];
const ISTIOD = ['--istiod', `http://127.0.0.1:${istiodMonitoringPort}`];

describe('acmg verify-routes on the local control plane', () => {
  let proxies: { stop: () => void } | undefined;

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    applyFiles('samples/helloworld/helloworld.yaml');
    expectExit(await acmg(['install', '-y']), 0);
    expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...NS]), 0);
    proxies = await holdGatewayProxies();
  }, 240_000);

  afterAll(async () => {
    proxies?.stop();
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
  }, 240_000);

  test('without --istiod: exit 2 with the port-forward to run, before any connection', async () => {
    const r = expectExit(await acmg(['verify-routes']), 2);
    expect(r.stderr).toMatch(/--istiod/);
    expect(r.stderr).toMatch(/port-forward deploy\/istiod 15014/);
  });

  test('every name of a migrated service is routed to it; a route deleted by hand fails with exit 1 naming each name; acmg sync puts it back', async () => {
    const run = async () => acmg(['verify-routes', '-o', 'json', ...ISTIOD]);
    const first = JSON.parse(expectExit(await run(), 0).stdout);
    expect(first.passed).toBe(true);
    // Each gateway pod's proxy is checked, every name on each.
    const pods = kubectlJson(['-n', 'istio-system', 'get', 'pods', '-l', 'app=acmg-gateway']).items.length;
    expect(first.proxies).toHaveLength(pods);
    expect(first.results.filter((x: any) => x.proxy === first.proxies[0]).map((x: any) => x.name)).toEqual([
      'helloworld',
      'helloworld:5000',
      'helloworld.default',
      'helloworld.default:5000',
      'helloworld.default.svc',
      'helloworld.default.svc:5000',
      'helloworld.default.svc.cluster.local',
      'helloworld.default.svc.cluster.local:5000',
      'helloworld.default.svc.cluster.local.',
      'helloworld.default.svc.cluster.local.:5000',
    ]);
    expect(new Set(first.results.map((x: any) => x.clusters.join()))).toEqual(new Set(['outbound|5000||helloworld.default.svc.cluster.local']));

    kubectl(['-n', 'default', 'delete', 'virtualservice', 'acmg-helloworld']);
    const junit = join(mkdtempSync(join(tmpdir(), 'acmg-routes-')), 'routes.xml');
    const { value: broken } = await eventually('verify-routes to see the route gone (istiod pushes after a debounce)', 30_000, async () => {
      const r = await acmg(['verify-routes', '-o', 'json', '--junit', junit, ...ISTIOD]);
      return r.code === 1 ? r : undefined;
    });
    const failed = JSON.parse(broken.stdout).results.filter((x: any) => !x.pass);
    expect(failed).toHaveLength(10 * pods);
    expect(new Set(failed.map((x: any) => x.outcome)).size).toBe(1);
    expect(failed[0].outcome).toMatch(/^(no-route|no-virtual-host)$/);
    expect(readFileSync(junit, 'utf8')).toContain(`<testsuite name="acmg verify-routes" tests="${10 * pods}" failures="${10 * pods}"`);

    const sync = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout);
    expect(sync.routes).toEqual(['apply VirtualService default/acmg-helloworld']);
    await eventually('verify-routes to pass again', 30_000, async () => (await run()).code === 0);
  }, 180_000);
});
