// Issue #9 proof: the controller runs as a process; VirtualServices bound to the acmg Gateway move
// their destinations onto the gateway in the real CoreDNS, changes and deletes revert, and after a
// kill -9 in the middle of a burst of 200 changes a restarted controller converges exactly.
import { Controller, applyVs, vsDoc } from './controller-process.js';
import { query } from '../../src/dns/client.js';
import { listPages } from '../../src/kube/api.js';
import { Kube } from '../../src/kube/client.js';
import { Informer } from '../../src/kube/informer.js';
import { DNS_NAMESERVER, acmg, applyFiles, applyObjects, dns, doorIP, eventually, expectExit, kubeconfig, kubectl, kubectlJson, sleep } from './cluster.js';

const NS = ['--nameserver', DNS_NAMESERVER];
/** The documented time for a VirtualService change to reach DNS: debounce + one write + CoreDNS reload. */
const PROPAGATION_MS = 20_000;
const answer = async (name: string) => (await query(name, 'A', dns)).answers[0]?.data;
const regionEntries = (): string[] => {
  const cf: string = kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns']).data.Corefile;
  return [...cf.matchAll(/^\s+[0-9.]+ ([a-z0-9.-]+)$/gm)].map((m) => m[1]!).sort();
};

describe('acmg sync and the sync --watch controller', () => {
  const controller = new Controller();
  let gatewayIP: string;
  let reviewsIP: string;
  let ratingsIP: string;

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    applyFiles('test/e2e/fixtures/shop.yaml');
    kubectl(['-n', 'shop', 'delete', 'virtualservices.networking.istio.io', '-l', 'acmg-test=sync', '--ignore-not-found']);
    expectExit(await acmg(['install', '--profile', 'minimal', '-y']), 0);
    gatewayIP = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-gateway']).spec.clusterIP;
    reviewsIP = kubectlJson(['-n', 'shop', 'get', 'service', 'reviews']).spec.clusterIP;
    ratingsIP = kubectlJson(['-n', 'shop', 'get', 'service', 'ratings']).spec.clusterIP;
  });

  afterAll(async () => {
    await controller.kill('SIGTERM');
    kubectl(['-n', 'shop', 'delete', 'virtualservices.networking.istio.io', '-l', 'acmg-test=sync', '--ignore-not-found']);
    expect(kubectlJson(['-n', 'istio-system', 'get', 'lease', 'acmg-controller']).metadata.labels['app.kubernetes.io/managed-by']).toBe('acmg');
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    // The controller's Lease is acmg's too: purge leaves nothing behind.
    expect(kubectl(['-n', 'istio-system', 'get', 'lease', 'acmg-controller', '--ignore-not-found', '-o', 'name']).trim()).toBe('');
  });

  test('acmg sync (once): --dry-run shows the change, sync writes once, a second sync has nothing to do', async () => {
    applyVs([vsDoc('once', 'reviews')]);
    const dry = expectExit(await acmg(['sync', '--dry-run']), 0);
    expect(dry.stdout).toContain(`+ reviews.shop.svc.cluster.local -> ${gatewayIP}`);
    expect(dry.stdout).toContain('~ gateway ports from routes bound to the Gateway: 9080');
    expect(regionEntries()).toEqual([]);
    const r = JSON.parse(expectExit(await acmg(['sync', '-o', 'json']), 0).stdout);
    expect(r).toMatchObject({ dnsWrites: 1, portsChanged: true, ports: [9080] });
    expect(regionEntries()).toEqual(['reviews.shop.svc.cluster.local']);
    expect(kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-gateway']).spec.ports.map((p: any) => p.port)).toContain(9080);
    expect(expectExit(await acmg(['sync']), 0).stdout).toBe('in sync: nothing to change\n');
    kubectl(['-n', 'shop', 'delete', 'virtualservices.networking.istio.io', 'once']);
    expectExit(await acmg(['sync']), 0);
    expect(regionEntries()).toEqual([]);
  });

  test('the controller: apply -> gateway IP, change destination -> old reverts and new switches, delete -> reverted', async () => {
    await controller.start();
    expect(await (await fetch(`http://127.0.0.1:${controller.port}/healthz`)).text()).toBe('ok\n');

    applyVs([vsDoc('route', 'reviews')]);
    const { ms } = await eventually('reviews on the gateway', PROPAGATION_MS, async () => (await answer('reviews.shop.svc.cluster.local')) === gatewayIP);
    expect(ms).toBeLessThan(PROPAGATION_MS);

    applyVs([vsDoc('route', 'ratings', { port: 9090 })]);
    await eventually(
      'ratings on the gateway, reviews back',
      PROPAGATION_MS,
      async () => (await answer('ratings.shop.svc.cluster.local')) === gatewayIP && (await answer('reviews.shop.svc.cluster.local')) === reviewsIP,
    );
    expect(kubectlJson(['-n', 'istio-system', 'get', 'gateways.networking.istio.io', 'acmg-gateway']).spec.servers.map((s: any) => s.port.number)).toContain(
      9090,
    );

    kubectl(['-n', 'shop', 'delete', 'virtualservices.networking.istio.io', 'route']);
    await eventually('ratings back on its own ClusterIP', PROPAGATION_MS, async () => (await answer('ratings.shop.svc.cluster.local')) === ratingsIP);
    expect(regionEntries()).toEqual([]);
  });

  test('kill -9 in the middle of a burst of 200 changes; after a restart DNS matches the VirtualServices exactly', async () => {
    const burst = Array.from({ length: 200 }, (_, i) => vsDoc(`burst-${i}`, `burst-svc-${i}`));
    applyVs(burst.slice(0, 100));
    await sleep(400);
    await controller.kill('SIGKILL');
    // Changes while no controller runs: the second half, and 30 deletions.
    applyVs(burst.slice(100));
    for (let i = 0; i < 30; i++) kubectl(['-n', 'shop', 'delete', 'virtualservices.networking.istio.io', `burst-${i * 3}`, '--wait=false']);
    const expected = burst
      .map((_, i) => i)
      .filter((i) => i % 3 !== 0 || i >= 90)
      .map((i) => `burst-svc-${i}.shop.svc.cluster.local`)
      .sort();

    await controller.start();
    await eventually('the entries match the VirtualServices', 60_000, () => JSON.stringify(regionEntries()) === JSON.stringify(expected));
    const writes = await controller.metric('acmg_sync_dns_writes_total');
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThan(10);
    // The real CoreDNS serves the result.
    await eventually('CoreDNS serves the burst', PROPAGATION_MS, async () => (await answer('burst-svc-199.shop.svc.cluster.local')) === gatewayIP);
    expect((await query('burst-svc-0.shop.svc.cluster.local', 'A', dns)).rcode).toBe('NXDOMAIN');
    kubectl(['-n', 'shop', 'delete', 'virtualservices.networking.istio.io', '-l', 'acmg-test=sync']);
    await eventually('all burst entries removed', 60_000, () => regionEntries().length === 0);
  });

  test('a rollback finishes while the controller runs: its DNS entry is not written back', async () => {
    // The controller from the test above, or a new one when this test runs alone.
    if (!controller.proc || controller.proc.exitCode !== null) await controller.start();
    await eventually('the controller ready', 15_000, async () => (await fetch(`http://127.0.0.1:${controller.port}/readyz`)).status === 200);
    expectExit(await acmg(['migrate', 'reviews', '-n', 'shop', '--keep-service', '-y', ...NS]), 0);
    const door = doorIP('shop');
    expect(await answer('reviews.shop.svc.cluster.local')).toBe(door);
    const writes = await controller.metric('acmg_sync_dns_writes_total');
    expectExit(await acmg(['rollback', 'reviews', '-n', 'shop', '-y', '--dns-timeout', '60s', ...NS]), 0);
    expect(await answer('reviews.shop.svc.cluster.local')).toBe(reviewsIP);
    // Several of the controller's debounces later, it has not put the entry back.
    await sleep(3000);
    expect(await answer('reviews.shop.svc.cluster.local')).toBe(reviewsIP);
    expect(regionEntries()).toEqual([]);
    expect(await controller.metric('acmg_sync_dns_writes_total')).toBe(writes);
  });

  test('bad flags exit 2', async () => {
    expect(expectExit(await acmg(['sync', '--watch', '--dry-run']), 2).stderr).toMatch(/does not go with --watch/);
    expect(expectExit(await acmg(['sync', '--watch', '--health-port', 'x']), 2).stderr).toMatch(/invalid --health-port/);
  });

  test("paged lists and the controller's informer on the real API server: continue tokens, then a watch from the list's version", async () => {
    const kube = await Kube.connect({ kubeconfig });
    const ns = 'acmg-informer';
    kubectl(['create', 'namespace', ns]);
    try {
      const cms = Array.from({ length: 23 }, (_, i) => ({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `cm-${i}`, namespace: ns },
        data: { i: String(i) },
      }));
      applyObjects(cms);
      const seen: string[] = [];
      const before = kube.requests;
      await listPages(kube, 'v1', 'ConfigMap', { namespace: ns }, (c) => seen.push(c.metadata.name), 5);
      expect(seen.filter((n) => n.startsWith('cm-')).sort()).toEqual(cms.map((c) => c.metadata.name).sort());
      expect(new Set(seen).size).toBe(seen.length); // each once
      expect(kube.requests - before).toBe(Math.ceil(seen.length / 5)); // the server paged: one request a page

      const stop = new AbortController();
      const errors: unknown[] = [];
      const informer = new Informer(kube, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace: ns,
        project: (c) => c.data?.i as string | undefined,
        onChange: () => {},
        onError: (e) => errors.push(e),
        onSuccess: () => {},
        signal: stop.signal,
        pageSize: 5,
      });
      const running = informer.run();
      await eventually('the informer lists', 10_000, () => informer.synced);
      expect(informer.cache.get(`${ns}/cm-7`)).toBe('7');
      kubectl(['-n', ns, 'delete', 'configmap', 'cm-3']);
      kubectl(['-n', ns, 'patch', 'configmap', 'cm-7', '--type', 'merge', '-p', '{"data":{"i":"seven"}}']);
      kubectl(['-n', ns, 'create', 'configmap', 'cm-new', '--from-literal=i=new']);
      await eventually('the informer follows the watch', 10_000, () => informer.cache.get(`${ns}/cm-7`) === 'seven' && !informer.cache.has(`${ns}/cm-3`));
      await eventually('the new one', 10_000, () => informer.cache.get(`${ns}/cm-new`) === 'new');
      expect(informer.lists).toBe(1); // followed by the watch alone
      stop.abort();
      await running;
      expect(errors).toEqual([]);
    } finally {
      kube.close();
      kubectl(['delete', 'namespace', ns, '--wait=false']);
    }
  });
});
