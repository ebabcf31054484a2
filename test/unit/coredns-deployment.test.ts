// Issue #23 point 11: where CoreDNS does not reload by itself, the controller restarts its
// Deployment. That Deployment is not always named coredns (RKE2: rke2-coredns-rke2-coredns, the
// CoreDNS Helm chart: coredns-coredns), so install finds it as a restart would (by the label
// k8s-app=kube-dns, else the name coredns), grants the controller exactly it (get, watch, patch by
// name; no list of Deployments) and records it; the controller restarts that one, by name, and
// finds none by label. Install runs for real on the in-memory API (precheck replaced as in
// gitops.test.ts); the controller's calls go through a stand-in for RBAC built from the Role install
// applied.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import yaml from 'js-yaml';
import { ApiError } from '../../src/kube/api.js';
import { loadDns } from '../../src/kube/dns-store.js';
import type { KObject } from '../../src/model/object.js';
import type { AcmgOperator } from '../../src/profile/schema.js';
import { resolveValues } from '../../src/profile/load.js';
import { offlineLayout, renderInstall } from '../../src/render/install.js';
import { MemoryKube, type Call } from './memory-kube.js';

jest.unstable_mockModule('../../src/check/precheck.js', () => ({
  runPrecheck: async (kube: MemoryKube, doc: AcmgOperator) => ({
    results: [{ category: 'dns', check: 'cluster DNS layout supported', status: 'ok' }],
    layout: doc.spec.dns.enabled ? (await loadDns(kube, doc.spec.dns)).layout : undefined,
  }),
}));
const { applyInstall, planInstall } = await import('../../src/ops/install.js');
const { requireInstall, dnsSettings } = await import('../../src/ops/install-record.js');
const { reconcile } = await import('../../src/ops/sync.js');
const { makeDnsChangeTakeEffect } = await import('../../src/ops/coredns-restart.js');

const RKE2 = 'rke2-coredns-rke2-coredns';
const task = async <T>(_title: string, fn: (update: (t: string) => void) => Promise<T>) => fn(() => {});
const NS = (name: string): KObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const deployment = (name: string, labels: Record<string, string> = {}): KObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'kube-system', labels },
  spec: { replicas: 2, template: { metadata: {} } },
});
const restartedAt = (kube: MemoryKube, name: string) =>
  kube.peek('apps/v1', 'Deployment', name, 'kube-system')?.spec.template.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'];

/** RKE2's CoreDNS: a Corefile without reload (acmg then restarts CoreDNS) and its Deployment, labelled k8s-app=kube-dns. */
function rke2Cluster(layout = 'no-reload'): MemoryKube {
  const kube = new MemoryKube();
  const coredns = yaml.loadAll(readFileSync(join(process.cwd(), 'hack', 'layouts', `${layout}.yaml`), 'utf8')).filter(Boolean) as KObject[];
  kube.seed(NS('istio-system'), NS('kube-system'), NS('shop'), ...coredns, deployment(RKE2, { 'k8s-app': 'kube-dns' }), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'reviews', namespace: 'shop' },
    spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] },
  });
  return kube;
}

const doc = (sets: string[] = []) => resolveValues({ sets: ['controller.enabled=true', 'dns.mode=corefile', ...sets] });

async function install(kube: MemoryKube, d = doc()) {
  const plan = await planInstall(kube, d);
  await applyInstall(kube, plan, { readinessTimeoutMs: 1000, task });
}

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
const VERBS: Record<Call['verb'], string> = {
  get: 'get',
  list: 'list',
  watch: 'watch',
  patch: 'patch',
  apply: 'patch',
  create: 'create',
  replace: 'update',
  delete: 'delete',
};

/**
 * The controller's access to Deployments in the DNS namespace, as the API server would judge it
 * from the Role install applied there: a call a rule's resourceNames do not name is refused (a
 * list or watch names one only by its field selector metadata.name, which memory-kube records).
 */
function controllerRbac(kube: MemoryKube): void {
  const role = kube.peek('rbac.authorization.k8s.io/v1', 'Role', 'acmg-controller', 'kube-system')!;
  const rules = (role.rules as Rule[]).filter((r) => r.apiGroups.includes('apps') && r.resources.includes('deployments'));
  kube.failWhen = (c) => {
    if (c.kind !== 'Deployment' || c.namespace !== 'kube-system') return undefined;
    const ok = rules.some((r) => r.verbs.includes(VERBS[c.verb]) && (!r.resourceNames || (c.name !== undefined && r.resourceNames.includes(c.name))));
    return ok
      ? undefined
      : new ApiError(403, 'Forbidden', `deployments.apps${c.name ? ` "${c.name}"` : ''} is forbidden: cannot ${VERBS[c.verb]}`, 'GET', 'Deployment');
  };
}

describe("the controller's CoreDNS restart: the Deployment install found, granted and restarted by name", () => {
  test("install names RKE2's CoreDNS Deployment in the controller's Role (get, watch, patch; no list) and in its record", async () => {
    const kube = rke2Cluster();
    await install(kube);
    const role = kube.peek('rbac.authorization.k8s.io/v1', 'Role', 'acmg-controller', 'kube-system')!;
    expect((role.rules as Rule[]).filter((r) => r.resources.includes('deployments'))).toEqual([
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: [RKE2], verbs: ['get', 'watch', 'patch'] },
    ]);
    expect((await requireInstall(kube)).install.corednsDeployment).toBe(RKE2);
    // What manifest generate renders when told the name (--coredns-deployment): the same Role and record.
    const offline = renderInstall(doc(), { clusterDomain: 'cluster.local', version: 't', layout: offlineLayout(doc().spec, false, RKE2) });
    expect(offline.find((o) => o.kind === 'Role' && o.metadata.namespace === 'kube-system')!.rules).toEqual(role.rules);
    expect(JSON.parse(offline.find((o) => o.kind === 'ConfigMap')!.data.install).corednsDeployment).toBe(RKE2);
  });

  test('without a Deployment labelled k8s-app=kube-dns, the one named coredns (as the restart finds it)', async () => {
    const kube = rke2Cluster();
    kube.seed({ ...deployment(RKE2), metadata: { name: RKE2, namespace: 'kube-system' } }, deployment('coredns'));
    await install(kube);
    expect((await requireInstall(kube)).install.corednsDeployment).toBe('coredns');
  });

  test("the controller's sync restarts that Deployment by name, within its Role, and no other labelled k8s-app=kube-dns", async () => {
    const kube = rke2Cluster();
    await install(kube);
    // Another Deployment with the label, sorting first: found by label, it would be the one restarted.
    kube.seed(deployment('a-kube-dns', { 'k8s-app': 'kube-dns' }));
    controllerRbac(kube);
    kube.seed({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'shop' },
      spec: { gateways: ['istio-system/acmg-gateway'], hosts: ['reviews.example.com'], http: [{ route: [{ destination: { host: 'reviews' } }] }] },
    });
    kube.calls.splice(0);
    const r = await reconcile(kube);
    expect(r.add.map((e) => e.fqdn)).toEqual(['reviews.shop.svc.cluster.local']);
    expect(restartedAt(kube, RKE2)).toEqual(expect.any(String));
    expect(restartedAt(kube, 'a-kube-dns')).toBeUndefined();
    expect(kube.calls.filter((c) => c.kind === 'Deployment' && c.namespace === 'kube-system').map((c) => `${c.verb} ${c.name}`)).toEqual([
      `get ${RKE2}`,
      `patch ${RKE2}`,
      `get ${RKE2}`,
    ]);
  });

  test('a record without the name (an older acmg wrote it) finds the Deployment by label, as before; a named one gone is a clear error', async () => {
    const kube = rke2Cluster();
    await install(kube);
    const s = dnsSettings((await requireInstall(kube)).install);
    expect(s.deployment).toBe(RKE2);
    const { deployment: _named, ...older } = s;
    await makeDnsChangeTakeEffect(kube, older, false, { task, timeoutMs: 1000 });
    expect(restartedAt(kube, RKE2)).toEqual(expect.any(String));
    await kube.delete('apps/v1', 'Deployment', RKE2, 'kube-system');
    kube.seed(deployment('coredns', { 'k8s-app': 'kube-dns' }));
    await expect(makeDnsChangeTakeEffect(kube, s, false, { task, timeoutMs: 1000 })).rejects.toThrow(
      `no CoreDNS Deployment kube-system/${RKE2} (the one acmg's install record names) to restart`,
    );
    expect(restartedAt(kube, 'coredns')).toBeUndefined();
  });

  test('where CoreDNS reloads by itself (and acmg writes the Corefile), the Role grants no Deployment at all', async () => {
    const kube = rke2Cluster('kubeadm');
    await install(kube);
    const role = kube.peek('rbac.authorization.k8s.io/v1', 'Role', 'acmg-controller', 'kube-system')!;
    expect((role.rules as Rule[]).filter((r) => r.resources.includes('deployments'))).toEqual([]);
    // The record still names it: the CLI, run as an admin on a Corefile that lost its reload plugin, restarts that one.
    expect((await requireInstall(kube)).install.corednsDeployment).toBe(RKE2);
  });
});
