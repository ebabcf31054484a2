import type { KObject } from '../../src/model/object.js';
import { fitsInState, projectedShardBytes } from '../../src/plan/state-size.js';
import { keepableService } from '../../src/render/routes.js';

const svc = (i: number, namespaces = 20): KObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: `svc-${i}`,
    namespace: `ns-${i % namespaces}`,
    labels: { app: `svc-${i}`, team: 'payments' },
    uid: 'x',
    resourceVersion: '1',
    managedFields: [{ manager: 'kubectl' }],
  },
  spec: {
    clusterIP: `10.96.${i % 250}.${i % 200}`,
    clusterIPs: [`10.96.${i % 250}.${i % 200}`],
    selector: { app: `svc-${i}` },
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
    type: 'ClusterIP',
    sessionAffinity: 'None',
    ipFamilies: ['IPv4'],
    ipFamilyPolicy: 'SingleStack',
    internalTrafficPolicy: 'Cluster',
  },
});
const candidates = (n: number, namespaces = 20) =>
  Array.from({ length: n }, (_, i) => ({
    service: svc(i, namespaces),
    ports: [{ name: 'http', port: 80, protocol: 'HTTP' as const }],
    fqdn: `svc-${i}.ns-${i % namespaces}.svc.cluster.local`,
  }));
const largest = (m: Map<string, number>) => Math.max(...m.values());

describe("acmg's state size, one shard per namespace", () => {
  test('approach 1 records are small: 1,000 services in one namespace fit comfortably', () => {
    const bytes = projectedShardBytes({ migrations: {} }, candidates(1000, 1), 'keep-service', '-acmg');
    expect([...bytes.keys()]).toEqual(['ns-0']);
    expect(largest(bytes)).toBeLessThan(500_000);
  });

  test('10,000 services across 100 namespaces: 100 shards, each far below 1 MiB, with either approach', () => {
    for (const approach of ['keep-service', 'replace-service'] as const) {
      const bytes = projectedShardBytes({ migrations: {} }, candidates(10_000, 100), approach, '-acmg');
      expect(bytes.size).toBe(100);
      expect(fitsInState(largest(bytes))).toBe(true);
      expect(largest(bytes)).toBeLessThan(150_000);
    }
  });

  test('approach 2 keeps each original Service (server fields dropped); a namespace too big for its shard is refused up front', () => {
    const one = largest(projectedShardBytes({ migrations: {} }, candidates(1), 'replace-service', '-acmg'));
    expect(one).toBeGreaterThan(largest(projectedShardBytes({ migrations: {} }, candidates(1), 'keep-service', '-acmg')));
    const kept = keepableService(svc(1));
    expect([kept.metadata.managedFields, kept.metadata.uid, kept.metadata.resourceVersion]).toEqual([undefined, undefined, undefined]);
    expect(kept.spec.clusterIP).toBe('10.96.1.1'); // kept, so rollback restores the same address
    expect(fitsInState(largest(projectedShardBytes({ migrations: {} }, candidates(500, 1), 'replace-service', '-acmg')))).toBe(true);
    expect(fitsInState(largest(projectedShardBytes({ migrations: {} }, candidates(2000, 1), 'replace-service', '-acmg')))).toBe(false);
  });
});
