// Issue #6 proof: install -> status -> reinstall (no change) -> changed overlay (in-place update,
// prune) -> uninstall --purge (zero acmg objects, original Corefile); bad paths write nothing.
import { join } from 'node:path';
import { acmg, acmgObjects, applyFiles, applyObjects, clusterDir, corefile, expectExit, kubectl, kubectlJson } from './cluster.js';

describe('acmg install / status / uninstall on the local control plane', () => {
  let originalCorefile: string;

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', '--nameserver', '127.0.0.1:10053']), 0);
    originalCorefile = corefile();
  });

  test('status on a cluster without acmg says so', async () => {
    const r = expectExit(await acmg(['status']), 0);
    expect(r.stdout).toContain('acmg is not installed');
    expect(JSON.parse(expectExit(await acmg(['status', '-o', 'json']), 0).stdout).installed).toBe(false);
  });

  test('precheck passes, as a checklist and as JSON', async () => {
    const text = expectExit(await acmg(['precheck']), 0);
    expect(text.stdout).toMatch(/√ API server reachable: .*v1\.35/);
    expect(text.stdout).toMatch(/√ acmg can do what install and migrate need/);
    const json = JSON.parse(expectExit(await acmg(['precheck', '-o', 'json']), 0).stdout);
    expect(json.passed).toBe(true);
    expect(json.results.map((r: any) => r.category)).toEqual(expect.arrayContaining(['kubernetes-api', 'permissions', 'istio', 'dns', 'install']));
  });

  test('precheck fails, saying what it found: another Gateway on the gateway pods; no CoreDNS; kube-dns', async () => {
    const foreign = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'someone-elses', namespace: 'default' },
      spec: { selector: { istio: 'acmg-gateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] },
    };
    applyObjects(foreign);
    try {
      const r = expectExit(await acmg(['precheck']), 1);
      expect(r.stdout).toMatch(/× only acmg's Istio Gateway selects the gateway pods: also selecting them: default\/someone-elses/);
      expect(r.stdout).toMatch(/hint: the design allows exactly one Gateway/);
    } finally {
      kubectl(['-n', 'default', 'delete', 'gateways.networking.istio.io', 'someone-elses']);
    }

    const saved = kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns']);
    kubectl(['-n', 'kube-system', 'delete', 'configmap', 'coredns']);
    try {
      const none = expectExit(await acmg(['precheck']), 1);
      expect(none.stdout).toMatch(/× cluster DNS layout supported: no CoreDNS configuration found: ConfigMap kube-system\/coredns does not exist/);
      applyObjects({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'kube-dns', namespace: 'kube-system' },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'legacy-kube-dns' } },
          template: {
            metadata: { labels: { app: 'legacy-kube-dns' } },
            spec: { containers: [{ name: 'kubedns', image: 'registry.k8s.io/k8s-dns-kube-dns:1.22.28' }] },
          },
        },
      });
      const kubeDns = expectExit(await acmg(['precheck']), 1);
      expect(kubeDns.stdout).toMatch(/cluster DNS is kube-dns \(Deployment kube-system\/kube-dns\), not CoreDNS/);
      expect(kubeDns.stdout).toMatch(/hint: acmg supports CoreDNS/);
      expect(expectExit(await acmg(['install', '-y']), 1).stderr).toMatch(/precheck failed: cluster DNS layout supported/);
      expect(acmgObjects()).toEqual([]);
    } finally {
      kubectl(['-n', 'kube-system', 'delete', 'deployment', 'kube-dns', '--ignore-not-found']);
      kubectl(
        ['create', '-f', '-'],
        JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: 'kube-system' }, data: saved.data }),
      );
    }
    expect(corefile()).toBe(originalCorefile);
  });

  test('without a terminal, install refuses unless -y, and changes nothing', async () => {
    const r = expectExit(await acmg(['install']), 2);
    expect(r.stderr).toMatch(/refusing without confirmation/);
    expect(r.stderr).toMatch(/pass -y/);
    expect(r.stdout).toBe('');
    expect(acmgObjects()).toEqual([]);
  });

  test('install -> status -> reinstall is a no-op -> changed overlay updates in place and prunes -> purge', async () => {
    const inst = expectExit(await acmg(['install', '-y']), 0);
    expect(inst.stderr).toMatch(/gateway ClusterIP: 10\.96\./);
    expect(acmgObjects()).toEqual(
      expect.arrayContaining([
        'Deployment istio-system/acmg-gateway',
        'Service istio-system/acmg-gateway',
        'Gateway istio-system/acmg-gateway',
        'PodDisruptionBudget istio-system/acmg-gateway',
        'ConfigMap istio-system/acmg-state',
      ]),
    );
    const dep = kubectlJson(['-n', 'istio-system', 'get', 'deployment', 'acmg-gateway']);
    expect(dep.status.availableReplicas).toBe(2);
    // The gateway Service listens on the profile's ports; no running service's DNS changed.
    expect(corefile()).toBe(originalCorefile);

    const status = JSON.parse(expectExit(await acmg(['status', '-o', 'json']), 0).stdout);
    expect(status).toMatchObject({
      installed: true,
      profile: 'acmg',
      namespace: 'istio-system',
      gateway: { ready: true },
      dns: { entries: 0, clusterDomain: 'cluster.local' },
      services: [],
    });
    expect(status.gateway.clusterIP).toMatch(/^10\.96\./);

    const again = expectExit(await acmg(['install', '-y']), 0);
    expect(again.stderr).toMatch(/already installed with these values/);
    expect(kubectlJson(['-n', 'istio-system', 'get', 'deployment', 'acmg-gateway']).metadata.resourceVersion).toBe(dep.metadata.resourceVersion);

    const dry = expectExit(await acmg(['install', '--set', 'gateway.replicas=3', '--set', 'gateway.podDisruptionBudget.enabled=false', '--dry-run']), 0);
    expect(dry.stdout).toMatch(/- {2}replicas: 2\n\+ {2}replicas: 3/);
    expect(dry.stdout).toMatch(/pruned/);
    expect(kubectlJson(['-n', 'istio-system', 'get', 'deployment', 'acmg-gateway']).spec.replicas).toBe(2);

    expectExit(await acmg(['install', '--set', 'gateway.replicas=3', '--set', 'gateway.podDisruptionBudget.enabled=false', '-y']), 0);
    const updated = kubectlJson(['-n', 'istio-system', 'get', 'deployment', 'acmg-gateway']);
    expect(updated.metadata.uid).toBe(dep.metadata.uid);
    expect(updated.spec.replicas).toBe(3);
    expect(updated.status.availableReplicas).toBe(3);
    expect(acmgObjects()).not.toContain('PodDisruptionBudget istio-system/acmg-gateway');

    const purge = expectExit(await acmg(['uninstall', '--purge', '-y']), 0);
    expect(purge.stderr).toMatch(/acmg removed/);
    expect(acmgObjects()).toEqual([]);
    expect(corefile()).toBe(originalCorefile);
    const second = expectExit(await acmg(['uninstall', '--purge', '-y']), 0);
    expect(second.stderr).toMatch(/nothing to do/);
  });

  test("purge restores the backed-up Corefile when acmg's region was edited by hand", async () => {
    expectExit(await acmg(['install', '--profile', 'demo', '-y']), 0);
    applyFiles('samples/helloworld/helloworld.yaml');
    expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', '--nameserver', '127.0.0.1:10053']), 0);
    const withRegion = corefile();
    kubectl([
      '-n',
      'kube-system',
      'patch',
      'configmap',
      'coredns',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ data: { Corefile: withRegion.replace('ttl 5', 'ttl 9') } }),
    ]);
    // A hand-edited region is refused for normal changes...
    applyFiles('test/e2e/fixtures/shop.yaml');
    const refused = expectExit(await acmg(['migrate', 'reviews', '-n', 'shop', '--keep-service', '-y', '--nameserver', '127.0.0.1:10053']), 2);
    expect(refused.stderr).toMatch(/cluster DNS: Corefile: the acmg region on line \d+ was edited by hand/);
    expect(refused.stderr).toMatch(/--force/);
    expect(acmgObjects()).not.toContain('VirtualService shop/acmg-reviews');
    const status = JSON.parse(expectExit(await acmg(['status', '-o', 'json']), 0).stdout);
    expect(status.dns.tampered[0]).toMatch(/edited by hand/);
    // ...and purge puts back the original from the backup.
    expectExit(await acmg(['uninstall', '--purge', '-y', '--nameserver', '127.0.0.1:10053']), 0);
    expect(corefile()).toBe(originalCorefile);
    expect(acmgObjects()).toEqual([]);
    expect(kubectlJson(['get', 'namespace', 'default']).metadata.labels['istio-injection']).toBe('enabled');
  });

  test('ha profile in a new namespace: the scheduler places every gateway pod on the dedicated gateway node', async () => {
    kubectl(['delete', 'namespace', 'acmg-ha', '--ignore-not-found', '--wait=true', '--timeout=60s']);
    // One dedicated node in the harness, so anti-affinity must be preferred (required would leave 2 of 3 Pending).
    const r = expectExit(
      await acmg(['install', '--profile', 'ha', '--set', 'namespace=acmg-ha', '--set', 'gateway.placement.antiAffinity=preferred', '-y']),
      0,
    );
    expect(r.stderr).toMatch(/\+ create Namespace acmg-ha/);
    expect(r.stderr).toMatch(/Available \(3\+ replicas, scaled by the HPA\)/);
    const pods = kubectlJson(['-n', 'acmg-ha', 'get', 'pods', '-l', 'app=acmg-gateway']).items;
    expect(pods).toHaveLength(3);
    for (const p of pods) expect(p.spec.nodeName).toBe('kwok-gateway-0');
    expect(acmgObjects()).toEqual(expect.arrayContaining(['HorizontalPodAutoscaler acmg-ha/acmg-gateway', 'PodDisruptionBudget acmg-ha/acmg-gateway']));
    // An ordinary workload does not land there: the node is tainted.
    expect(kubectlJson(['-n', 'default', 'get', 'pods', '-l', 'app=helloworld']).items.every((p: any) => p.spec.nodeName !== 'kwok-gateway-0')).toBe(true);
    const status = JSON.parse(expectExit(await acmg(['status', '-o', 'json']), 0).stdout);
    expect(status).toMatchObject({ namespace: 'acmg-ha', profile: 'ha', gateway: { ready: true } });
    expectExit(await acmg(['uninstall', '--purge', '-y', '--nameserver', '127.0.0.1:10053']), 0);
    expect(acmgObjects()).toEqual([]);
    kubectl(['delete', 'namespace', 'acmg-ha', '--wait=false']);
  });

  test('a gateway that never becomes Available: exit 3 naming the object and why; uninstall removes what was applied', async () => {
    // No node matches this selector, so the pods stay Pending.
    const r = expectExit(
      await acmg(['install', '--profile', 'minimal', '--set', 'gateway.placement.nodeSelector.nowhere=x', '--readiness-timeout', '5s', '-y']),
      3,
    );
    expect(r.stderr).toMatch(/Deployment istio-system\/acmg-gateway is not Available after 5s/);
    expect(acmgObjects()).toContain('Deployment istio-system/acmg-gateway');
    expectExit(await acmg(['uninstall', '-y']), 0);
    expect(acmgObjects()).toEqual([]);
  });

  test('without the Istio CRDs, install fails precheck with a hint and writes nothing', async () => {
    kubectl(['delete', 'crd', 'gateways.networking.istio.io', 'virtualservices.networking.istio.io', '--wait=true']);
    try {
      const r = expectExit(await acmg(['install', '-y']), 1);
      expect(r.stderr).toMatch(/precheck failed: Istio networking CRDs installed: missing: gateways.networking.istio.io, virtualservices.networking.istio.io/);
      expect(r.stderr).toMatch(/hint: .*install Istio first/);
      expect(acmgObjects()).toEqual([]);
    } finally {
      applyFiles(join(clusterDir, 'istio', 'crds.json'), { fieldManager: 'acmg-harness' });
      kubectl(['wait', '--for', 'condition=established', '--timeout=60s', 'crd/gateways.networking.istio.io', 'crd/virtualservices.networking.istio.io']);
    }
  });
});
