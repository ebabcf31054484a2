// How many API requests migrate and rollback make as the number of services grows (issue #25;
// bench/floor.sh measures the time). Reads that grow with the services (a GET per Service) are what
// made acmg slower than the API server's own speed; the only per-service requests left are the
// writes themselves. Counts, not timings.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import type { KObject } from '../../src/model/object.js';
import { loadInstall } from '../../src/ops/install-record.js';
import { applyMigration, planMigration } from '../../src/ops/migrate/index.js';
import { rollbackMigrations } from '../../src/ops/rollback.js';
import { resolveValues } from '../../src/profile/load.js';
import { renderManifests } from '../../src/render/index.js';
import { MemoryKube, type Call, recordInstall } from './memory-kube.js';

const NAMESPACES = ['shop', 'web'];

/** acmg installed (profile minimal, kubeadm CoreDNS) and n Services labelled bench=yes over two namespaces. */
async function cluster(n: number): Promise<MemoryKube> {
  const kube = new MemoryKube();
  const coredns = yaml.load(readFileSync(join(process.cwd(), 'hack/layouts/kubeadm.yaml'), 'utf8')) as KObject;
  const doc = resolveValues({ profile: 'minimal' });
  const objects = renderManifests(doc, { clusterDomain: 'cluster.local', version: '0.0.0-test' });
  const ns = (name: string): KObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  kube.seed(
    ns('istio-system'),
    ns('kube-system'),
    ...NAMESPACES.map(ns),
    coredns,
    ...objects,
    ...Array.from({ length: n }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc-${i}`, namespace: NAMESPACES[i % NAMESPACES.length]!, labels: { bench: 'yes' } },
      spec: { selector: { app: `svc-${i}` }, ports: [{ name: 'http', port: 9000, targetPort: 9000 }] },
    })),
  );
  await recordInstall(kube, doc.spec, objects);
  kube.calls.splice(0);
  return kube;
}

const task = async <T>(_title: string, fn: (update: (t: string) => void) => Promise<T>) => fn(() => {});

/** The calls of one verb on one kind. */
const count = (calls: Call[], verb: string, kind: string) => calls.filter((c) => c.verb === verb && c.kind === kind).length;

/** Migrate (replace-service) and rollback of n services: the calls of each. */
async function run(n: number) {
  const kube = await cluster(n);
  const plan = await planMigration(kube, { services: [], selector: 'bench=yes' }, { approach: 'replace-service' });
  await applyMigration(kube, plan, { dnsTimeoutMs: 1000, readinessTimeoutMs: 1000, task });
  const migrate = kube.calls.splice(0);
  const keys = plan.candidates.map((c) => `${c.service.metadata.namespace}/${c.service.metadata.name}`);
  await rollbackMigrations(kube, await loadInstall(kube), keys, { dnsTimeoutMs: 1000, task });
  const rollback = kube.calls.splice(0);
  return { migrate, rollback, kube };
}

describe('requests that grow with the number of services are writes only', () => {
  test('--replace-service: each original is deleted with one request (no GET before it), each route and replacement written once', async () => {
    const small = await run(4);
    const large = await run(20);
    // Reads do not grow with the services.
    expect(count(large.migrate, 'get', 'Service')).toBe(count(small.migrate, 'get', 'Service'));
    expect(count(large.migrate, 'delete', 'Service')).toBe(20);
    expect(count(large.migrate, 'apply', 'VirtualService')).toBe(20);
    expect(count(large.migrate, 'apply', 'Service') - count(small.migrate, 'apply', 'Service')).toBe(16);
  });

  test('rollback lists per namespace: no GET per route, replacement or DestinationRule copy', async () => {
    const small = await run(4);
    const large = await run(20);
    for (const kind of ['Service', 'DestinationRule', 'VirtualService']) expect(count(large.rollback, 'get', kind)).toBe(count(small.rollback, 'get', kind));
    expect(count(large.rollback, 'delete', 'VirtualService')).toBe(20);
    expect(count(large.rollback, 'create', 'Service')).toBe(20);
    // Everything acmg made for the services is gone, the originals are back.
    expect(large.kube.peek('v1', 'Service', 'svc-1-acmg', 'web')).toBeUndefined();
    expect(large.kube.peek('v1', 'Service', 'svc-1', 'web')).toBeDefined();
  });
});
