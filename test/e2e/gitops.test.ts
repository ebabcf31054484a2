// Issue #26 point 1 proof: an install that a GitOps tool applies from `acmg manifest generate` is an
// install acmg recognises. kubectl stands in for the tools: a client-side `kubectl apply -f -` (what
// Argo CD does by default) on the kubeadm layout, a server-side apply with Flux's field manager on
// the k3s one. The rendered controller runs as the process users run, with nothing but the
// permissions its ServiceAccount is given (a token of it), so a missing install record or rule shows.
// Then: migrate works, re-applying the same output (a GitOps sync) and acmg install with the same
// values leave what migrate did and the record as they were, and uninstall --purge removes it all.
import { spawnSync } from 'node:child_process';
import yaml from 'js-yaml';
import { query } from '../../src/dns/client.js';
import type { KObject } from '../../src/model/object.js';
import { Controller, applyVs, vsDoc } from './controller-process.js';
import {
  DNS_NAMESERVER,
  acmg,
  acmgObjects,
  applyFiles,
  corefile,
  dns,
  eventually,
  expectExit,
  kubeconfig,
  kubectl,
  kubectlBin,
  kubectlJson,
  serviceAccountKubeconfig,
  sleep,
  switchLayout,
} from './cluster.js';

const NS = ['--nameserver', DNS_NAMESERVER];
/** The values kept in Git: the controller on, the layout named, and the port of the VirtualService the test binds declared (sync then adds none). */
const VALUES = [
  '--set',
  'controller.enabled=true',
  '--set',
  'gateway.ports[1].name=http-9080',
  '--set',
  'gateway.ports[1].port=9080',
  '--set',
  'gateway.ports[1].protocol=HTTP',
];
const SA = 'system:serviceaccount:istio-system:acmg-controller';

const answer = async (name: string) => (await query(name, 'A', dns)).answers[0]?.data;
const gatewayIP = () => kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-gateway']).spec.clusterIP as string;
const stateData = () => kubectlJson(['-n', 'istio-system', 'get', 'configmap', 'acmg-state']).data as Record<string, string>;
const status = async () => JSON.parse(expectExit(await acmg(['status', '-o', 'json']), 0).stdout);
/** `kubectl auth can-i ... --as` the controller's ServiceAccount: "yes" or "no" (kubectl exits 1 for no). */
/** kubectl auth can-i as the controller; "pods/portforward" is a subresource (kubectl reads "TYPE/NAME" as a name otherwise). */
const canI = (verb: string, resource: string, namespace: string): string => {
  const [type, sub] = resource.split('/');
  const what = sub && type === 'pods' ? [type, `--subresource=${sub}`] : [resource];
  const r = spawnSync(kubectlBin, ['--kubeconfig', kubeconfig, 'auth', 'can-i', verb, ...what, '-n', namespace, `--as=${SA}`], { encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 1) throw new Error(`kubectl auth can-i ${verb} ${resource} failed: ${r.stderr}`);
  return r.stdout.trim();
};

/** manifest generate's YAML (what goes into Git) and its objects. */
async function generate(extra: string[]): Promise<{ text: string; objects: KObject[] }> {
  const r = expectExit(await acmg(['manifest', 'generate', ...VALUES, ...extra]), 0);
  return { text: r.stdout, objects: yaml.loadAll(r.stdout).filter(Boolean) as KObject[] };
}
const names = (objects: KObject[]) => objects.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
const gitRecord = (objects: KObject[]) => objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'acmg-state')!.data.install as string;

describe('an install applied from acmg manifest generate (kubectl apply, as Argo CD and Flux do)', () => {
  const controller = new Controller();
  let originalCorefile: string;
  let git: { text: string; objects: KObject[] };
  const deleteVses = () => kubectl(['-n', 'shop', 'delete', 'virtualservices.networking.istio.io', '-l', 'acmg-test=gitops', '--ignore-not-found']);

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    applyFiles(['samples/helloworld/helloworld.yaml', 'test/e2e/fixtures/shop.yaml']);
    kubectl(['label', 'namespace', 'default', 'istio-injection=enabled', '--overwrite']);
    deleteVses();
    originalCorefile = corefile();
  });

  afterAll(async () => {
    await controller.kill('SIGTERM');
    deleteVses();
    await acmg(['uninstall', '--purge', '-y', ...NS]);
    switchLayout('kubeadm');
  });

  test('kubectl apply -f - of the output (client-side, as Argo CD) is an install acmg status recognises', async () => {
    git = await generate(['--set', 'dns.mode=corefile']);
    expect(names(git.objects)).toContain('ConfigMap istio-system/acmg-state');
    kubectl(['apply', '-f', '-'], git.text);
    expect(await status()).toMatchObject({ installed: true, namespace: 'istio-system', profile: 'acmg', inProgress: false });
    await eventually('the gateway ready', 90_000, async () => (await status()).gateway?.ready === true);
    expect(acmgObjects()).toEqual(names(git.objects));
    expect(stateData().install).toBe(gitRecord(git.objects));
    // The Corefile layout's controller may neither port-forward to CoreDNS nor restart it.
    expect(canI('create', 'pods/portforward', 'kube-system')).toBe('no');
    expect(canI('patch', 'deployments.apps/coredns', 'kube-system')).toBe('no');
  });

  test('the rendered controller, with only its ServiceAccount permissions, finds the install, serves and steers DNS', async () => {
    await controller.start(['--kubeconfig', serviceAccountKubeconfig('istio-system', 'acmg-controller'), ...NS]);
    expect(controller.log).not.toMatch(/not installed/);
    applyVs([vsDoc('gitops', 'reviews', { test: 'gitops' })]);
    const ip = gatewayIP();
    await eventually('reviews on the gateway', 30_000, async () => (await answer('reviews.shop.svc.cluster.local')) === ip);
    expect(await controller.metric('acmg_sync_errors_total')).toBe(0);
    deleteVses();
    await eventually('reviews back on its own address', 30_000, async () => (await answer('reviews.shop.svc.cluster.local')) !== ip);
    expect(await controller.metric('acmg_sync_errors_total')).toBe(0);
  });

  test('migrate works on it; a GitOps sync of the same output and acmg install with the same values undo nothing and keep the record', async () => {
    expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...NS]), 0);
    const switched = async () => (await status()).services.find((s: { service: string }) => s.service === 'helloworld')?.dns;
    expect(await switched()).toBe('switched');
    const before = stateData();
    expect(before.install).toBe(gitRecord(git.objects));
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['install', 'listeners']));

    // The GitOps tool syncs again: the same output, applied over what acmg and its controller wrote.
    kubectl(['apply', '-f', '-'], git.text);
    expect(stateData()).toEqual(before);
    expect(await switched()).toBe('switched');
    expectExit(await acmg(['verify-dns', 'helloworld', '-n', 'default', ...NS]), 0);

    // acmg install with the values Git holds: nothing of the record changes (no installedAt fight).
    expectExit(await acmg(['install', ...VALUES, '--set', 'dns.mode=corefile', '-y']), 0);
    expect(stateData().install).toBe(gitRecord(git.objects));
    expect(await switched()).toBe('switched');
    expect(await controller.metric('acmg_sync_errors_total')).toBe(0);
  });

  test('uninstall --purge removes it all, what migrate added too, and the Corefile is as before', async () => {
    await controller.kill('SIGTERM');
    const helloIP = kubectlJson(['-n', 'default', 'get', 'service', 'helloworld']).spec.clusterIP;
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    expect(acmgObjects()).toEqual([]);
    expect(corefile()).toBe(originalCorefile);
    expect((await status()).installed).toBe(false);
    expect(kubectlJson(['get', 'namespace', 'default']).metadata.labels?.['istio-injection']).toBe('enabled');
    expect(await answer('helloworld.default.svc.cluster.local')).toBe(helloIP);
  });

  test("on a coredns-custom layout (k3s), dns.mode=custom's output applied server-side (as Flux) gives the controller what it needs there", async () => {
    switchLayout('k3s');
    const k3s = await generate(['--set', 'dns.mode=custom']);
    kubectl(['apply', '--server-side', '--field-manager=kustomize-controller', '-f', '-'], k3s.text);
    expect(await status()).toMatchObject({ installed: true, profile: 'acmg' });
    expect(canI('create', 'pods/portforward', 'kube-system')).toBe('yes');
    expect(canI('patch', 'deployments.apps/coredns', 'kube-system')).toBe('yes');
    // No --nameserver: the check after each write asks a CoreDNS pod through a port-forward, as its own identity.
    await controller.start(['--kubeconfig', serviceAccountKubeconfig('istio-system', 'acmg-controller'), '--dns-timeout', '30s']);
    applyVs([vsDoc('gitops', 'reviews', { test: 'gitops' })]);
    const ip = gatewayIP();
    await eventually('reviews on the gateway', 30_000, async () => (await answer('reviews.shop.svc.cluster.local')) === ip);
    expect(await controller.metric('acmg_sync_dns_writes_total')).toBeGreaterThanOrEqual(1);
    // The check beside it: a refused port-forward fails it at once ("checking DNS after the write", an error counted).
    await sleep(10_000);
    expect(controller.log).not.toMatch(/checking DNS after the write/);
    expect(await controller.metric('acmg_sync_errors_total')).toBe(0);
    expect(await controller.metric('acmg_sync_dns_unconfirmed_total')).toBe(0);
    await controller.kill('SIGTERM');
    deleteVses();
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    expect(acmgObjects()).toEqual([]);
  });
});
