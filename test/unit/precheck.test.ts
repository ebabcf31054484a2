// The precheck runner over its check records, through the KubeApi seam (the e2e tests run it
// against the real API server, RBAC, Istio and CoreDNS).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { runPrecheck } from '../../src/check/precheck.js';
import { clusterError } from '../../src/errors.js';
import type { KObject } from '../../src/model/object.js';
import { resolveValues } from '../../src/profile/load.js';
import { MemoryKube } from './memory-kube.js';

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
  // The Istio checks need both CRDs: skipped; the Gateway selector check needs only gateways: run, and it threw.
  expect(r.results.some((x) => /istiod/.test(x.check))).toBe(false);
  expect(by("only acmg's Istio Gateway selects the gateway pods")).toMatchObject({
    status: 'fail',
    detail: 'Error: gateways: the server is on fire',
    hint: expect.stringMatching(/exactly one Gateway/),
  });
  expect(by('namespace istio-system exists')).toMatchObject({ status: 'warn', detail: 'it will be created' });
});
