// Issue 22, mesh security: an AuthorizationPolicy on a migrated service's pods is enforced by their
// sidecars, which the move removes. Read from the real istiod (the RBAC filters in each proxy's xDS):
// before, reviews' sidecar enforces it; migrate refuses it (exit 2, nothing written) unless accepted;
// after an accepted migration with --restart no sidecar of reviews is left to enforce it and the
// gateway does not either; after the rollback the sidecars enforce it again.
import { DNS_NAMESERVER, acmg, applyObjects, corefile, eventually, expectExit, kubectl, kubectlJson } from './cluster.js';
import { applySample, deleteSample } from './bookinfo.js';
import { traceProxy, type ProxyIdentity } from './trace.js';

const NS = ['--nameserver', DNS_NAMESERVER];
const POLICY = 'ns[bookinfo]-policy[reviews-viewer]-rule[0]';
const viewer = {
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'reviews-viewer', namespace: 'bookinfo' },
  spec: {
    selector: { matchLabels: { app: 'reviews' } },
    action: 'ALLOW',
    rules: [{ from: [{ source: { principals: ['cluster.local/ns/bookinfo/sa/bookinfo-productpage'] } }] }],
  },
};

const running = (ns: string, selector: string) =>
  kubectlJson(['-n', ns, 'get', 'pods', '-l', selector]).items.filter(
    (p: any) => p.status?.podIP && p.status.phase === 'Running' && !p.metadata.deletionTimestamp,
  );
const hasSidecar = (p: any) => p.spec.containers.some((c: any) => c.name === 'istio-proxy');
const identity = (p: any, type: 'sidecar' | 'router'): ProxyIdentity => ({
  type,
  pod: p.metadata.name,
  namespace: p.metadata.namespace,
  ip: p.status.podIP,
  labels: p.metadata.labels ?? {},
  serviceAccount: p.spec.serviceAccountName ?? 'default',
});
/** The RBAC policies istiod gives a pod's proxy. */
const enforced = async (p: any, type: 'sidecar' | 'router') => (await traceProxy(identity(p, type), [])).proxy.rbacPolicies;

describe('mesh security: an AuthorizationPolicy on a migrated service, read from the real istiod', () => {
  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    await applySample();
    applyObjects(viewer, { fieldManager: 'acmg-test' });
    expectExit(await acmg(['install', '-y']), 0);
  }, 300_000);

  afterAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    deleteSample();
  }, 240_000);

  test('migrate names it and refuses (exit 2, nothing written); accepted with --restart, no sidecar of reviews and not the gateway enforce it; rollback brings it back', async () => {
    const reviews = () => running('bookinfo', 'app=reviews');
    await eventually("reviews' sidecars enforce the policy", 60_000, async () => (await enforced(reviews()[0], 'sidecar')).includes(POLICY));
    const dnsBefore = corefile();

    const refused = await acmg(['migrate', 'reviews', '-n', 'bookinfo', '--keep-service', '--restart', '-y', ...NS]);
    expectExit(refused, 2);
    expect(refused.stderr).toMatch(/AuthorizationPolicy bookinfo\/reviews-viewer \(ALLOW\) applies to the pods of bookinfo\/reviews at their sidecars/);
    expect(refused.stderr).toMatch(/--accept-policy-changes/);
    expect(corefile()).toBe(dnsBefore);
    expect(kubectl(['-n', 'bookinfo', 'get', 'virtualservice', 'acmg-reviews', '--ignore-not-found', '-o', 'name'])).toBe('');
    expect(kubectlJson(['get', 'namespace', 'bookinfo']).metadata.labels['istio-injection']).toBe('enabled');

    try {
      const ok = expectExit(await acmg(['migrate', 'reviews', '-n', 'bookinfo', '--keep-service', '--restart', '--accept-policy-changes', '-y', ...NS]), 0);
      expect(ok.stderr).toMatch(/accepted \(--accept-policy-changes\): AuthorizationPolicy bookinfo\/reviews-viewer/);
      await eventually('reviews pods without sidecars', 120_000, () => reviews().length === 3 && reviews().every((p: any) => !hasSidecar(p)));
      const gateway = running('istio-system', 'app=acmg-gateway');
      expect(gateway.length).toBeGreaterThan(0);
      expect(await enforced(gateway[0], 'router')).not.toContain(POLICY);
    } finally {
      expectExit(await acmg(['rollback', 'reviews', '-n', 'bookinfo', '--restart', '-y', ...NS]), 0);
    }
    await eventually('reviews pods with sidecars again', 120_000, () => reviews().length === 3 && reviews().every(hasSidecar));
    await eventually("reviews' sidecars enforce the policy again", 60_000, async () => (await enforced(reviews()[0], 'sidecar')).includes(POLICY));
  }, 480_000);
});
