// Issue #16 proof: the layouts where acmg writes coredns-custom (AKS: relative imports, the ConfigMap
// already there and empty; k3s: absolute imports, the ConfigMap created by acmg) and a Corefile
// without the reload plugin (acmg must restart CoreDNS itself). Each starts from a CoreDNS that has
// already loaded the layout, as on a live cluster, and runs the whole flow under a 20 ms DNS prober:
// install, both approaches, verify-dns, rollback, purge, with zero failed lookups and the DNS
// ConfigMaps back byte for byte.
import { query } from '../../src/dns/client.js';
import { spawnSync } from 'node:child_process';
import {
  DNS_NAMESERVER,
  acmg,
  acmgObjects,
  applyFiles,
  dns,
  doorIP,
  eventually,
  expectExit,
  kubeconfig,
  kubectl,
  kubectlBin,
  kubectlJson,
  serviceAccountKubeconfig,
  switchLayout,
} from './cluster.js';
import { DnsProber, badSamples } from './dns-prober.js';

const NS = ['--nameserver', DNS_NAMESERVER];
// Well under the test's timeout: if CoreDNS never loads a change, acmg says which names answer what.
const WAIT = [...NS, '--dns-timeout', '60s'];
const METRICS = `http://127.0.0.1:${process.env.ACMG_DNS_METRICS_PORT ?? 19153}/metrics`;
const dnsConfigMaps = () => {
  const get = (name: string) => kubectl(['-n', 'kube-system', 'get', 'configmap', name, '--ignore-not-found', '-o', 'json']).trim();
  const data = (text: string) => (text ? (JSON.parse(text).data ?? {}) : null);
  return { coredns: data(get('coredns')), custom: data(get('coredns-custom')) };
};
// Retried: during a restart an old CoreDNS in lameduck shares the port (SO_REUSEPORT) and may close a connection.
const metric = async (name: string) => {
  const { value } = await eventually(`CoreDNS metrics`, 10_000, async () => (await fetch(METRICS)).text());
  return Number(value.match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1] ?? NaN);
};
const corednsRestarts = () =>
  kubectlJson(['-n', 'kube-system', 'get', 'deployment', 'coredns']).spec.template.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'];

describe('DNS layouts with coredns-custom imports, and without reload', () => {
  let helloIP: string;
  let reviewsIP: string;

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...WAIT]), 0);
    applyFiles(['samples/helloworld/helloworld.yaml', 'test/e2e/fixtures/shop.yaml']);
    helloIP = kubectlJson(['-n', 'default', 'get', 'service', 'helloworld']).spec.clusterIP;
    reviewsIP = kubectlJson(['-n', 'shop', 'get', 'service', 'reviews']).spec.clusterIP;
  });

  afterAll(async () => {
    await acmg(['uninstall', '--purge', '-y', ...WAIT]);
    switchLayout('kubeadm');
  });

  test.each([
    ['aks', 'acmg.override', false],
    ['k3s', 'acmg.server', false],
    ['no-reload', undefined, true],
  ])('layout %s: the whole flow under a 20 ms prober, DNS back byte for byte (writes %s, restarts CoreDNS: %s)', async (layout, customKey, restarts) => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...WAIT]), 0); // whatever an earlier case left
    switchLayout(layout); // returns once CoreDNS has loaded it
    const before = dnsConfigMaps();
    const failedReloads = await metric('coredns_reload_failed_total');
    const restarts0 = corednsRestarts();
    expectExit(await acmg(['install', '--profile', 'minimal', '-y']), 0);
    // Each namespace's names answer its own door on the gateway, known once its first migration opened it.
    let helloDoor = '';
    let reviewsDoor = '';

    const hello = new DnsProber('helloworld.default.svc.cluster.local', 20);
    const reviews = new DnsProber('reviews.shop.svc.cluster.local', 20);
    hello.start();
    reviews.start();
    try {
      const dry = expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '--dry-run', ...NS]), 0);
      expect(/restart CoreDNS \(its Corefile has no reload plugin/.test(dry.stdout)).toBe(restarts);
      const m1 = expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...WAIT]), 0);
      expect(/restart CoreDNS/.test(m1.stderr)).toBe(restarts);
      helloDoor = doorIP('default');
      expectExit(await acmg(['migrate', 'reviews', '-n', 'shop', '--replace-service', '-y', ...WAIT]), 0);
      reviewsDoor = doorIP('shop');
      const v = JSON.parse(expectExit(await acmg(['verify-dns', '-o', 'json', ...NS]), 0).stdout);
      expect(v.passed).toBe(true);
      expect(v.results.filter((r: any) => r.form === 'fqdn').map((r: any) => [r.written, r.pass])).toEqual([
        ['helloworld.default.svc.cluster.local.', true],
        ['reviews.shop.svc.cluster.local.', true],
      ]);
      if (customKey) {
        expect(dnsConfigMaps().coredns).toEqual(before.coredns); // the managed Corefile is never touched
        expect(Object.keys(dnsConfigMaps().custom)).toEqual([customKey]);
      }
      const rb = expectExit(await acmg(['rollback', '--all', '-y', ...WAIT]), 0);
      expect(/restart CoreDNS/.test(rb.stderr)).toBe(restarts); // rollback's DNS write needs it too
      expect((await hello.next()).ips).toEqual([helloIP]);
      expect((await reviews.next()).ips).toEqual([reviewsIP]);
    } finally {
      await hello.stop();
      await reviews.stop();
    }
    // Zero failed or empty answers; every answer the service's own address or the gateway's. Only a
    // restart (old CoreDNS processes exit) may lose a first attempt that a resolver's retry answers.
    expect(badSamples(hello.samples, [helloIP, helloDoor], { retries: restarts })).toEqual([]);
    expect(badSamples(reviews.samples, [reviewsIP, reviewsDoor], { retries: restarts })).toEqual([]);
    expect(hello.samples.some((s) => s.ips[0] === helloDoor)).toBe(true);
    expect(reviews.samples.some((s) => s.ips[0] === reviewsDoor)).toBe(true);
    // CoreDNS accepted every configuration it was given (the harness bug of #16 showed here).
    expect(await metric('coredns_reload_failed_total')).toBe(failedReloads);
    expect(corednsRestarts() !== restarts0).toBe(restarts);

    expectExit(await acmg(['uninstall', '--purge', '-y', ...WAIT]), 0);
    expect(dnsConfigMaps()).toEqual(before); // AKS's empty coredns-custom stays, k3s's acmg-made one goes
    expect(acmgObjects()).toEqual([]);
    await eventually(
      'CoreDNS answering the original address',
      20_000,
      async () => (await query('helloworld.default.svc.cluster.local', 'A', dns)).answers[0]?.data === helloIP,
    );
  });

  test("layout no-reload: acmg sync as the controller's own ServiceAccount restarts CoreDNS by the name install recorded (get, watch and patch on that Deployment, nothing else)", async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...WAIT]), 0);
    switchLayout('no-reload');
    const values = ['--set', 'controller.enabled=true', '--set', 'controller.replicas=0', '--set', 'istioGateway.enabled=true'];
    expectExit(await acmg(['install', '--profile', 'minimal', ...values, '-y']), 0);
    const record = JSON.parse(kubectlJson(['-n', 'istio-system', 'get', 'configmap', 'acmg-state']).data.install);
    expect(record.corednsDeployment).toBe('coredns');
    // The real API server's authorizer: the named Deployment only, no list of Deployments.
    const as = ['--as', 'system:serviceaccount:istio-system:acmg-controller'];
    const canI = (verb: string, what: string) =>
      spawnSync(kubectlBin, ['--kubeconfig', kubeconfig, 'auth', 'can-i', verb, what, '-n', 'kube-system', ...as], { encoding: 'utf8' }).stdout.trim();
    expect([
      canI('patch', 'deployments.apps/coredns'),
      canI('watch', 'deployments.apps/coredns'),
      canI('list', 'deployments.apps'),
      canI('patch', 'deployments.apps/other'),
    ]).toEqual(['yes', 'yes', 'no', 'no']);

    const sa = serviceAccountKubeconfig('istio-system', 'acmg-controller');
    const gatewayIP = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-gateway']).spec.clusterIP;
    const vs = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'reviews-edge', namespace: 'shop' },
      spec: { hosts: ['reviews.shop.svc.cluster.local'], gateways: ['istio-system/acmg-gateway'], http: [{ route: [{ destination: { host: 'reviews' } }] }] },
    };
    const answer = async () => (await query('reviews.shop.svc.cluster.local', 'A', dns)).answers[0]?.data;
    try {
      kubectl(['apply', '-f', '-'], JSON.stringify(vs));
      const restarts0 = corednsRestarts();
      const add = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', '--kubeconfig', sa, ...WAIT]), 0).stdout);
      expect(add.add).toEqual([{ fqdn: 'reviews.shop.svc.cluster.local', ip: gatewayIP }]);
      const restarts1 = corednsRestarts();
      expect(restarts1).not.toEqual(restarts0);
      await eventually('reviews on the gateway', 30_000, async () => (await answer()) === gatewayIP);
      kubectl(['-n', 'shop', 'delete', 'virtualservice', 'reviews-edge']);
      const remove = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', '--kubeconfig', sa, ...WAIT]), 0).stdout);
      expect(remove.remove).toEqual([{ fqdn: 'reviews.shop.svc.cluster.local', ip: gatewayIP }]);
      expect(corednsRestarts()).not.toEqual(restarts1);
      await eventually('reviews on its own address again', 30_000, async () => (await answer()) === reviewsIP);
    } finally {
      kubectl(['-n', 'shop', 'delete', 'virtualservice', 'reviews-edge', '--ignore-not-found']);
      expectExit(await acmg(['uninstall', '--purge', '-y', ...WAIT]), 0);
    }
  });
});
