// Proof that the local control plane is real: controllers roll out Deployments on kwok nodes,
// Services get ClusterIPs and ready endpoints, and the real CoreDNS answers from the API server
// and follows changes to the coredns ConfigMap.
import { query } from '../../src/dns/client.js';
import { applyFiles, dns, eventually, kubectl, kubectlJson } from './cluster.js';

/** The documented propagation bound of the harness: sync delay (1 s) + reload interval (2 s ± 1 s) + slack. */
const PROPAGATION_MS = 15_000;

describe('local control plane', () => {
  beforeAll(() => {
    applyFiles('samples/helloworld/helloworld.yaml');
  });

  test("the API server serves Istio's real CRDs, istio-system and an injection-enabled default namespace", () => {
    const crds = kubectlJson<{ items: { metadata: { name: string } }[] }>(['get', 'crd']).items.map((c) => c.metadata.name);
    expect(crds).toEqual(
      expect.arrayContaining([
        'gateways.networking.istio.io',
        'virtualservices.networking.istio.io',
        'destinationrules.networking.istio.io',
        'sidecars.networking.istio.io',
        'peerauthentications.security.istio.io',
        'telemetries.telemetry.istio.io',
      ]),
    );
    // The real schemas (crd-all.gen.yaml), not hand-written ones: they type the fields acmg never writes too.
    const vs = kubectlJson(['get', 'crd', 'virtualservices.networking.istio.io']);
    const http = vs.spec.versions.find((v: any) => v.name === 'v1').schema.openAPIV3Schema.properties.spec.properties.http.items.properties;
    expect(Object.keys(http)).toEqual(expect.arrayContaining(['corsPolicy', 'fault', 'mirror', 'retries', 'rewrite']));
    expect(kubectlJson(['get', 'namespace', 'default']).metadata.labels['istio-injection']).toBe('enabled');
    expect(kubectlJson(['get', 'namespace', 'istio-system']).metadata.name).toBe('istio-system');
  });

  test('kwok nodes are Ready, one is a labelled and tainted dedicated gateway node', () => {
    const nodes = kubectlJson<{ items: any[] }>(['get', 'nodes']).items;
    expect(nodes.length).toBeGreaterThanOrEqual(3);
    for (const n of nodes) expect(n.status.conditions.find((c: any) => c.type === 'Ready')?.status).toBe('True');
    const gw = nodes.filter((n) => n.metadata.labels['acmg.io/gateway-node'] === 'true');
    expect(gw).toHaveLength(1);
    expect(gw[0].spec.taints).toEqual([{ key: 'acmg.io/gateway-node', value: 'true', effect: 'NoSchedule' }]);
  });

  test('the helloworld Deployments become Available and the Service gets ready endpoints', async () => {
    for (const d of ['helloworld-v1', 'helloworld-v2']) {
      await eventually(`${d} Available`, 60_000, () => {
        const dep = kubectlJson(['-n', 'default', 'get', 'deployment', d]);
        return dep.status?.conditions?.some((c: any) => c.type === 'Available' && c.status === 'True') && dep.status.readyReplicas === 1;
      });
    }
    const { value: addresses } = await eventually('ready endpoints', 60_000, () => {
      const slices = kubectlJson<{ items: any[] }>(['-n', 'default', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=helloworld']).items;
      const ready = slices.flatMap((s) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready).flatMap((e: any) => e.addresses));
      return ready.length === 2 ? ready : undefined;
    });
    for (const a of addresses) expect(a).toMatch(/^10\.244\./);
  });

  test('CoreDNS resolves helloworld.default.svc.cluster.local to the Service ClusterIP', async () => {
    const clusterIP = kubectlJson(['-n', 'default', 'get', 'service', 'helloworld']).spec.clusterIP;
    expect(clusterIP).toMatch(/^10\.96\./);
    const { value } = await eventually('DNS answer', 30_000, async () => {
      const r = await query('helloworld.default.svc.cluster.local', 'A', dns);
      return r.answers.length > 0 ? r : undefined;
    });
    expect(value.rcode).toBe('NOERROR');
    expect(value.answers.map((a) => a.data)).toEqual([clusterIP]);
    expect(value.answers[0]!.name).toBe('helloworld.default.svc.cluster.local');
    // The same answer over TCP (what acmg uses on truncation and through port-forwards).
    const tcp = await query('helloworld.default.svc.cluster.local', 'A', { ...dns, tcpOnly: true });
    expect([tcp.transport, tcp.answers.map((a) => a.data)]).toEqual(['tcp', [clusterIP]]);
    // Names outside the cluster go to the harness's loopback upstream stub, which knows none.
    expect((await query('example.com', 'A', dns)).rcode).toBe('NXDOMAIN');
  });

  test('a change to the coredns ConfigMap reaches CoreDNS within the documented propagation time', async () => {
    const cm = kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns']);
    const original: string = cm.data.Corefile;
    const edited = original.replace('    ready\n', '    ready\n    hosts {\n        10.9.8.7 harness-probe.example\n        fallthrough\n    }\n');
    expect(edited).not.toBe(original);
    const patch = (corefile: string) =>
      kubectl(['-n', 'kube-system', 'patch', 'configmap', 'coredns', '--type', 'merge', '-p', JSON.stringify({ data: { Corefile: corefile } })]);
    try {
      patch(edited);
      const { value, ms } = await eventually('hosts entry served', PROPAGATION_MS, async () => {
        const r = await query('harness-probe.example', 'A', dns);
        return r.answers.length > 0 ? r : undefined;
      });
      expect(value.answers.map((a) => a.data)).toEqual(['10.9.8.7']);
      expect(ms).toBeLessThan(PROPAGATION_MS);
    } finally {
      patch(original);
    }
    await eventually('hosts entry gone', PROPAGATION_MS, async () => (await query('harness-probe.example', 'A', dns)).rcode === 'NXDOMAIN');
  });
});
