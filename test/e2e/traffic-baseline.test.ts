// Issue 22, part 1: what Bookinfo's calls reach BEFORE any migration, traced through the real
// CoreDNS and the xDS the real istiod gives each client's sidecar (test/e2e/trace.ts,
// hack/traffic-trace). These are the outcomes a migration must keep; the last test removes the
// user's VirtualServices and shows the same assertions would catch the loss.
// Pods are simulated (kwok): nothing here sends a request through Envoy.
import { join } from 'node:path';
import { applyFiles, kubectl, kubectlJson } from './cluster.js';
import { CASES, FQDN, SAMPLE, applySample, deleteSample, settledTraces } from './bookinfo.js';
import { diffOutcomes, formatTraceTable, outcome, type Trace } from './trace.js';

const REVIEWS_V1 = `outbound|9080|v1|${FQDN}`;
const REVIEWS_V2 = `outbound|9080|v2|${FQDN}`;
const RATINGS_V1 = 'outbound|9080|v1|ratings.bookinfo.svc.cluster.local';

const table = (traces: Map<string, Trace>) => formatTraceTable(CASES.map((c) => ({ trace: traces.get(c.name)! })));

describe('traffic baseline: Bookinfo with sidecars, traced through the real CoreDNS and istiod', () => {
  let traces: Map<string, Trace>;
  const t = (name: string) => traces.get(name)!;

  beforeAll(async () => {
    await applySample();
    // Every Service's endpoints reached istiod: each app Service's call lands on endpoints.
    traces = await settledTraces('settled traces with endpoints', (m) =>
      ['reviews', 'ratings', 'svc.ns', 'svc.ns, no sidecar'].every((n) => (m.get(n)?.endpoints.length ?? 0) > 0),
    );
    process.stdout.write(`\nBookinfo before migration (real istiod xDS, real CoreDNS):\n${table(traces)}\n`);
  }, 240_000);

  afterAll(() => {
    deleteSample();
  }, 180_000);

  test('the sample is what the trace assumes: sidecars on every Bookinfo pod and on sleep, none on sleep-plain', () => {
    const containers = (ns: string) =>
      kubectlJson(['-n', ns, 'get', 'pods']).items.map((p: any) => ({
        app: p.metadata.labels.app,
        proxy: [...p.spec.containers, ...(p.spec.initContainers ?? [])].some((c: any) => c.name === 'istio-proxy'),
      }));
    expect(containers('bookinfo').every((p: any) => p.proxy)).toBe(true);
    expect(
      containers('bookinfo')
        .map((p: any) => p.app)
        .sort(),
    ).toEqual(['details', 'productpage', 'ratings', 'reviews', 'reviews', 'reviews']);
    expect(containers('clients').sort((a: any, b: any) => a.app.localeCompare(b.app))).toEqual([
      { app: 'sleep', proxy: true },
      { app: 'sleep-plain', proxy: false },
    ]);
  });

  test("productpage's bare name resolves through the search path to reviews' ClusterIP, and its sidecar routes by the user's VirtualService: v1 by default", () => {
    const r = t('reviews');
    const clusterIP = kubectlJson(['-n', 'bookinfo', 'get', 'service', 'reviews']).spec.clusterIP;
    expect(r.resolution.asked[0]).toEqual({ name: FQDN, rcode: 'NOERROR', addresses: [clusterIP] });
    expect(r.resolvedAddress).toBe(clusterIP);
    expect(r.service).toMatchObject({ namespace: 'bookinfo', name: 'reviews', port: 9080, targetPort: 9080, gateway: false });
    expect(r.hops.map((h) => h.kind)).toEqual(['sidecar']);
    const hop = r.hops[0]!.result!;
    expect(hop.call).toMatchObject({ address: clusterIP, port: 9080, host: 'reviews:9080', path: '/reviews/0', mode: 'outbound' });
    // The sidecar's virtual host for reviews answers every name a client in the namespace uses.
    expect(hop.virtualHost!.domains).toEqual(expect.arrayContaining([FQDN, `${FQDN}.`, 'reviews', 'reviews.bookinfo', 'reviews.bookinfo.svc', clusterIP]));
    expect(r.failure).toBeUndefined();
    expect(r.cluster).toBe(REVIEWS_V1);
    expect(r.subset).toBe('v1');
    expect(r.destination).toBe(`${FQDN}:9080`);
    // EDS for the v1 subset: reviews-v1's pod only.
    const v1 = kubectlJson(['-n', 'bookinfo', 'get', 'pods', '-l', 'app=reviews,version=v1']).items.map((p: any) => `${p.status.podIP}:9080`);
    expect(r.endpoints).toEqual(v1);
    // The default route has no header match (the jason route comes first and did not match).
    expect(r.hops[0]!.result!.routeIndex).toBe(1);
    expect(r.hops[0]!.result!.route!.headers).toBeUndefined();
  });

  test('end-user: jason goes to subset v2 (a header match the simulator does not evaluate, compared field by field)', () => {
    const r = t('reviews as jason');
    expect(r.failure).toBeUndefined();
    expect(r.cluster).toBe(REVIEWS_V2);
    expect(r.subset).toBe('v2');
    const route = r.hops[0]!.result!.route!;
    expect(r.hops[0]!.result!.routeIndex).toBe(0);
    expect(route.headers).toEqual([{ name: 'end-user', stringMatch: { exact: 'jason' } }]);
    const v2 = kubectlJson(['-n', 'bookinfo', 'get', 'pods', '-l', 'app=reviews,version=v2']).items.map((p: any) => `${p.status.podIP}:9080`);
    expect(r.endpoints).toEqual(v2);
    // The simulator alone (path only) would have taken the first route for both callers: the header
    // decides, and only the trace's own match sees it.
    expect(r.hops[0]!.result!.simulatorRoute).toBe(t('reviews').hops[0]!.result!.simulatorRoute);
  });

  test('ratings carries the VirtualService policy: timeout 2s, 3 retries of 500ms each', () => {
    const r = t('ratings');
    expect(r.failure).toBeUndefined();
    expect(r.cluster).toBe(RATINGS_V1);
    expect(r.policy).toMatchObject({ timeout: '2s', retries: { attempts: 3, perTryTimeout: '500ms' } });
    expect(r.policy!.retries!.retryOn).toMatch(/connect-failure/);
    // reviews keeps Istio's defaults: no timeout (0s), 2 retries.
    expect(t('reviews').policy).toMatchObject({ timeout: '0s', retries: { attempts: 2, perTryTimeout: null } });
  });

  test('reviews without a port (port 80): the sidecar has no reviews route on 80 and passes the call through (ALLOW_ANY) to a ClusterIP without port 80: 503', () => {
    const r = t('reviews, no port');
    expect(r.resolvedAddress).toBe(t('reviews').resolvedAddress);
    expect(r.service).toBeUndefined(); // reviews has no port 80
    const hop = r.hops[0]!.result!;
    expect(hop.call).toMatchObject({ port: 80, host: 'reviews' });
    // Port 80 has an HTTP listener (sleep's Service uses it), whose catch-all virtual host passes through.
    expect(hop).toMatchObject({ listener: '0.0.0.0_80', virtualHost: { name: 'allow_any', domains: ['*'] }, cluster: 'PassthroughCluster', passthrough: true });
    expect(outcome(r)).toEqual({ failure: 'no-service-port', status: 503 });
  });

  test('from the clients namespace: svc.ns, the FQDN and the FQDN with a trailing dot all reach reviews, with the same header routing', () => {
    for (const name of ['svc.ns', 'FQDN', 'FQDN.']) {
      const r = t(name);
      expect({ name, failure: r.failure, cluster: r.cluster }).toEqual({ name, failure: undefined, cluster: REVIEWS_V1 });
      expect(r.resolvedAddress).toBe(t('reviews').resolvedAddress);
    }
    expect(t('svc.ns').resolution.asked.map((a) => a.rcode)).toEqual(['NXDOMAIN', 'NOERROR']); // reviews.bookinfo.clients.svc... first
    expect(t('FQDN.').resolution.asked).toHaveLength(1); // absolute: no search path
    expect(t('svc.ns as jason').cluster).toBe(REVIEWS_V2);
    expect(t('FQDN. as jason').cluster).toBe(REVIEWS_V2);
    expect(outcome(t('svc.ns'))).toEqual(outcome(t('reviews')));
  });

  test('a client without a sidecar goes straight to the Service: every reviews endpoint, no routing rules (jason or not)', () => {
    const r = t('svc.ns, no sidecar');
    expect(r.failure).toBeUndefined();
    expect(r.hops.map((h) => h.kind)).toEqual(['service']);
    expect(r.cluster).toBeUndefined();
    expect(r.policy).toBeNull();
    expect(r.destination).toBe(`${FQDN}:9080`);
    const all = kubectlJson(['-n', 'bookinfo', 'get', 'pods', '-l', 'app=reviews'])
      .items.map((p: any) => `${p.status.podIP}:9080`)
      .sort();
    // As sets: the trace orders endpoints as the Service's EndpointSlice lists them, not as strings sort.
    expect([...r.endpoints].sort()).toEqual(all);
  });

  test('negative control: without the VirtualServices the same calls lose the subsets and the ratings policy, and these assertions see it', async () => {
    kubectl(['delete', '-f', join(SAMPLE, 'virtual-services.yaml')]);
    const before = new Map([...traces]);
    const after = await settledTraces('traces without the VirtualServices', (m) => m.get('reviews as jason')?.cluster !== REVIEWS_V2);
    process.stdout.write(`\nBookinfo without its VirtualServices:\n${table(after)}\n`);
    expect(after.get('reviews as jason')!.cluster).toBe(`outbound|9080||${FQDN}`);
    expect(after.get('reviews')!.cluster).toBe(`outbound|9080||${FQDN}`);
    expect(after.get('ratings')!.cluster).toBe('outbound|9080||ratings.bookinfo.svc.cluster.local');
    expect(after.get('ratings')!.policy).toMatchObject({ timeout: '0s', retries: { attempts: 2 } });
    // What "trace before, change, trace after, compare" reports: every sidecar call to reviews and
    // ratings changed; the calls with no rules to lose (port 80, details, no sidecar) did not.
    expect(diffOutcomes(before, after).map((d) => d.name)).toEqual(
      CASES.map((c) => c.name).filter((n) => !['reviews, no port', 'details', 'svc.ns, no sidecar'].includes(n)),
    );
    applyFiles(join(SAMPLE, 'virtual-services.yaml'), { fieldManager: 'acmg-test' });
  });
});
