// Leader election with a coordination.k8s.io Lease: acquire when absent or expired, renew while
// leading, and step down if a renewal fails. Optimistic concurrency decides races.
// Expiry is judged as client-go's leaderelection does (observedTime): a Lease is live until one
// lease duration after this process last saw its holder or renewTime change, by this process's own
// clock. Its renewTime is the holder's clock, which may run ahead of or behind ours.
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

/** One Lease as one replica sees it: what it last observed, and one attempt at a time. */
export class LeaseElector {
  /** The holder and renewTime last seen, and when by our clock. */
  private observed?: { holder?: string; renewTime?: string; at: number };
  /** When (our clock) our last successful renewal started. */
  private renewedAt = -Infinity;
  private pending?: Promise<boolean>;

  constructor(
    private readonly kube: KubeApi,
    private readonly o: LeaseOptions,
  ) {}

  /** True if we hold the lease afterwards. */
  renew(): Promise<boolean> {
    if (this.pending) {
      // A slow renewal is still under way when the next tick comes: no second request beside it
      // (two would race each other's resourceVersion). Its answer is the tick's, unless it hangs past
      // our lease's end: then another replica may hold it, and we are not the leader meanwhile.
      return Date.now() - this.renewedAt < this.o.durationSeconds * 1000 ? this.pending : Promise.resolve(false);
    }
    this.pending = this.attempt().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async attempt(): Promise<boolean> {
    const { o, kube } = this;
    const started = Date.now();
    const lease = await kube.get('coordination.k8s.io/v1', 'Lease', o.name, o.namespace);
    const now = new Date();
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
        return this.held(spec.renewTime, started);
      }
      const s = lease.spec ?? {};
      if (s.holderIdentity !== this.observed?.holder || s.renewTime !== this.observed?.renewTime) {
        this.observed = { holder: s.holderIdentity, renewTime: s.renewTime, at: now.getTime() };
      }
      const mine = s.holderIdentity === o.identity;
      const expires = this.observed!.at + (s.leaseDurationSeconds ?? o.durationSeconds) * 1000;
      if (!mine && expires > now.getTime()) return false;
      await kube.replace({
        ...lease,
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        spec: { ...s, ...spec, ...(mine ? {} : { acquireTime: microTime(now), leaseTransitions: (s.leaseTransitions ?? 0) + 1 }) },
      });
      return this.held(spec.renewTime, started);
    } catch (e) {
      if (isConflict(e) || (e instanceof ApiError && e.status === 409)) return false;
      throw e;
    }
  }

  private held(renewTime: string, started: number): true {
    this.observed = { holder: this.o.identity, renewTime, at: started };
    this.renewedAt = started;
    return true;
  }
}

// The controller calls this on every tick with the same client and Lease: the elector kept for them
// holds what was observed between attempts and runs one attempt at a time.
const electors = new WeakMap<KubeApi, Map<string, LeaseElector>>();

/** One attempt: true if we hold the lease afterwards. */
export function tryAcquireOrRenew(kube: KubeApi, o: LeaseOptions): Promise<boolean> {
  let byLease = electors.get(kube);
  if (!byLease) electors.set(kube, (byLease = new Map()));
  const key = `${o.namespace}/${o.name}/${o.identity}`;
  let elector = byLease.get(key);
  if (!elector) byLease.set(key, (elector = new LeaseElector(kube, o)));
  return elector.renew();
}
