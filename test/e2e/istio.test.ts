// Issue #12 proof: acmg's objects judged by the real Istio of the local control plane (istiod and
// istioctl built from istio.io/istio, see hack/istio-up.sh): its validating webhook admits every
// object acmg applies, its injector injects the gateway and follows the namespace relabel, the
// routes istiod generates for the gateway (read over xDS) send each migrated service's names to
// the service, and `istioctl analyze` finds nothing wrong with acmg's objects.
// Pods are simulated (kwok): nothing here sends a request through Envoy.
import {
  DNS_NAMESERVER,
  acmg,
  acmgObjects,
  applyFiles,
  applyObjects,
  eventually,
  expectExit,
  istioctlAnalyze,
  istioRelease,
  kubectl,
  kubectlJson,
} from './cluster.js';
import { gatewayConfig, routesByDomain, virtualHostsOnPort } from './xds.js';

const NS = ['--nameserver', DNS_NAMESERVER];
const PROFILES = ['acmg', 'demo', 'empty', 'ha', 'minimal'];
const DENIED = /admission webhook "[a-z.]*validation\.istio\.io" denied the request/;

const dryRunApply = (docs: object[]) => {
  try {
    applyObjects(docs, { dryRun: true, fieldManager: 'acmg-test' });
    return '';
  } catch (e) {
    return (e as Error).message;
  }
};

/**
 * Containers of the pods a Deployment runs now (not terminating), once its rollout is complete.
 * A native sidecar (an init container that keeps running, as Istio injects istio-proxy where the
 * cluster supports it) counts as a container; istio-init and other init containers do not.
 */
async function podContainers(ns: string, selector: string): Promise<string[][]> {
  kubectl(['-n', ns, 'rollout', 'status', 'deployment', '-l', selector, '--timeout=90s']);
  const { value } = await eventually(`old pods of ${ns}/${selector} gone`, 90_000, () => {
    const pods = kubectlJson(['-n', ns, 'get', 'pods', '-l', selector]).items;
    return pods.every((p: any) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running') ? pods : undefined;
  });
  return value.map((p: any) =>
    [...p.spec.containers, ...(p.spec.initContainers ?? []).filter((c: any) => c.restartPolicy === 'Always')].map((c: any) => c.name).sort(),
  );
}

const aboutAcmg = (m: { origin: string; message: string }) => /acmg|helloworld|reviews|ratings/.test(`${m.origin} ${m.message}`);
const serious = (ms: ReturnType<typeof istioctlAnalyze>) => ms.filter((m) => m.level === 'Error' || m.level === 'Warning').filter(aboutAcmg);

describe('acmg judged by the real istiod and istioctl', () => {
  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    kubectl(['label', 'namespace', 'default', 'istio-injection=enabled', '--overwrite']);
    applyFiles(['samples/helloworld/helloworld.yaml', 'test/e2e/fixtures/shop.yaml']);
    kubectl(['label', 'namespace', 'shop', 'istio-injection=enabled', '--overwrite']);
    // Pods made before the labels (by earlier test files) have no proxy, and istioctl analyze would
    // rightly say so (IST0103): roll both namespaces so every pod is what the injector makes.
    for (const ns of ['default', 'shop']) kubectl(['-n', ns, 'rollout', 'restart', 'deployment']);
    for (const ns of ['default', 'shop']) kubectl(['-n', ns, 'rollout', 'status', 'deployment', '--timeout=90s']);
  });

  afterAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
  });

  test("istiod's validating webhook is live: it denies an invalid Gateway, and acmg refuses the same values itself (exit 2, nothing applied)", async () => {
    // The negative control: without it, "admitted" below would prove nothing.
    const dupNames = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'dup', namespace: 'istio-system' },
      spec: {
        selector: { app: 'x' },
        servers: [
          { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] },
          { port: { number: 81, name: 'http', protocol: 'HTTP' }, hosts: ['*'] },
        ],
      },
    };
    expect(dryRunApply([dupNames])).toMatch(/port names in servers must be unique: duplicate name http/);
    expect(dryRunApply([dupNames])).toMatch(DENIED);
    const r = expectExit(
      await acmg([
        'install',
        '--profile',
        'minimal',
        '--set',
        'gateway.ports[1].name=http',
        '--set',
        'gateway.ports[1].port=81',
        '--set',
        'gateway.ports[1].protocol=HTTP',
        '-y',
      ]),
      2,
    );
    expect(r.stderr).toMatch(/gateway.ports\[1\].name: "http" is already used by gateway.ports\[0\]/);
    expect(acmgObjects()).toEqual([]);
  });

  test("every profile's objects are admitted by the API server and Istio's validation (server-side dry run)", async () => {
    for (const profile of PROFILES) {
      const r = expectExit(await acmg(['manifest', 'generate', '--profile', profile, '-o', 'json']), 0);
      const parsed = JSON.parse(r.stdout);
      const items = Array.isArray(parsed) ? parsed : parsed.items;
      // Every profile renders acmg's state ConfigMap (the install record, for GitOps); empty renders nothing else.
      if (profile === 'empty') expect(items.map((o: any) => `${o.kind}/${o.metadata.name}`)).toEqual(['ConfigMap/acmg-state']);
      expect(dryRunApply(items)).toBe('');
    }
  });

  test("install: the gateway pods are injected by the real injector with istiod's own proxy", async () => {
    const r = expectExit(await acmg(['precheck']), 0);
    expect(r.stdout).toMatch(/√ sidecar injector \(revision default\) is configured/);
    expect(r.stdout).toMatch(new RegExp(`√ the injector answers and injects the gateway: proxy image docker.io/istio/proxyv2:${istioRelease}`));
    expect(r.stdout).toMatch(new RegExp(`√ gateway proxy version is supported by istiod: istiod ${istioRelease}, gateway proxy ${istioRelease}`));
    expect(r.stdout).toMatch(/√ Istio config validation answers/);
    expectExit(await acmg(['install', '-y']), 0);
    const pods = kubectlJson(['-n', 'istio-system', 'get', 'pods', '-l', 'app=acmg-gateway']).items;
    expect(pods.length).toBeGreaterThanOrEqual(2);
    for (const p of pods) {
      const proxy = p.spec.containers.find((c: any) => c.name === 'istio-proxy');
      expect(proxy.image).toBe(`docker.io/istio/proxyv2:${istioRelease}`);
      expect(proxy.args).toEqual(expect.arrayContaining(['proxy', 'router', '$(POD_NAMESPACE).svc.cluster.local']));
      expect(p.metadata.annotations['istio.io/rev']).toBe('default');
    }
  });

  test('sidecar injection: injected before, gone after migrate --keep-service --restart, back after rollback --restart', async () => {
    expect(await podContainers('default', 'app=helloworld')).toEqual([
      ['helloworld', 'istio-proxy'],
      ['helloworld', 'istio-proxy'],
    ]);
    expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '--restart', '-y', ...NS]), 0);
    expect(kubectlJson(['get', 'namespace', 'default']).metadata.labels['istio-injection']).toBe('disabled');
    expect(await podContainers('default', 'app=helloworld')).toEqual([['helloworld'], ['helloworld']]);
    expectExit(await acmg(['rollback', 'helloworld', '-n', 'default', '--restart', '-y', ...NS]), 0);
    expect(kubectlJson(['get', 'namespace', 'default']).metadata.labels['istio-injection']).toBe('enabled');
    expect(await podContainers('default', 'app=helloworld')).toEqual([
      ['helloworld', 'istio-proxy'],
      ['helloworld', 'istio-proxy'],
    ]);
  });

  test("routing: istiod gives each namespace's listener a route per migrated service, matching its names (the bare one too) by :authority, to the service's own port (both approaches), and takes it away on rollback", async () => {
    expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...NS]), 0);
    expectExit(await acmg(['migrate', 'reviews', '-n', 'shop', '--replace-service', '-y', ...NS]), 0);
    const hello = 'outbound|5000||helloworld.default.svc.cluster.local';
    const reviews = 'outbound|9080||reviews-acmg.shop.svc.cluster.local';
    /** A namespace's door: the listener port its service port arrives on. */
    const listenerOf = (ns: string, port: number): number =>
      kubectlJson(['-n', 'istio-system', 'get', 'service', `acmg-${ns}`]).spec.ports.find((p: any) => p.port === port).targetPort;
    const [helloL, reviewsL] = [listenerOf('default', 5000), listenerOf('shop', 9080)];
    expect(helloL).not.toBe(reviewsL);
    const { value: cfg } = await eventually('gateway routes for both services', 30_000, () => {
      const c = gatewayConfig();
      return virtualHostsOnPort(c, helloL).length && virtualHostsOnPort(c, reviewsL).length ? c : undefined;
    });
    /** Each route on a listener: its match (path and headers) -> clusters. */
    const routesOn = (port: number) => virtualHostsOnPort(cfg, port).flatMap((vh) => vh.routes.map((r) => [vh.domains, r.match, r.clusters]));
    const authority = (svc: string, ns: string) => `:authority~(?i)^${svc}(\\.${ns}(\\.svc(\\.cluster\\.local\\.?)?)?)?(:[0-9]+)?$`;
    expect(routesOn(helloL)).toEqual([[['*'], `prefix:/ ${authority('helloworld', 'default')}`, [hello]]]);
    expect(routesOn(reviewsL)).toEqual([[['*'], `prefix:/ ${authority('reviews', 'shop')}`, [reviews]]]);
    // Istio names the route configuration by the listener port, and the gateway listens on it.
    expect(cfg.listeners.flatMap((l) => l.routeNames)).toEqual(expect.arrayContaining([`http.${helloL}`, `http.${reviewsL}`]));
    expect(cfg.listeners.map((l) => l.port)).toEqual(expect.arrayContaining([helloL, reviewsL]));

    const found = serious(istioctlAnalyze());
    expect(found).toEqual([]);

    expectExit(await acmg(['rollback', '--all', '-y', ...NS]), 0);
    await eventually('routes and listeners gone after rollback', 30_000, () => {
      const c = gatewayConfig();
      return virtualHostsOnPort(c, helloL).length === 0 && virtualHostsOnPort(c, reviewsL).length === 0 && !c.listeners.some((l) => l.port === helloL);
    });
  });

  test("sync: a VirtualService of the user's bound to the acmg Gateway gets its port on the gateway and its route from istiod", async () => {
    applyObjects(
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'ratings-via-gateway', namespace: 'shop' },
        spec: {
          hosts: ['ratings.shop.svc.cluster.local'],
          gateways: ['istio-system/acmg-gateway'],
          http: [{ route: [{ destination: { host: 'ratings', port: { number: 9090 } } }] }],
        },
      },
      { fieldManager: 'acmg-test' },
    );
    try {
      expectExit(await acmg(['sync']), 0);
      const gwPorts = kubectlJson(['-n', 'istio-system', 'get', 'gateways.networking.istio.io', 'acmg-gateway']).spec.servers.map((s: any) => s.port);
      expect(gwPorts).toEqual(expect.arrayContaining([expect.objectContaining({ number: 9090, protocol: 'GRPC' })]));
      const { value: cfg } = await eventually('the synced route', 30_000, () => {
        const c = gatewayConfig();
        return routesByDomain(c, 9090)['ratings.shop.svc.cluster.local'] ? c : undefined;
      });
      expect(routesByDomain(cfg, 9090)).toEqual({ 'ratings.shop.svc.cluster.local': ['outbound|9090||ratings.shop.svc.cluster.local'] });
      expect(serious(istioctlAnalyze())).toEqual([]);
    } finally {
      kubectl(['-n', 'shop', 'delete', 'virtualservices.networking.istio.io', 'ratings-via-gateway']);
      expectExit(await acmg(['sync']), 0);
    }
  });

  test('istioctl analyze flags a route to a service that does not exist (the control for the analyze checks above)', async () => {
    applyObjects(
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'acmg-broken', namespace: 'shop' },
        spec: {
          hosts: ['broken.shop.svc.cluster.local'],
          gateways: ['istio-system/acmg-gateway'],
          http: [{ route: [{ destination: { host: 'no-such-service', port: { number: 80 } } }] }],
        },
      },
      { fieldManager: 'acmg-test' },
    );
    try {
      expect(serious(istioctlAnalyze())).toEqual(
        expect.arrayContaining([expect.objectContaining({ code: 'IST0101', level: 'Error', origin: 'VirtualService shop/acmg-broken' })]),
      );
    } finally {
      kubectl(['-n', 'shop', 'delete', 'virtualservices.networking.istio.io', 'acmg-broken']);
    }
  });

  test('istioctl analyze -A: nothing about acmg after uninstall --purge', async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    expect(acmgObjects()).toEqual([]);
    expect(istioctlAnalyze().filter((m) => /acmg/.test(`${m.origin} ${m.message}`))).toEqual([]);
  });
});
