// #26 point 7 on the real components: the gateway pod (as Istio's injector completes it, and as acmg
// pins it) and the controller pod pass Pod Security "restricted"; an install with the production
// values (priority class, zone spreading, trafficDistribution, pull secrets, a patch) gives those
// live objects and purges clean; a missing priority class or a patch the API server refuses writes
// nothing.
import { gatewayProbePod } from '../../src/check/istio.js';
import { Kube } from '../../src/kube/client.js';
import type { KObject } from '../../src/model/object.js';
import { resolveValues } from '../../src/profile/load.js';
import { renderManifests } from '../../src/render/index.js';
import { acmg, acmgObjects, applyObjects, expectExit, kubeconfig, kubectl, kubectlJson } from './cluster.js';

const RESTRICTED = 'acmg-psa';
const CLASS = 'acmg-e2e-gateway';
const NAMESERVER = ['--nameserver', '127.0.0.1:10053'];

const asSets = (values: string[]) => values.flatMap((v) => ['--set', v]);

/** The pod a rendered Deployment's template makes, in the restricted namespace. */
function podOf(sets: string[], deployment: string): KObject {
  const doc = resolveValues({ profile: 'acmg', sets: ['dns.mode=corefile', 'controller.enabled=true', ...sets] });
  const objects = renderManifests(doc, { clusterDomain: 'cluster.local', version: '0.0.0-test' });
  const pod = gatewayProbePod(
    doc.spec,
    objects.find((o) => o.kind === 'Deployment' && o.metadata.name === deployment)!,
  );
  return { ...pod, metadata: { ...pod.metadata, namespace: RESTRICTED } };
}

describe('the production values on the real API server, injector and Pod Security admission', () => {
  let kube: Kube;
  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NAMESERVER]), 0);
    applyObjects(
      [
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: {
            name: RESTRICTED,
            labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' },
          },
        },
        { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: CLASS }, value: 1000000 },
      ],
      { clientSide: true },
    );
    kube = await Kube.connect({ kubeconfig });
  });
  afterAll(async () => {
    await acmg(['uninstall', '--purge', '-y', ...NAMESERVER]);
    kubectl(['delete', 'namespace', RESTRICTED, '--ignore-not-found', '--wait=false']);
    kubectl(['delete', 'priorityclass', CLASS, '--ignore-not-found']);
  });

  test.each([
    ['the injected gateway pod', [], 'acmg-gateway'],
    ['the pinned gateway pod', ['gateway.injection=false'], 'acmg-gateway'],
    ['the controller pod', [], 'acmg-controller'],
  ])('%s passes Pod Security "restricted"; without its seccomp profile it is refused', async (_, sets, deployment) => {
    const pod = await kube.create<any>(podOf(sets as string[], deployment), { dryRun: true });
    if (deployment === 'acmg-gateway' && !sets.length) expect(pod.spec.containers.find((c: any) => c.name === 'istio-proxy').image).not.toBe('auto');
    const seccomp = deployment === 'acmg-gateway' ? 'gateway.seccompProfile=none' : 'controller.seccompProfile=none';
    await expect(kube.create(podOf([...(sets as string[]), seccomp], deployment), { dryRun: true })).rejects.toThrow(
      /violates PodSecurity "restricted:latest".*seccompProfile/,
    );
  });

  test('install with a priority class that does not exist fails in precheck and writes nothing', async () => {
    const before = acmgObjects();
    const r = expectExit(await acmg(['install', '-y', ...asSets(['gateway.priorityClassName=no-such-class'])]), 1);
    expect(r.stdout + r.stderr).toMatch(/no PriorityClass no-such-class/);
    expect(acmgObjects()).toEqual(before);
  });

  test('install with a patch the API server refuses exits 2 naming the object, and writes nothing', async () => {
    const before = acmgObjects();
    const r = expectExit(
      await acmg(['install', '-y', ...asSets(['patches[0].kind=Deployment', 'patches[0].name=acmg-gateway', 'patches[0].mergePatch.spec.replicas=-1'])]),
      2,
    );
    expect(r.stderr).toMatch(/the API server refuses Deployment istio-system\/acmg-gateway as spec.patches leave it: .*replicas/);
    expect(acmgObjects()).toEqual(before);
  });

  test('install with the production values gives the live objects they say, and uninstall --purge removes them all', async () => {
    const values = asSets([
      `gateway.priorityClassName=${CLASS}`,
      'gateway.imagePullSecrets[0]=regcred',
      'gateway.placement.zoneSpread=preferred',
      'gateway.service.trafficDistribution=PreferClose',
      'patches[0].kind=Service',
      'patches[0].name=acmg-gateway',
      'patches[0].mergePatch.metadata.annotations.example\\.com/owner=platform',
    ]);
    expectExit(await acmg(['install', '-y', ...values]), 0);
    const d = kubectlJson(['-n', 'istio-system', 'get', 'deployment', 'acmg-gateway']);
    const pod = d.spec.template.spec;
    expect(pod.priorityClassName).toBe(CLASS);
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(pod.topologySpreadConstraints[0]).toMatchObject({ topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' });
    // The running pods got the class's priority from the API server.
    const pods = kubectlJson(['-n', 'istio-system', 'get', 'pods', '-l', 'app=acmg-gateway']).items;
    expect(pods.length).toBeGreaterThan(0);
    expect(pods.map((p: any) => p.spec.priority)).toEqual(pods.map(() => 1000000));
    const svc = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-gateway']);
    expect(svc.spec.trafficDistribution).toBe('PreferClose');
    expect(svc.metadata.annotations['example.com/owner']).toBe('platform');
    // Installing the same values again changes nothing: the patch is part of the render.
    const again = expectExit(await acmg(['install', '-y', ...values]), 0);
    expect(again.stdout + again.stderr).toContain('nothing to change');
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NAMESERVER]), 0);
    expect(acmgObjects()).toEqual([]);
  });
});
