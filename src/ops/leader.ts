// Leader election with a coordination.k8s.io Lease: acquire when absent or expired, renew while
// leading, and step down if a renewal fails. Optimistic concurrency decides races.
import { ApiError, isConflict, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import { acmgLabels } from '../render/labels.js';
import { VERSION } from '../version.js';

export interface LeaseOptions {
  namespace: string;
  name: string;
  identity: string;
  durationSeconds: number;
}

const microTime = (d: Date) => d.toISOString().replace('Z', '000Z');

/** One attempt: true if we hold the lease afterwards. */
export async function tryAcquireOrRenew(kube: KubeApi, o: LeaseOptions): Promise<boolean> {
  const now = new Date();
  const lease = await kube.get('coordination.k8s.io/v1', 'Lease', o.name, o.namespace);
  const spec = { holderIdentity: o.identity, leaseDurationSeconds: o.durationSeconds, renewTime: microTime(now) };
  try {
    if (!lease) {
      // Labelled as acmg's, so uninstall --purge sweeps it like everything else acmg creates.
      await kube.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: o.name, namespace: o.namespace, labels: acmgLabels('controller', VERSION) },
        spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
      } as KObject);
      return true;
    }
    const s = lease.spec ?? {};
    const expires = new Date(s.renewTime ?? 0).getTime() + (s.leaseDurationSeconds ?? o.durationSeconds) * 1000;
    const mine = s.holderIdentity === o.identity;
    if (!mine && expires > now.getTime()) return false;
    await kube.replace({
      ...lease,
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      spec: { ...s, ...spec, ...(mine ? {} : { acquireTime: microTime(now), leaseTransitions: (s.leaseTransitions ?? 0) + 1 }) },
    });
    return true;
  } catch (e) {
    if (isConflict(e) || (e instanceof ApiError && e.status === 409)) return false;
    throw e;
  }
}
