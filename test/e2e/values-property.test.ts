// Issue #13 item 4, as a property: every value set acmg's validation accepts renders objects that
// the real API server (its validation and defaulting) and real Istio (istiod's validating webhook
// for the Gateway, its injector for the gateway pod; the Gateway API CRDs' validation for a Gateway
// API Gateway) accept. Values are drawn from valid and
// adversarial pieces alike; each accepted set is judged by server-side dry runs (nothing is written).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import yaml from 'js-yaml';
import { gatewayProbePod } from '../../src/check/istio.js';
import { AcmgError } from '../../src/errors.js';
import { Kube } from '../../src/kube/client.js';
import { resolveValues } from '../../src/profile/load.js';
import { renderManifests } from '../../src/render/index.js';
import { applyObjects, kubeconfig, kubectl } from './cluster.js';

const NAMESPACES = ['istio-system', 'acmg-prop'];
const dir = mkdtempSync(join(tmpdir(), 'acmg-prop-'));

// --- pieces: valid ones mostly, and now and then the kinds of mistakes users make ---
const mostly = <T>(valid: fc.Arbitrary<T>, bad: T[]) => fc.oneof({ arbitrary: valid, weight: 15 }, { arbitrary: fc.constantFrom(...bad), weight: 1 });
const labelKey = mostly(fc.constantFrom('team', 'example.com/team', 'app.kubernetes.io/part-of', 'a_b.c-d', 'x'.repeat(63)), [
  'bad key!',
  'a/b/c',
  '-x',
  'x'.repeat(64),
  'example.com/',
  '/x',
  'Example.COM/x',
  `${'p'.repeat(254)}/x`,
]);
const labelValue = mostly(fc.oneof(fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?$/), fc.constantFrom('', 'v'.repeat(63))), [
  'v'.repeat(70),
  'Bad!',
  ' x',
  '-x',
  'a b',
]);
const labels = fc.dictionary(labelKey, labelValue, { maxKeys: 3 });
const annotations = fc.dictionary(labelKey, fc.string({ maxLength: 30 }), { maxKeys: 3 });
const port = mostly(fc.constantFrom(1, 80, 443, 8080, 9080, 65535), [15000, 15020, 15021, 15090]);
const gatewayPort = fc.record(
  {
    name: mostly(fc.constantFrom('http', 'grpc', 'http-9080', 'tcp-db', 'p'.repeat(15)), ['status-port', 'a-very-long-port-name', 'Http', '1234', 'h--p']),
    port,
    targetPort: port,
    protocol: fc.constantFrom('HTTP', 'HTTP2', 'GRPC', 'TCP'),
  },
  { requiredKeys: ['name', 'port', 'protocol'] },
);
const quantity = mostly(fc.constantFrom('100m', '1', '2', '0.5', '1e3m'), ['3', 'lots', '1e3']);
const memory = mostly(fc.constantFrom('128Mi', '256Mi', '1Gi', '0.5Gi'), ['4Gi', '1Ti']);
const resources = fc.record({
  requests: fc.record({ cpu: quantity, memory }, { requiredKeys: [] }),
  limits: fc.record({ cpu: fc.constantFrom('2', '4', '2000m'), memory: fc.constantFrom('1Gi', '2Gi', '2048Mi') }, { requiredKeys: [] }),
});
const toleration = fc.record(
  {
    key: mostly(fc.constantFrom('dedicated', 'example.com/gw'), ['', 'bad key!']),
    operator: fc.constantFrom('Equal', 'Exists'),
    value: mostly(fc.constantFrom(''), ['gateway', 'Bad!']),
    effect: fc.constantFrom('NoSchedule', 'PreferNoSchedule', 'NoExecute'),
    tolerationSeconds: mostly(fc.constant(undefined), [0, 60]),
  },
  { requiredKeys: [] },
);
const image = fc.record(
  {
    hub: mostly(fc.constantFrom('docker.io/istio', 'localhost:5000/mirror'), ['', 'Docker.io/Istio']),
    name: mostly(fc.constant('proxyv2'), ['proxy v2']),
    tag: mostly(fc.constantFrom('1.28.1', '1.31-dev'), ['', '.bad']),
  },
  { requiredKeys: [] },
);

// Priority classes are drawn only from ones that exist (beforeAll creates acmg-prop-critical): a
// missing one is precheck's to report, since the API server refuses the pods, not the Deployment.
/** As mostly, for the newer pieces: rarer mistakes, so that enough drawn sets stay accepted. */
const rarely = <T>(valid: fc.Arbitrary<T>, bad: T[]) => fc.oneof({ arbitrary: valid, weight: 60 }, { arbitrary: fc.constantFrom(...bad), weight: 1 });
const priorityClassName = rarely(fc.constantFrom('', 'acmg-prop-critical', 'system-cluster-critical'), ['Bad_Class', 'x.']);
const podSettings = {
  priorityClassName,
  // (A repeated name is refused by validation: test/unit/production-values.)
  imagePullSecrets: fc.uniqueArray(rarely(fc.constantFrom('regcred', 'mirror.pull'), ['Bad!', '']), { maxLength: 2 }),
  seccompProfile: rarely(fc.constantFrom('RuntimeDefault', 'none'), ['Localhost', 'runtime/default']),
};
// Patches of valid content (what they write is the user's; install dry-runs a patched object
// first), and the mistakes acmg must refuse: an object it does not render, a field it finds objects by.
const patch = fc.oneof(
  fc.constant({
    kind: 'Deployment',
    name: 'acmg-gateway',
    mergePatch: { spec: { minReadySeconds: 5, template: { metadata: { annotations: { 'example.com/p': 'x' } } } } },
  }),
  fc.constant({ kind: 'Service', name: 'acmg-gateway', jsonPatch: [{ op: 'add', path: '/metadata/labels/team', value: 'net' }] }),
  fc.constant({ kind: 'Deployment', name: 'acmg-gateway', jsonPatch: [{ op: 'remove', path: '/spec/template/spec/securityContext' }] }),
  fc.constant({ kind: 'Deployment', name: 'acmg-controller', mergePatch: { spec: { revisionHistoryLimit: 2 } } }),
  fc.constant({ kind: 'Service', name: 'acmg-gateway', mergePatch: { metadata: { name: 'renamed' } } }),
  fc.constant({ kind: 'ConfigMap', name: 'nothing', mergePatch: { data: { a: 'b' } } }),
);

const overlay = fc.record(
  {
    namespace: fc.constantFrom(...NAMESPACES),
    revision: mostly(fc.constantFrom('', 'canary'), ['Bad!', 'x'.repeat(64)]),
    gateway: fc.record(
      {
        name: fc.constantFrom('acmg-gateway', 'gw', 'g'.repeat(63)),
        replicas: fc.integer({ min: 0, max: 5 }),
        injection: fc.boolean(),
        image,
        resources,
        statusPort: mostly(fc.constant(15021), [15020, 15090, 8080]),
        ports: fc.array(gatewayPort, { minLength: 1, maxLength: 3 }),
        service: fc.record(
          { annotations, trafficDistribution: rarely(fc.constantFrom('', 'PreferClose', 'PreferSameZone', 'PreferSameNode'), ['Close', 'preferClose']) },
          { requiredKeys: [] },
        ),
        podLabels: labels,
        podAnnotations: annotations,
        podDisruptionBudget: fc.record({ enabled: fc.boolean(), minAvailable: fc.integer({ min: 0, max: 4 }) }),
        autoscaling: fc.record({
          enabled: fc.boolean(),
          minReplicas: fc.integer({ min: 1, max: 4 }),
          maxReplicas: fc.integer({ min: 1, max: 6 }),
          targetCPUUtilizationPercentage: fc.integer({ min: 1, max: 100 }),
        }),
        placement: fc.record({
          nodeSelector: labels,
          tolerations: fc.array(toleration, { maxLength: 2 }),
          antiAffinity: fc.constantFrom('none', 'preferred', 'required'),
          zoneSpread: rarely(fc.constantFrom('none', 'preferred', 'required'), ['zone']),
        }),
        logLevel: fc.constantFrom('info', 'warning', 'debug'),
        ...podSettings,
      },
      { requiredKeys: [] },
    ),
    istioGateway: fc.record(
      {
        name: fc.constantFrom('acmg-gateway', 'gw'),
        hosts: fc.array(mostly(fc.constantFrom('*', 'shop/*', '*.example.com', './reviews.shop.svc.cluster.local'), ['Foo!', '', 'ns/']), {
          minLength: 1,
          maxLength: 3,
        }),
      },
      { requiredKeys: [] },
    ),
    controller: fc.record(
      { enabled: fc.boolean(), resources, resyncPeriod: mostly(fc.constantFrom('5m', '30s'), ['often']), ...podSettings },
      { requiredKeys: [] },
    ),
    patches: fc.array(patch, { maxLength: 2 }),
    // The Gateway API Gateway (and the controller's RBAC for it) is judged by its CRD's validation (CEL rules).
    routing: fc.record({ api: mostly(fc.constantFrom('istio', 'gateway-api'), ['gatewayapi', 'Istio']) }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

/** Whether acmg accepts the values, and if so the rendered objects. */
function render(profile: string, spec: unknown) {
  const file = join(dir, 'values.yaml');
  writeFileSync(file, yaml.dump({ spec }));
  try {
    const doc = resolveValues({ profile, files: [file] });
    return { doc, objects: renderManifests(doc, { clusterDomain: 'cluster.local', version: '0.0.0-test' }) };
  } catch (e) {
    if (e instanceof AcmgError) return undefined;
    throw e;
  }
}

describe('values acmg accepts render objects Kubernetes and Istio accept', () => {
  let kube: Kube;
  beforeAll(async () => {
    applyObjects(
      [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'acmg-prop' } },
        { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'acmg-prop-critical' }, value: 1000000 },
      ],
      { clientSide: true },
    );
    kube = await Kube.connect({ kubeconfig });
  });
  afterAll(() => {
    kubectl(['delete', 'namespace', 'acmg-prop', '--ignore-not-found', '--wait=false']);
    kubectl(['delete', 'priorityclass', 'acmg-prop-critical', '--ignore-not-found']);
  });

  test('server-side dry runs of every object (and the injected gateway pod) for 1,000 drawn value sets', async () => {
    const counts = { accepted: 0, refused: 0, injectedPods: 0, patched: 0 };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('acmg', 'ha', 'demo', 'minimal'), overlay, async (profile, spec) => {
        const r = render(profile, spec);
        if (!r) {
          counts.refused++;
          return;
        }
        counts.accepted++;
        if (r.doc.spec.patches.length) counts.patched++;
        const denied: string[] = [];
        for (const o of r.objects) {
          await kube.apply(o as never, { dryRun: true }).catch((e: Error) => denied.push(`${o.kind} ${o.metadata.name}: ${e.message}`));
        }
        const s = r.doc.spec;
        const deployment = r.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === s.gateway.name);
        if (deployment) {
          const pod = await kube.create<any>(gatewayProbePod(s, deployment), { dryRun: true }).catch((e: Error) => denied.push(`gateway Pod: ${e.message}`));
          if (
            s.gateway.injection &&
            !s.revision &&
            pod?.spec?.containers?.some((c: { name: string; image: string }) => c.name === 'istio-proxy' && c.image !== 'auto')
          )
            counts.injectedPods++;
        }
        if (denied.length) throw new Error(`acmg accepted values that the cluster refuses:\n${yaml.dump({ profile, spec })}\n${denied.join('\n')}`);
      }),
      { numRuns: 1000, seed: Number(process.env.ACMG_PROPERTY_SEED ?? 20261123), endOnFailure: true },
    );
    // The draw must exercise both sides, and the injector must have judged real gateway pods.
    expect(counts.accepted).toBeGreaterThan(60);
    expect(counts.refused).toBeGreaterThan(60);
    expect(counts.injectedPods).toBeGreaterThan(0);
    expect(counts.patched).toBeGreaterThan(10);
  });
});
