import type { KObject } from '../../src/model/object.js';
import { fitsInState, projectedStateBytes } from '../../src/plan/state-size.js';
import { keepableService } from '../../src/render/routes.js';

const svc = (i: number): KObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: `svc-${i}`,
    namespace: `ns-${i % 20}`,
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
const candidates = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    service: svc(i),
    ports: [{ name: 'http', port: 80, protocol: 'HTTP' as const }],
    fqdn: `svc-${i}.ns-${i % 20}.svc.cluster.local`,
  }));

describe("acmg's state size", () => {
  test('approach 1 records are small: 1,000 services fit comfortably', () => {
    const bytes = projectedStateBytes({ migrations: {} }, candidates(1000), 'keep-service', '-acmg');
    expect(fitsInState(bytes)).toBe(true);
    expect(bytes).toBeLessThan(500_000);
  });

  test('approach 2 keeps each original Service (server fields dropped); too many are refused up front', () => {
    const one = projectedStateBytes({ migrations: {} }, candidates(1), 'replace-service', '-acmg');
    expect(one).toBeGreaterThan(projectedStateBytes({ migrations: {} }, candidates(1), 'keep-service', '-acmg'));
    const kept = keepableService(svc(1));
    expect([kept.metadata.managedFields, kept.metadata.uid, kept.metadata.resourceVersion]).toEqual([undefined, undefined, undefined]);
    expect(kept.spec.clusterIP).toBe('10.96.1.1'); // kept, so rollback restores the same address
    expect(fitsInState(projectedStateBytes({ migrations: {} }, candidates(500), 'replace-service', '-acmg'))).toBe(true);
    expect(fitsInState(projectedStateBytes({ migrations: {} }, candidates(2000), 'replace-service', '-acmg'))).toBe(false);
  });
});
