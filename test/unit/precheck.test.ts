// The precheck runner over its check records, through the KubeApi seam (the e2e tests run it
// against the real API server, RBAC, Istio and CoreDNS).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { dependencyOrder, runPrecheck } from '../../src/check/precheck.js';
import { clusterError, type AcmgError } from '../../src/errors.js';
import { ApiError, explainApiError } from '../../src/kube/api.js';
import type { KObject } from '../../src/model/object.js';
import { resolveValues } from '../../src/profile/load.js';
import { renderChecklist } from '../../src/ui/checklist.js';
import { MemoryKube, type Call } from './memory-kube.js';

const doc = resolveValues({ profile: 'minimal' });

test('an unreachable API server is one failed check, and nothing else is asked', async () => {
  const kube = new MemoryKube();
  kube.serverVersion = async () => {
    throw clusterError('cannot reach the API server at https://10.0.0.1:6443');
  };
  const r = await runPrecheck(kube, doc);
  expect(r.unreachable).toBe(true);
  expect(r.results).toEqual([
    {
      category: 'kubernetes-api',
      check: 'API server reachable',
      status: 'fail',
      detail: 'cannot reach the API server at https://10.0.0.1:6443',
      hint: 'check --kubeconfig / --context and that the cluster is up',
    },
  ]);
  expect(kube.calls).toEqual([]);
});

test('each record reports under its own category; a check that throws is a failure with its hint', async () => {
  const kube = new MemoryKube();
  kube.seed(yaml.load(readFileSync(join(process.cwd(), 'hack/layouts/kubeadm.yaml'), 'utf8')) as KObject);
  // Access reviews answered "denied" (no status), and listing Gateways fails outright.
  kube.failWhen = (call) => (call.verb === 'list' && call.kind === 'Gateway' ? new Error('gateways: the server is on fire') : undefined);
  kube.seed({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'gateways.networking.istio.io' },
    spec: { versions: [{ name: 'v1', served: true }] },
  });
  const r = await runPrecheck(kube, doc);
  const by = (check: string) => r.results.find((x) => x.check === check);
  expect(by('API server reachable')).toMatchObject({ status: 'ok', detail: 'memory://test (v1.35.4)' });
  expect(by('acmg can do what install and migrate need')).toMatchObject({
    category: 'permissions',
    status: 'fail',
    detail: expect.stringMatching(/^denied: get serviceaccounts in istio-system/),
  });
  expect(by('cluster DNS layout supported')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/domain cluster\.local/) });
  expect(by('Istio networking CRDs installed')).toMatchObject({ status: 'fail', detail: 'missing: virtualservices.networking.istio.io' });
  // The Istio checks need both CRDs: skipped, saying so; the Gateway selector check needs only gateways: run, and it threw.
  expect(r.results.filter((x) => /istiod/.test(x.check))).toEqual([
    { category: 'istio', check: 'istiod, its injector and its validation', status: 'skipped', detail: 'skipped: needs Istio networking CRDs installed' },
  ]);
  expect(by("only acmg's Istio Gateway selects the gateway pods")).toMatchObject({
    status: 'fail',
    detail: 'Error: gateways: the server is on fire',
    hint: expect.stringMatching(/exactly one Gateway/),
  });
  expect(by('namespace istio-system exists')).toMatchObject({ status: 'warn', detail: 'it will be created' });
});

/** A 403 as the API server words it, for a call the in-memory API answers. */
function forbidden(call: Call): ApiError {
  const where: Record<string, [string, string]> = {
    Namespace: ['/api/v1', ''],
    ConfigMap: ['/api/v1', ''],
    Service: ['/api/v1', ''],
    ServiceAccount: ['/api/v1', ''],
    Deployment: ['/apis/apps/v1', 'apps'],
    CustomResourceDefinition: ['/apis/apiextensions.k8s.io/v1', 'apiextensions.k8s.io'],
    Gateway: ['/apis/networking.istio.io/v1', 'networking.istio.io'],
    VirtualService: ['/apis/networking.istio.io/v1', 'networking.istio.io'],
  };
  const [prefix, group] = where[call.kind] ?? ['/apis/example.io/v1', 'example.io'];
  const plural = `${call.kind.toLowerCase()}s`;
  const verb = call.verb === 'list' ? 'list' : 'get';
  const path = `${prefix}${call.namespace ? `/namespaces/${call.namespace}` : ''}/${plural}${call.name ? `/${call.name}` : ''}`;
  const scope = call.namespace ? `in the namespace "${call.namespace}"` : 'at the cluster scope';
  return new ApiError(
    403,
    'Forbidden',
    `${plural} "${call.name ?? ''}" is forbidden: User "jane" cannot ${verb} resource "${plural}" in API group "${group}" ${scope}`,
    'GET',
    path,
  );
}

describe('a record that needs another result is skipped when that record failed, never passed', () => {
  test('a 403 on every read: the namespace and name-collision records fail with a permission hint; the Istio checks are skipped', async () => {
    const kube = new MemoryKube();
    kube.failWhen = (call) => (call.verb === 'get' || call.verb === 'list' ? forbidden(call) : undefined);
    const r = await runPrecheck(kube, doc);
    const by = (check: string) => r.results.find((x) => x.check === check);
    expect(by('Istio networking CRDs installed')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(
        /^permission denied \(403\): GET \/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions\/gateways\.networking\.istio\.io/,
      ),
      hint: expect.stringContaining('kubectl auth can-i get customresourcedefinitions.apiextensions.k8s.io'),
    });
    // Not "it will be created": the namespace could not be read.
    expect(by('namespace istio-system exists')).toMatchObject({
      status: 'fail',
      hint: expect.stringContaining('kubectl auth can-i get namespaces'),
    });
    // Not "no name collisions" over zero objects, and no hint about picking other names.
    const collisions = by('no name collisions with objects acmg does not manage');
    expect(collisions).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/permission denied \(403\)/),
      hint: expect.stringMatching(/kubectl auth can-i get/),
    });
    expect(collisions!.hint).not.toMatch(/pick other names/);
    expect(by('istiod, its injector and its validation')).toEqual({
      category: 'istio',
      check: 'istiod, its injector and its validation',
      status: 'skipped',
      detail: 'skipped: needs Istio networking CRDs installed',
    });
    expect(by("only acmg's Istio Gateway selects the gateway pods")).toMatchObject({
      status: 'skipped',
      detail: 'skipped: needs Istio networking CRDs installed',
    });
    expect(r.results.filter((x) => x.status === 'ok').map((x) => x.check)).toEqual(['API server reachable']);
    expect(r.unreachable).toBeUndefined();
    // The checklist shows the skipped records as such, and counts them apart from the failures.
    const text = renderChecklist(r.results);
    expect(text).toMatch(/○ istiod, its injector and its validation: skipped: needs Istio networking CRDs installed/);
    expect(text).toMatch(/Status check results are × \(\d+ failed, 2 skipped\)/);
  });

  test('the records are still printed in their categories, in the order of PRECHECKS', async () => {
    const kube = new MemoryKube();
    kube.failWhen = (call) => (call.verb === 'get' || call.verb === 'list' ? forbidden(call) : undefined);
    const r = await runPrecheck(kube, doc);
    const categories = r.results.map((x) => x.category).filter((c, i, all) => all[i - 1] !== c);
    expect(categories).toEqual(['kubernetes-api', 'permissions', 'dns', 'istio', 'install']);
  });

  test('the injector dry run says why it was skipped: the namespace does not exist yet, or could not be read', async () => {
    const istio = (kube: MemoryKube) => {
      for (const p of ['gateways', 'virtualservices'])
        kube.seed({
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'CustomResourceDefinition',
          metadata: { name: `${p}.networking.istio.io` },
          spec: { versions: [{ name: 'v1', served: true }] },
        });
      kube.seed({
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingWebhookConfiguration',
        metadata: { name: 'istio-sidecar-injector' },
        webhooks: [{ name: 'namespace.sidecar-injector.istio.io' }],
      } as KObject);
    };
    const fresh = new MemoryKube();
    istio(fresh);
    const r = await runPrecheck(fresh, doc);
    expect(r.results.find((x) => x.check === 'the injector answers and injects the gateway')).toMatchObject({
      status: 'skipped',
      detail: expect.stringMatching(/^skipped: needs namespace istio-system, which install creates/),
    });
    expect(r.results.find((x) => x.check === 'namespace istio-system exists')).toMatchObject({ status: 'warn', detail: 'it will be created' });

    const denied = new MemoryKube();
    istio(denied);
    denied.failWhen = (call) => (call.verb === 'get' && call.kind === 'Namespace' ? forbidden(call) : undefined);
    const d = await runPrecheck(denied, doc);
    expect(d.results.find((x) => x.check === 'namespace istio-system exists')).toMatchObject({ status: 'fail' });
    expect(d.results.find((x) => x.check === 'the injector answers and injects the gateway')).toMatchObject({
      status: 'skipped',
      detail: 'skipped: needs namespace istio-system exists',
    });
  });
});

test('a 401 is worded as status words it (credentials), not "check that the cluster is up"', async () => {
  const kube = new MemoryKube();
  const unauthorized = new ApiError(401, 'Unauthorized', 'Unauthorized', 'GET', '/version');
  kube.serverVersion = async () => {
    throw unauthorized;
  };
  const r = await runPrecheck(kube, doc);
  const asStatus = explainApiError(unauthorized) as AcmgError;
  expect(r.unreachable).toBe(true);
  expect(r.results).toEqual([{ category: 'kubernetes-api', check: 'API server reachable', status: 'fail', detail: asStatus.message, hint: asStatus.hint }]);
  expect(asStatus.message).toBe('the API server rejected the credentials (401) for GET /version');
  expect(r.results[0]!.hint).not.toMatch(/cluster is up/);
});

test('records run after what they need and use, otherwise in their listed order; a cycle is refused', () => {
  const ids = (rs: { id: string }[]) => rs.map((r) => r.id);
  expect(ids(dependencyOrder([{ id: 'a' }, { id: 'b', uses: ['d'] }, { id: 'c', needs: [{ check: 'a' }] }, { id: 'd', needs: ['a'] }]))).toEqual([
    'a',
    'd',
    'b',
    'c',
  ]);
  expect(() =>
    dependencyOrder([
      { id: 'a', needs: ['b'] },
      { id: 'b', uses: ['a'] },
    ]),
  ).toThrow(/cycle/);
  expect(() => dependencyOrder([{ id: 'a', needs: ['nope'] }])).toThrow(/not a record/);
});

test("the gateway's own namespace doors are not other Gateways selecting its pods; a foreign one is", async () => {
  const kube = new MemoryKube();
  kube.seed(yaml.load(readFileSync(join(process.cwd(), 'hack/layouts/kubeadm.yaml'), 'utf8')) as KObject);
  for (const name of ['gateways.networking.istio.io', 'virtualservices.networking.istio.io'])
    kube.seed({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name },
      spec: { versions: [{ name: 'v1', served: true }] },
    });
  const selector = { app: 'acmg-gateway', istio: 'acmg-gateway' };
  const gateway = (name: string, labels: Record<string, string>): KObject => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace: 'istio-system', labels },
    spec: { selector, servers: [] },
  });
  kube.seed(
    gateway('acmg-bookinfo', { 'app.kubernetes.io/managed-by': 'acmg', 'app.kubernetes.io/component': 'namespace-gateway' }),
    gateway('someone-elses', {}),
  );
  const r = await runPrecheck(kube, doc);
  expect(r.results.find((x) => x.check === "only acmg's Istio Gateway selects the gateway pods")).toMatchObject({
    status: 'fail',
    detail: 'also selecting them: istio-system/someone-elses',
  });
});

describe('the permissions check asks for what migrate, rollback and sync call', () => {
  /** Every access review allowed except those named ("verb resource.group namespace|*"). */
  const allowingExcept = (denied: string[]) => {
    const kube = new MemoryKube();
    const create = kube.create.bind(kube);
    kube.create = (async (o: KObject) => {
      if (o.kind !== 'SelfSubjectAccessReview') return create(o);
      const a = o.spec.resourceAttributes;
      const id = `${a.verb} ${a.group ? `${a.resource}.${a.group}` : a.resource} ${a.namespace ?? '*'}`;
      return { ...o, status: { allowed: !denied.includes(id) } };
    }) as typeof kube.create;
    return kube;
  };
  const permissions = async (kube: MemoryKube, values = doc) => (await runPrecheck(kube, values)).results.find((x) => x.category === 'permissions')!;

  test('everything allowed: the check passes', async () => {
    expect(await permissions(allowingExcept([]))).toMatchObject({ status: 'ok' });
  });

  test.each<[string, RegExp]>([
    ['list authorizationpolicies.security.istio.io *', /list authorizationpolicies\.security\.istio\.io \(cluster-wide\) for migrate's mesh security check/],
    ['list requestauthentications.security.istio.io *', /list requestauthentications\.security\.istio\.io \(cluster-wide\) for migrate's mesh security check/],
    ['list peerauthentications.security.istio.io *', /list peerauthentications\.security\.istio\.io \(cluster-wide\) for migrate's mesh security check/],
    ['list pods *', /list pods \(cluster-wide\) for migrate's mesh security check/],
    ['list destinationrules.networking.istio.io *', /list destinationrules\.networking\.istio\.io \(cluster-wide\) for migrate, rollback and sync/],
    ['delete destinationrules.networking.istio.io *', /delete destinationrules\.networking\.istio\.io \(cluster-wide\)/],
    ['create virtualservices.networking.istio.io *', /create virtualservices\.networking\.istio\.io \(cluster-wide\)/],
    ['list virtualservices.networking.istio.io *', /list virtualservices\.networking\.istio\.io \(cluster-wide\)/],
    ['delete services *', /delete services \(cluster-wide\)/],
    ['list configmaps istio-system', /list configmaps in istio-system for acmg's state/],
    ['list endpointslices.discovery.k8s.io istio-system', /list endpointslices\.discovery\.k8s\.io in istio-system/],
    // With Istio's API too, migrate and sync read the GAMMA routes of the migrated Services.
    ...['httproutes', 'grpcroutes', 'tcproutes', 'tlsroutes'].map(
      (r) =>
        [
          `list ${r}.gateway.networking.k8s.io *`,
          new RegExp(`list ${r}\\.gateway\\.networking\\.k8s\\.io \\(cluster-wide\\) for migrate and sync \\(the migrated Services' GAMMA routes\\)`),
        ] as [string, RegExp],
    ),
  ])('denied %s: named in the failure', async (denied, named) => {
    expect(await permissions(allowingExcept([denied]))).toMatchObject({ status: 'fail', detail: expect.stringMatching(named) });
  });

  test("restarting every namespace's Deployments is asked only where the profile restarts (migration.restart)", async () => {
    const restarting = resolveValues({ profile: 'minimal', sets: ['migration.restart=true'] });
    for (const denied of ['patch deployments.apps *', 'watch deployments.apps *']) {
      expect(await permissions(allowingExcept([denied]), restarting)).toMatchObject({
        status: 'fail',
        detail: expect.stringMatching(new RegExp(`${denied.split(' ')[0]} deployments\\.apps \\(cluster-wide\\) for migrate \\(migration\\.restart\\)`)),
      });
      expect(await permissions(allowingExcept([denied]))).toMatchObject({ status: 'ok' });
    }
  });

  test('with routing.api gateway-api: the routes and Gateways of the Gateway API too', async () => {
    const gatewayApi = resolveValues({ profile: 'minimal', sets: ['routing.api=gateway-api'] });
    for (const [denied, named] of [
      ['list httproutes.gateway.networking.k8s.io *', /list httproutes\.gateway\.networking\.k8s\.io \(cluster-wide\)/],
      ['delete tcproutes.gateway.networking.k8s.io *', /delete tcproutes\.gateway\.networking\.k8s\.io \(cluster-wide\)/],
      ['list gateways.gateway.networking.k8s.io istio-system', /list gateways\.gateway\.networking\.k8s\.io in istio-system/],
    ] as const)
      expect(await permissions(allowingExcept([denied]), gatewayApi)).toMatchObject({ status: 'fail', detail: expect.stringMatching(named) });
    // The Istio API's lists are still asked (sync reads the user's VirtualServices and DestinationRules either way),
    // but no writes of VirtualServices, which acmg does not make with the Gateway API.
    expect(await permissions(allowingExcept(['list destinationrules.networking.istio.io *']), gatewayApi)).toMatchObject({ status: 'fail' });
    expect(await permissions(allowingExcept(['list virtualservices.networking.istio.io *']), gatewayApi)).toMatchObject({ status: 'fail' });
    expect(await permissions(allowingExcept(['delete virtualservices.networking.istio.io *']), gatewayApi)).toMatchObject({ status: 'ok' });
  });
});
