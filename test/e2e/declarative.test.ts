// Issue #26 point 2 proof: declarative migrations on the real API server, CoreDNS and istiod. The
// rendered controller (controller.declarative.enabled) runs as the process users run, with nothing
// but its ServiceAccount's permissions (a token of it), so a missing rule shows as a refused or
// failed service. A mark (acmg.io/migrate) on a Service migrates it and DNS answers its door; a
// refused one (NodePort with replace-service) is left as it was and acmg status says why; a
// Namespace's mark moves its Services (approach 2: the original goes, and comes back with its
// ClusterIP when the mark goes); removing a mark rolls back; a CLI migration is never touched;
// marks count only in Namespaces labelled acmg.io/declarative=enabled (another is ignored).
import { query } from '../../src/dns/client.js';
import { Controller } from './controller-process.js';
import {
  DNS_NAMESERVER,
  acmg,
  applyFiles,
  applyObjects,
  dns,
  doorIP,
  eventually,
  expectExit,
  kubectl,
  kubectlJson,
  serviceAccountKubeconfig,
} from './cluster.js';

const NS = ['--nameserver', DNS_NAMESERVER];
const MARK = 'acmg.io/migrate';
/** The Namespace label that lets the controller honour marks there (set by an admin). */
const ALLOW = 'acmg.io/declarative';
/** The controller's ServiceAccount and RBAC rendered, its Deployment not run (this test runs the process itself). */
const VALUES = ['--set', 'controller.enabled=true', '--set', 'controller.replicas=0', '--set', 'controller.declarative.enabled=true'];
const PASS_MS = 120_000;

interface Status {
  services: { namespace: string; service: string; approach: string; phase: string; dns: string; origin?: string }[];
  declarative?: { namespace: string; service: string; want?: string; reason: string; attempts: number }[];
}
const status = async (): Promise<Status> => JSON.parse(expectExit(await acmg(['status', '-o', 'json']), 0).stdout);
const migrated = async (namespace: string, service: string) => (await status()).services.find((s) => s.namespace === namespace && s.service === service);
const answer = async (name: string) => (await query(name, 'A', dns)).answers[0]?.data;
const clusterIP = (namespace: string, name: string) => kubectlJson(['-n', namespace, 'get', 'service', name]).spec.clusterIP as string;
/** Removes the mark if it is there (kubectl refuses to remove an annotation that is not). */
const unmark = (namespace: string, service: string) => {
  if (kubectlJson(['-n', namespace, 'get', 'service', service]).metadata.annotations?.[MARK] !== undefined)
    kubectl(['-n', namespace, 'annotate', 'service', service, `${MARK}-`]);
};
const exists = (namespace: string, kind: string, name: string) =>
  kubectl(['-n', namespace, 'get', kind, name, '--ignore-not-found', '-o', 'name']).trim() !== '';

describe('declarative migrations: the controller migrates and rolls back what Git marks', () => {
  const controller = new Controller();

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    applyFiles('test/e2e/fixtures/shop.yaml');
    kubectl(['delete', 'namespace', 'decl', 'decl-off', '--ignore-not-found', '--wait=true']);
    kubectl(['-n', 'shop', 'delete', 'service', 'edge', '--ignore-not-found']);
    unmark('shop', 'reviews');
    // Marks count only in Namespaces an admin allowed.
    kubectl(['label', 'namespace', 'shop', `${ALLOW}=enabled`, '--overwrite']);
    expectExit(await acmg(['install', '--profile', 'minimal', ...VALUES, '-y']), 0);
    await controller.start(['--kubeconfig', serviceAccountKubeconfig('istio-system', 'acmg-controller'), '--dns-timeout', '60s', ...NS]);
  });

  afterAll(async () => {
    await controller.kill('SIGTERM');
    kubectl(['delete', 'namespace', 'decl', 'decl-off', '--ignore-not-found', '--wait=false']);
    kubectl(['-n', 'shop', 'delete', 'service', 'edge', '--ignore-not-found']);
    unmark('shop', 'reviews');
    kubectl(['label', 'namespace', 'shop', `${ALLOW}-`]);
    await acmg(['uninstall', '--purge', '-y', ...NS]);
  });

  test('a marked Service is migrated (recorded as the controller’s) and DNS answers its door', async () => {
    const own = clusterIP('shop', 'reviews');
    kubectl(['-n', 'shop', 'annotate', 'service', 'reviews', `${MARK}=keep-service`, '--overwrite']);
    await eventually('reviews migrated by the controller', PASS_MS, async () => (await migrated('shop', 'reviews'))?.phase === 'complete');
    expect(await migrated('shop', 'reviews')).toMatchObject({ approach: 'keep-service', origin: 'declarative', dns: 'switched' });
    await eventually('reviews answers its door', 60_000, async () => (await answer('reviews.shop.svc.cluster.local')) === doorIP('shop'));
    expect(clusterIP('shop', 'reviews')).toBe(own);
    expect(kubectlJson(['get', 'namespace', 'shop']).metadata.labels['istio-injection']).toBe('disabled');
    expect(controller.log).not.toMatch(/permission denied|forbidden/i);
  });

  test('a refused service is left as it was, and acmg status says why', async () => {
    applyObjects({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'edge', namespace: 'shop', annotations: { [MARK]: 'replace-service' } },
      spec: { type: 'NodePort', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 8080, targetPort: 9080 }] },
    });
    const nodePort = kubectlJson(['-n', 'shop', 'get', 'service', 'edge']).spec.ports[0].nodePort;
    const { value } = await eventually('edge refused in the status', PASS_MS, async () => (await status()).declarative?.find((d) => d.service === 'edge'));
    expect(value).toMatchObject({ namespace: 'shop', want: 'replace-service', reason: expect.stringMatching(/^refused: .*NodePort/) });
    expect(value.attempts).toBeGreaterThanOrEqual(1);
    expect(await migrated('shop', 'edge')).toBeUndefined();
    expect(kubectlJson(['-n', 'shop', 'get', 'service', 'edge']).spec.ports[0].nodePort).toBe(nodePort);
    const text = expectExit(await acmg(['status']), 0).stdout;
    expect(text).toMatch(/NOT DONE BECAUSE[\s\S]*shop\s+edge\s+replace-service[\s\S]*refused: .*NodePort/);
    // Its namespace's other marked service went regardless.
    expect((await migrated('shop', 'reviews'))?.phase).toBe('complete');
  });

  test("a Namespace's mark moves its Services (approach 2); removing it brings the originals back with their ClusterIPs", async () => {
    applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'decl', labels: { 'istio-injection': 'enabled', [ALLOW]: 'enabled' } } },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'decl' },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080 }] },
      },
      // Not allowed by an admin (no acmg.io/declarative label): its marks are ignored.
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'decl-off', annotations: { [MARK]: 'keep-service' } } },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'decl-off', annotations: { [MARK]: 'keep-service' } },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080 }] },
      },
    ]);
    const own = clusterIP('decl', 'web');
    kubectl(['annotate', 'namespace', 'decl', `${MARK}=replace-service`, '--overwrite']);
    await eventually('decl/web migrated', PASS_MS, async () => (await migrated('decl', 'web'))?.phase === 'complete');
    expect(await migrated('decl', 'web')).toMatchObject({ approach: 'replace-service', origin: 'declarative' });
    expect(exists('decl', 'service', 'web')).toBe(false);
    expect(exists('decl', 'service', 'web-acmg')).toBe(true);
    await eventually('web answers its door', 60_000, async () => (await answer('web.decl.svc.cluster.local')) === doorIP('decl'));
    // The pass that migrated decl/web saw decl-off too: not migrated, not reported.
    expect(await migrated('decl-off', 'web')).toBeUndefined();
    expect((await status()).declarative?.filter((d) => d.namespace === 'decl-off') ?? []).toEqual([]);

    kubectl(['annotate', 'namespace', 'decl', `${MARK}-`]);
    await eventually('decl/web rolled back', PASS_MS, async () => !(await migrated('decl', 'web')));
    expect(clusterIP('decl', 'web')).toBe(own);
    expect(exists('decl', 'service', 'web-acmg')).toBe(false);
    expect(kubectlJson(['get', 'namespace', 'decl']).metadata.labels['istio-injection']).toBe('enabled');
    await eventually('web answers its own ClusterIP', 60_000, async () => (await answer('web.decl.svc.cluster.local')) === own);
  });

  test('a CLI migration is never rolled back by the controller; removing a mark rolls back only the controller’s', async () => {
    expectExit(await acmg(['migrate', 'ratings', '-n', 'shop', '--keep-service', '-y', ...NS]), 0);
    expect(await migrated('shop', 'ratings')).toMatchObject({ phase: 'complete' });
    expect((await migrated('shop', 'ratings'))?.origin).toBeUndefined();
    const own = clusterIP('shop', 'reviews');
    unmark('shop', 'reviews');
    await eventually('reviews rolled back', PASS_MS, async () => !(await migrated('shop', 'reviews')));
    await eventually('reviews answers its own ClusterIP', 60_000, async () => (await answer('reviews.shop.svc.cluster.local')) === own);
    // ratings (the CLI's) stays, and with it the namespace's injection label.
    expect(await migrated('shop', 'ratings')).toMatchObject({ phase: 'complete', dns: 'switched' });
    expect(kubectlJson(['get', 'namespace', 'shop']).metadata.labels['istio-injection']).toBe('disabled');
    expectExit(await acmg(['rollback', 'ratings', '-n', 'shop', '-y', ...NS]), 0);
    expect(controller.log).not.toMatch(/permission denied|forbidden/i);
  });
});
