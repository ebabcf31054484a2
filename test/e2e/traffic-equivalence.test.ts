// Issue 22: after a migration every call reaches what it reached before, with the same rules.
// Bookinfo's calls (bare names from productpage, svc.ns / FQDN / FQDN. from another namespace,
// with and without a sidecar) are traced through the real CoreDNS and the xDS the real istiod gives
// each proxy on the way (the client's sidecar, the gateway), before a migration, after it (both
// approaches, with and without --restart) and after the rollback, and compared call by call.
// Pods are simulated (kwok): nothing here sends a request through Envoy.
import { join } from 'node:path';
import { DNS_NAMESERVER, acmg, applyFiles, applyObjects, expectExit, kubectl, kubectlJson } from './cluster.js';
import yaml from 'js-yaml';
import {
  CASES,
  allCalls,
  SAMPLE,
  applySample,
  deleteSample,
  differences,
  migratedAny,
  productpage,
  round,
  sidecars,
  table,
  withSidecar,
  type Round,
} from './bookinfo.js';
import { Controller } from './controller-process.js';
import { outcome, type Trace } from './trace.js';

const NS = ['--nameserver', DNS_NAMESERVER];
describe('traffic equivalence: Bookinfo before and after a migration, traced through the real CoreDNS and istiod', () => {
  let before: Round;

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    await applySample();
    expectExit(await acmg(['install', '-y']), 0);
    before = await round('Bookinfo before migration', (t) => (t.get('reviews')?.endpoints.length ?? 0) > 0 && t.get('reviews as jason')?.subset === 'v2');
    process.stdout.write(`\nBookinfo before migration:\n${table(before)}\n`);
  }, 300_000);

  afterAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    deleteSample();
  }, 240_000);

  test('the baseline is what the equivalence rests on: subsets by header, the ratings policy, bare names through the sidecar', () => {
    const t = (n: string) => before.traces.get(n)!;
    expect(t('reviews').subset).toBe('v1');
    expect(t('reviews as jason').subset).toBe('v2');
    expect(t('FQDN. as jason').subset).toBe('v2');
    expect(t('ratings').policy).toMatchObject({ timeout: '2s', retries: { attempts: 3, perTryTimeout: '500ms' } });
    expect(t('reviews').hops.map((h) => h.kind)).toEqual(['sidecar']);
  });

  test.each([
    ['keep-service', false],
    ['keep-service', true],
    ['replace-service', false],
    ['replace-service', true],
  ])(
    '--%s (restart: %s): every call lands where it did, with the same rules, through the gateway; and again after the rollback',
    async (approach, restart) => {
      const flags = restart ? ['--restart'] : [];
      try {
        expectExit(await acmg(['migrate', '-n', 'bookinfo', '--all', `--${approach}`, ...flags, '-y', ...NS]), 0);
        expect(sidecars().every((s) => s === !restart)).toBe(true);
        const door = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-bookinfo']).spec.clusterIP;
        const after = await round(`Bookinfo after migrate --${approach}`, (t) => t.get('reviews')?.resolvedAddress === door);
        process.stdout.write(`\nBookinfo after migrate --${approach}${restart ? ' --restart' : ''}:\n${table(after)}\n`);

        // Every call by a name of a migrated service resolves to bookinfo's door and the gateway routes it.
        for (const c of CASES.filter((x) => x.name !== 'reviews, no port')) {
          const t = after.traces.get(c.name)!;
          expect({ call: c.name, address: t.resolvedAddress, last: t.hops.at(-1)?.kind }).toEqual({ call: c.name, address: door, last: 'router' });
        }
        // Calls from clients with a sidecar (and from productpage, whose sidecar --restart takes):
        // the same service, subset, workloads and route policy as before, bare names included.
        expect(differences(before, after, withSidecar)).toEqual([]);
        // A client without a sidecar had no rules before (kube-proxy to every pod); at the gateway
        // it gets the service's rules: jason reaches v2.
        const plain = after.traces.get('svc.ns, no sidecar')!;
        expect(plain.subset).toBe('v2');
        expect(plain.endpoints.map((e) => after.pods.get(e.split(':')[0]!))).toEqual(['reviews:v2']);
      } finally {
        // Whatever failed above, the next case starts from Bookinfo as it was.
        if (migratedAny()) expectExit(await acmg(['rollback', '-n', 'bookinfo', ...flags, '-y', ...NS]), 0);
      }
      const back = await round(`Bookinfo after rollback of --${approach}`, (t) => t.get('reviews')?.hops.at(-1)?.kind === 'sidecar');
      expect(sidecars().every((s) => s)).toBe(true);
      expect(differences(before, back, allCalls)).toEqual([]);
      expect(back.traces.get('reviews')!.resolvedAddress).toBe(kubectlJson(['-n', 'bookinfo', 'get', 'service', 'reviews']).spec.clusterIP);
    },
    480_000,
  );

  test('with the outbound policy REGISTRY_ONLY, every call lands where it did too (--keep-service); an address outside the registry stays blocked', async () => {
    // The mesh config istiod watches (ConfigMap istio-system/istio, key mesh).
    const setOutbound = (mode: 'REGISTRY_ONLY' | 'ALLOW_ANY') => {
      const mesh = (yaml.load(kubectlJson(['-n', 'istio-system', 'get', 'configmap', 'istio']).data.mesh) ?? {}) as Record<string, unknown>;
      mesh.outboundTrafficPolicy = { mode };
      kubectl(['-n', 'istio-system', 'patch', 'configmap', 'istio', '--type', 'merge', '-p', JSON.stringify({ data: { mesh: yaml.dump(mesh) } })]);
    };
    const outside = { name: 'an address outside the registry', client: productpage, call: { url: 'http://10.99.99.99:8080/' } };
    const cases = [...CASES, outside];
    const blocked = (t: Map<string, Trace>) => t.get(outside.name)?.failure?.kind === 'blackhole';
    setOutbound('REGISTRY_ONLY');
    try {
      const base = await round('Bookinfo with REGISTRY_ONLY, before migration', blocked, cases);
      // The calls that land land as with ALLOW_ANY (one to a port the Service lacks is blocked by
      // the sidecar now, where it passed through before: the mesh's doing, the same after migrate).
      const landing = CASES.map((c) => c.name).filter((n) => !('failure' in outcome(before.traces.get(n)!)));
      expect(differences(before, base, landing)).toEqual([]);
      expectExit(await acmg(['migrate', '-n', 'bookinfo', '--all', '--keep-service', '-y', ...NS]), 0);
      const door = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-bookinfo']).spec.clusterIP;
      const after = await round('Bookinfo with REGISTRY_ONLY, after migrate', (t) => blocked(t) && t.get('reviews')?.resolvedAddress === door, cases);
      process.stdout.write(`\nBookinfo with REGISTRY_ONLY, after migrate --keep-service:\n${table(after)}\n`);
      expect(differences(base, after, [...withSidecar, outside.name])).toEqual([]);
      expect(after.traces.get('reviews')!.hops.at(-1)?.kind).toBe('router');
    } finally {
      if (migratedAny()) expectExit(await acmg(['rollback', '-n', 'bookinfo', '-y', ...NS]), 0);
      setOutbound('ALLOW_ANY');
    }
    await round('Bookinfo with ALLOW_ANY again', (t) => !blocked(t), cases);
  }, 300_000);

  test("the user's edits after a migration reach the gateway: acmg sync carries a VirtualService change, the controller its revert", async () => {
    // The sample's VirtualService reviews with jason sent to another subset, by the sample's field manager.
    const jasonTo = (subset: string) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'bookinfo' },
      spec: {
        hosts: ['reviews'],
        http: [
          { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: 'reviews', subset } }] },
          { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
        ],
      },
    });
    const jasonCalls = withSidecar.filter((n) => n.includes('jason'));
    const others = withSidecar.filter((n) => !n.includes('jason'));
    const controller = new Controller();
    try {
      expectExit(await acmg(['migrate', '-n', 'bookinfo', '--all', '--replace-service', '-y', ...NS]), 0);
      applyObjects(jasonTo('v3'), { fieldManager: 'acmg-test' });
      const sync = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout);
      expect(sync.routes).toEqual(['apply VirtualService bookinfo/acmg-reviews']);
      const edited = await round('Bookinfo after the edit and acmg sync', (t) => t.get('reviews as jason')?.subset === 'v3');
      process.stdout.write(`\nBookinfo migrated, after the user sent jason to v3 and acmg sync:\n${table(edited)}\n`);
      for (const n of jasonCalls) {
        expect({ call: n, subset: edited.traces.get(n)!.subset, last: edited.traces.get(n)!.hops.at(-1)?.kind }).toEqual({
          call: n,
          subset: 'v3',
          last: 'router',
        });
        expect(edited.traces.get(n)!.endpoints.map((e) => edited.pods.get(e.split(':')[0]!))).toEqual(['reviews:v3']);
      }
      expect(differences(before, edited, others)).toEqual([]);

      // The controller, running, follows the revert on its own.
      await controller.start();
      applyFiles(join(SAMPLE, 'virtual-services.yaml'), { fieldManager: 'acmg-test' });
      const reverted = await round('Bookinfo after the revert, followed by the controller', (t) => t.get('reviews as jason')?.subset === 'v2');
      expect(differences(before, reverted, withSidecar)).toEqual([]);
      expect(controller.log).toMatch(/VirtualService bookinfo\/acmg-reviews/);
    } finally {
      await controller.kill('SIGTERM');
      applyFiles(join(SAMPLE, 'virtual-services.yaml'), { fieldManager: 'acmg-test' });
      if (migratedAny()) expectExit(await acmg(['rollback', '-n', 'bookinfo', '-y', ...NS]), 0);
    }
  }, 300_000);
});
