// Issue 24 point 3: an install whose services are migrated moves from Istio's routing API to the
// Gateway API and back, in place. Bookinfo migrated (every service, approach 1) is traced call by
// call through the real CoreDNS and the xDS the real istiod gives each proxy: before the switch, in
// the middle of it (acmg killed once the Gateway API routes and doors are written and before the
// Istio ones go: both APIs' Gateways on one door, which istiod merges), after install run again
// finished it, and after the switch back. Every call lands where it did; a 20 ms DNS prober sees
// the door's one address throughout; istioctl analyze has nothing to say; acmg sync nothing to do.
import { join } from 'node:path';
import { DNS_NAMESERVER, acmg, acmgKilledAt, doorIP, eventually, expectExit, istioctlAnalyze, kubectl, kubectlJson } from './cluster.js';
import { SAMPLE, allCalls, applySample, deleteSample, differences, round, table, type Round } from './bookinfo.js';
import { DnsProber, badSamples } from './dns-prober.js';

const NS = ['--nameserver', DNS_NAMESERVER];
const GATEWAY_API = ['--set', 'routing.api=gateway-api'];
const ISTIO_API = ['--set', 'routing.api=istio'];
const FQDN = 'reviews.bookinfo.svc.cluster.local';
const serious = () => istioctlAnalyze().filter((m) => (m.level === 'Error' || m.level === 'Warning') && /acmg|bookinfo/.test(`${m.origin} ${m.message}`));
const names = (kind: string, namespace: string) => kubectl(['-n', namespace, 'get', kind, '-o', 'name']).split('\n').filter(Boolean).sort();
/** acmg's routing objects of both APIs: the routes in bookinfo, the Gateways in istio-system. */
const routing = () => ({
  httpRoutes: names('httproutes.gateway.networking.k8s.io', 'bookinfo'),
  virtualServices: names('virtualservices.networking.istio.io', 'bookinfo'),
  gatewayApiGateways: names('gateways.gateway.networking.k8s.io', 'istio-system'),
  istioGateways: names('gateways.networking.istio.io', 'istio-system'),
});
/** Every migrated call goes through the gateway once istiod has pushed what the routes say. */
const throughGateway = (t: Round['traces']) => t.get('reviews')?.hops.at(-1)?.kind === 'router' && (t.get('reviews')?.endpoints.length ?? 0) > 0;

describe('routing.api switched in place with Bookinfo migrated: every call lands where it did, before, during and after', () => {
  let before: Round;
  let door: string;
  const prober = new DnsProber(FQDN, 20);

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    // Bookinfo without routing rules of the user's (those are the traffic tests' business: a rule in
    // one API the other cannot carry refuses the switch, tested in test/unit/routing-switch.test.ts).
    await applySample([join(SAMPLE, 'bookinfo.yaml'), join(SAMPLE, 'clients.yaml')]);
    expectExit(await acmg(['install', '-y', ...ISTIO_API]), 0);
    expectExit(await acmg(['migrate', '-n', 'bookinfo', '--all', '--keep-service', '-y', ...NS]), 0);
    before = await round('Bookinfo migrated, Istio routing API', throughGateway);
    door = doorIP('bookinfo');
    process.stdout.write(`\nBookinfo migrated with routing.api istio:\n${table(before)}\n`);
    prober.start();
  }, 400_000);

  afterAll(async () => {
    await prober.stop();
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    deleteSample();
  }, 240_000);

  test('istio -> gateway-api: killed half-way (both Gateways on the door), every call lands as before; install again finishes it, nothing of the Istio form is left', async () => {
    expect(routing()).toMatchObject({ httpRoutes: [], gatewayApiGateways: [] });
    const dry = expectExit(await acmg(['install', '--dry-run', ...GATEWAY_API]), 0);
    expect(dry.stdout).toMatch(/switch the routes of 4 migrated service\(s\) from istio to gateway-api, in place/);

    expect(await acmgKilledAt(['install', '-y', ...GATEWAY_API], /remove the doors' Istio Gateways/)).toBe(true);
    const half = routing();
    // The Gateway API's routes and the door's Gateway are in place; the Istio door Gateway is still
    // there unless the kill came just after its delete was sent.
    expect(half.httpRoutes).toEqual(['details', 'productpage', 'ratings', 'reviews'].map((s) => `httproute.gateway.networking.k8s.io/acmg-${s}-9080`));
    expect(half.gatewayApiGateways).toContain('gateway.gateway.networking.k8s.io/acmg-bookinfo');
    const merged = half.istioGateways.includes('gateway.networking.istio.io/acmg-bookinfo');
    // istiod has taken the door's Gateway API Gateway in (it writes Programmed once it has), so the
    // traces below are of the merged configuration, not of one istiod had not pushed yet.
    await eventually('istiod programmed the Gateway API door', 60_000, async () =>
      kubectlJson(['-n', 'istio-system', 'get', 'gateways.gateway.networking.k8s.io', 'acmg-bookinfo']).status?.conditions?.some(
        (c: any) => c.type === 'Programmed' && c.status === 'True',
      ),
    );
    const during = await round(`Bookinfo during the switch (${merged ? 'both APIs on the door' : 'the Gateway API door only'})`, throughGateway);
    process.stdout.write(`\nBookinfo during the switch (${merged ? 'both Gateways on the door' : 'Istio door Gateway already gone'}):\n${table(during)}\n`);
    expect(differences(before, during, allCalls)).toEqual([]);

    const r = expectExit(await acmg(['install', '-y', ...GATEWAY_API]), 0);
    expect(r.stderr).toMatch(/remove the istio routes/);
    expect(routing()).toEqual({
      httpRoutes: half.httpRoutes,
      virtualServices: [],
      gatewayApiGateways: ['gateway.gateway.networking.k8s.io/acmg-bookinfo', 'gateway.gateway.networking.k8s.io/acmg-gateway'],
      istioGateways: [],
    });
    const after = await round('Bookinfo after the switch to the Gateway API', throughGateway);
    process.stdout.write(`\nBookinfo migrated with routing.api gateway-api (switched in place):\n${table(after)}\n`);
    expect(differences(before, after, allCalls)).toEqual([]);
    expect(doorIP('bookinfo')).toBe(door);
    expect(serious()).toEqual([]);
    const sync = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout);
    expect({ add: sync.add, remove: sync.remove, warnings: sync.warnings }).toEqual({ add: [], remove: [], warnings: [] });
  }, 600_000);

  test('gateway-api -> istio: the switch back leaves the Istio form as migrate wrote it, every call as before; the door answered one address throughout', async () => {
    expectExit(await acmg(['install', '-y', ...ISTIO_API]), 0);
    expect(routing()).toMatchObject({
      httpRoutes: [],
      gatewayApiGateways: [],
      istioGateways: ['gateway.networking.istio.io/acmg-bookinfo', 'gateway.networking.istio.io/acmg-gateway'],
    });
    const back = await round('Bookinfo after the switch back to Istio routing', throughGateway);
    expect(differences(before, back, allCalls)).toEqual([]);
    expect(serious()).toEqual([]);
    expect(JSON.parse(expectExit(await acmg(['verify-dns', '-o', 'json', ...NS]), 0).stdout).passed).toBe(true);
    // The migrated names answered the door, and nothing else, through both switches.
    const samples = await prober.stop();
    expect(samples.length).toBeGreaterThan(50);
    expect(badSamples(samples, [door])).toEqual([]);
  }, 600_000);
});
