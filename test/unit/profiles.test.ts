import { join } from 'node:path';
import { listProfiles, loadProfile, resolveValues } from '../../src/profile/load.js';
import { offlineClusterDomain, renderManifests } from '../../src/render/index.js';
import { nodeOptions } from '../../src/render/controller.js';
import { toYaml, toYamlStream } from '../../src/render/serialize.js';
import { MANAGED_BY, COMPONENT, VERSION_LABEL } from '../../src/render/labels.js';
import { expectGolden } from './golden.js';

const fixture = (f: string) => join(process.cwd(), 'test', 'unit', 'fixtures', f);
const render = (doc: ReturnType<typeof loadProfile>) =>
  toYamlStream(renderManifests(doc, { clusterDomain: offlineClusterDomain(doc), version: '0.0.0-golden' }));

describe('profiles', () => {
  const names = listProfiles().map((p) => p.name);

  test('the required profiles exist, each with a description', () => {
    expect(names).toEqual(expect.arrayContaining(['acmg', 'minimal', 'demo', 'ha', 'empty']));
    for (const p of listProfiles()) expect(p.description.length).toBeGreaterThan(10);
  });

  test.each(['acmg', 'minimal', 'demo', 'ha', 'empty'])('profile %s: values and manifests match golden files', (name) => {
    const doc = loadProfile(name);
    expectGolden(`profiles/${name}.values.yaml`, toYaml(doc));
    expectGolden(`profiles/${name}.manifest.yaml`, render(doc));
  });

  test('empty renders nothing; ha renders PDB, HPA, anti-affinity and dedicated-node placement', () => {
    expect(renderManifests(loadProfile('empty'), { clusterDomain: 'cluster.local', version: 't' })).toEqual([]);
    const ha = renderManifests(loadProfile('ha'), { clusterDomain: 'cluster.local', version: 't' });
    const kinds = ha.map((o) => o.kind);
    expect(kinds).toEqual(expect.arrayContaining(['PodDisruptionBudget', 'HorizontalPodAutoscaler', 'Deployment', 'Service', 'Gateway']));
    const dep = ha.find((o) => o.kind === 'Deployment') as any;
    expect(dep.spec.replicas).toBeUndefined(); // the HPA owns the replica count
    expect(dep.spec.template.spec.nodeSelector).toEqual({ 'acmg.io/gateway-node': 'true' });
    expect(dep.spec.template.spec.tolerations[0].key).toBe('acmg.io/gateway-node');
    expect(dep.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    const hpa = ha.find((o) => o.kind === 'HorizontalPodAutoscaler') as any;
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(3);
  });

  test('every rendered object carries the managed-by, component and version labels', () => {
    for (const name of names) {
      for (const o of renderManifests(resolveValues({ profile: name, sets: ['controller.enabled=true'] }), {
        clusterDomain: 'cluster.local',
        version: '9.9.9',
      })) {
        expect(o.metadata.labels?.[MANAGED_BY]).toBe('acmg');
        expect(o.metadata.labels?.[COMPONENT]).toMatch(/^(gateway|istio-gateway|controller)$/);
        expect(o.metadata.labels?.[VERSION_LABEL]).toBe('9.9.9');
      }
    }
  });

  test('by default the gateway asks the injector for its proxy (gateway template, image auto, the revision)', () => {
    const dep = renderManifests(resolveValues({ sets: ['revision=canary'] }), { clusterDomain: 'corp.local', version: 't' }).find(
      (o) => o.kind === 'Deployment',
    ) as any;
    const t = dep.spec.template;
    expect(t.metadata.annotations['inject.istio.io/templates']).toBe('gateway');
    expect(t.metadata.labels).toMatchObject({ 'sidecar.istio.io/inject': 'true', 'istio.io/rev': 'canary' });
    expect(t.spec.containers).toEqual([expect.objectContaining({ name: 'istio-proxy', image: 'auto' })]);
    // args, env, volumes and probes are the injector's, from the cluster's istiod
    expect(t.spec.containers[0].args).toBeUndefined();
    expect(t.spec.volumes).toBeUndefined();
  });

  test('with injection off, the pinned proxy runs in router mode with the cluster domain and readiness on the status port', () => {
    const dep = renderManifests(resolveValues({ sets: ['gateway.injection=false'] }), { clusterDomain: 'corp.local', version: 't' }).find(
      (o) => o.kind === 'Deployment',
    ) as any;
    expect(dep.spec.template.metadata.labels['sidecar.istio.io/inject']).toBe('false');
    const c = dep.spec.template.spec.containers[0];
    expect(c.image).toBe('docker.io/istio/proxyv2:1.28.1');
    expect(c.args.slice(0, 2)).toEqual(['proxy', 'router']);
    expect(c.args).toContain('$(POD_NAMESPACE).svc.corp.local');
    expect(c.readinessProbe.httpGet).toEqual({ path: '/healthz/ready', port: 15021, scheme: 'HTTP' });
  });

  test('the controller may restart CoreDNS only where the Corefile has no reload plugin', () => {
    const doc = resolveValues({ sets: ['controller.enabled=true'] });
    const dnsRole = (dnsReloads?: boolean) =>
      (
        renderManifests(doc, { clusterDomain: 'cluster.local', version: 't', dnsReloads }).find(
          (o) => o.kind === 'Role' && o.metadata.namespace === 'kube-system',
        ) as any
      ).rules;
    const patchesDeployments = (rules: any[]) => rules.some((r) => r.apiGroups.includes('apps') && r.verbs.includes('patch'));
    expect(patchesDeployments(dnsRole(undefined))).toBe(false);
    expect(patchesDeployments(dnsRole(true))).toBe(false);
    // The restart (a patch) and its wait (a get, then a watch by metadata.name) of that one Deployment, and no other.
    const deploymentRules = (rules: any[]) => rules.filter((r) => r.resources.includes('deployments'));
    expect(deploymentRules(dnsRole(false))).toEqual([
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['coredns'], verbs: ['get', 'watch', 'patch'] },
    ]);
  });

  test("the controller's CoreDNS restart is granted for the Deployment install found (RKE2's, Helm's), by name only: no list of Deployments", () => {
    const doc = resolveValues({ sets: ['controller.enabled=true'] });
    for (const ctx of [{ dnsReloads: false }, { dnsReloads: true, dnsCanMissReload: true }]) {
      const objs = renderManifests(doc, { clusterDomain: 'cluster.local', version: 't', ...ctx, corednsDeployment: 'rke2-coredns-rke2-coredns' });
      const rules = objs.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole').flatMap((o) => (o as any).rules as any[]);
      const deployments = rules.filter((r) => r.resources.includes('deployments') && !(r.resourceNames ?? []).includes('acmg-gateway'));
      expect(deployments).toEqual([
        { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['rke2-coredns-rke2-coredns'], verbs: ['get', 'watch', 'patch'] },
      ]);
    }
  });

  test('where CoreDNS can miss a write (coredns-custom), the controller may ask a CoreDNS pod and restart CoreDNS', () => {
    const doc = resolveValues({ sets: ['controller.enabled=true'] });
    const rules = (dnsCanMissReload?: boolean) =>
      (
        renderManifests(doc, { clusterDomain: 'cluster.local', version: 't', dnsReloads: true, dnsCanMissReload }).find(
          (o) => o.kind === 'Role' && o.metadata.namespace === 'kube-system',
        ) as any
      ).rules as { resources: string[]; verbs: string[] }[];
    const may = (rs: { resources: string[]; verbs: string[] }[], resource: string, verb: string) =>
      rs.some((r) => r.resources.includes(resource) && r.verbs.includes(verb));
    expect(may(rules(false), 'pods/portforward', 'create')).toBe(false);
    expect(may(rules(false), 'deployments', 'patch')).toBe(false);
    expect(may(rules(true), 'pods/portforward', 'create')).toBe(true);
    expect(may(rules(true), 'pods', 'list')).toBe(true);
    expect(may(rules(true), 'deployments', 'patch')).toBe(true);
  });

  test("the controller's RBAC is what it uses: DNS ConfigMaps by name only (list and watch too), no update of the backup, Gateways in its namespace only, port-forward by GET and create", () => {
    const doc = resolveValues({ sets: ['controller.enabled=true'] });
    const objs = renderManifests(doc, { clusterDomain: 'cluster.local', version: 't', dnsReloads: true, dnsCanMissReload: true });
    const role = (kind: string, ns?: string) => (objs.find((o) => o.kind === kind && o.metadata.namespace === ns) as any).rules as any[];
    const dns = role('Role', 'kube-system');
    const cluster = role('ClusterRole');
    const self = role('Role', 'istio-system');
    const configMapRules = dns.filter((r) => r.resources.includes('configmaps'));
    expect(configMapRules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['coredns', 'coredns-custom'], verbs: ['get', 'list', 'watch', 'update'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
    ]);
    expect(cluster.some((r) => r.resources.includes('gateways'))).toBe(false);
    expect(self).toEqual(expect.arrayContaining([{ apiGroups: ['networking.istio.io'], resources: ['gateways'], verbs: ['get', 'list', 'watch'] }]));
    expect(dns).toEqual(expect.arrayContaining([{ apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] }]));
  });

  test('the Istio Gateway has one server per gateway port and selects the gateway pods', () => {
    const objs = renderManifests(resolveValues({ files: [fixture('overlay-ports.yaml')] }), { clusterDomain: 'x', version: 't' });
    const gw = objs.find((o) => o.kind === 'Gateway') as any;
    const svc = objs.find((o) => o.kind === 'Service') as any;
    expect(gw.spec.servers.map((s: any) => s.port.number)).toEqual([80, 9090, 5432]);
    expect(gw.spec.servers.map((s: any) => s.port.protocol)).toEqual(['HTTP', 'GRPC', 'TCP']);
    expect(gw.spec.selector).toEqual(svc.spec.selector);
  });

  test('overlays: golden output for a multi-port overlay with the controller, and a bare-spec overlay', () => {
    const a = resolveValues({ files: [fixture('overlay-ports.yaml')], sets: ['gateway.autoscaling.enabled=true'] });
    expectGolden('overlays/ports-controller.manifest.yaml', render(a));
    const b = resolveValues({ files: [fixture('overlay-bare-spec.yaml')] });
    expect(b.spec.profile).toBe('minimal');
    expectGolden('overlays/bare-spec.manifest.yaml', render(b));
  });

  test('order of application: profile, then each -f in order, then each --set', () => {
    const doc = resolveValues({ profile: 'demo', files: [fixture('overlay-ports.yaml')], sets: ['gateway.replicas=7'] });
    expect(doc.spec.profile).toBe('demo');
    expect(doc.spec.gateway.replicas).toBe(7); // --set beats the overlay's 4
    expect(doc.spec.gateway.ports).toHaveLength(3); // the overlay's list replaced demo's
    expect(doc.spec.namespace).toBe('acmg-system');
  });

  test('rendering is deterministic: the same bytes every run', () => {
    const once = render(loadProfile('ha'));
    for (let i = 0; i < 5; i++) expect(render(loadProfile('ha'))).toBe(once);
  });
});

describe("the controller's heap limit", () => {
  test('60% of its memory limit, in MiB; none without a limit or below 32 MiB', () => {
    const heap = (limit?: string) => nodeOptions(limit)[0]?.value;
    expect(heap('256Mi')).toBe('--max-old-space-size=153');
    expect(heap('1Gi')).toBe('--max-old-space-size=614');
    expect(heap('500M')).toBe('--max-old-space-size=286');
    expect(heap(undefined)).toBeUndefined();
    expect(heap('40Mi')).toBeUndefined();
  });
});
