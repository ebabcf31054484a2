// Leader election on a Lease (src/ops/leader.ts) against the in-memory KubeApi, called as the
// controller calls it (tryAcquireOrRenew on each tick). Another replica is played by writing the
// Lease with its own clock's renewTime; ours is jest's fake Date, so an hour of clock skew or a
// lease duration passes at once.
import { jest } from '@jest/globals';
import type { KObject } from '../../src/model/object.js';
import { tryAcquireOrRenew, type LeaseOptions } from '../../src/ops/leader.js';
import { MemoryKube } from './memory-kube.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const HOUR = 3_600_000;
const LEASE = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: 'acmg-controller', namespace: 'istio-system' };
const ours: LeaseOptions = { namespace: LEASE.namespace, name: LEASE.name, identity: 'a', durationSeconds: 15 };
const microTime = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

/** The Lease as replica `holder` wrote it, renewTime by its clock. */
const theirs = (holder: string, renewTimeMs: number): KObject => ({
  apiVersion: LEASE.apiVersion,
  kind: LEASE.kind,
  metadata: { name: LEASE.name, namespace: LEASE.namespace },
  spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime: microTime(renewTimeMs), leaseTransitions: 3 },
});

/** Replica `holder` renews, stamping renewTime with its clock. */
const renewAs = (kube: MemoryKube, holder: string, renewTimeMs: number) =>
  kube.mergePatch(LEASE.apiVersion, LEASE.kind, LEASE.name, LEASE.namespace, { spec: { holderIdentity: holder, renewTime: microTime(renewTimeMs) } });

const lease = (kube: MemoryKube) => kube.peek(LEASE.apiVersion, LEASE.kind, LEASE.name, LEASE.namespace)?.spec;
const replaces = (kube: MemoryKube) => kube.writes().filter((w) => w.startsWith('replace Lease'));

/** A client whose reads of the Lease wait for `gate` (a slow API server). */
class SlowKube extends MemoryKube {
  gate?: Promise<void>;
  gets = 0;
  override async get<T extends KObject = KObject>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T | undefined> {
    this.gets++;
    await this.gate;
    return super.get<T>(apiVersion, kind, name, namespace);
  }
}

/** The promise's value if it has settled, else 'pending'. */
const now = <T>(p: Promise<T>) => Promise.race([p, new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))]);

beforeEach(() => jest.useFakeTimers({ now: T0, doNotFake: ['setImmediate'] }));
afterEach(() => jest.useRealTimers());

describe('leader election on a Lease', () => {
  test('a Lease another replica keeps renewing is not taken, though its renewTime is an hour behind our clock', async () => {
    const kube = new MemoryKube();
    kube.seed(theirs('b', T0 - HOUR));
    for (let tick = 0; tick < 12; tick++) {
      // A minute of ticks 5 s apart; b renews between them.
      expect(await tryAcquireOrRenew(kube, ours)).toBe(false);
      jest.advanceTimersByTime(5000);
      await renewAs(kube, 'b', Date.now() - HOUR);
    }
    expect(lease(kube)?.holderIdentity).toBe('b');
    expect(replaces(kube)).toEqual([]);
  });

  test('a Lease whose holder stopped renewing is taken one lease duration after we saw it change last, though its renewTime is an hour ahead of our clock', async () => {
    const kube = new MemoryKube();
    kube.seed(theirs('b', T0 + HOUR));
    expect(await tryAcquireOrRenew(kube, ours)).toBe(false); // first seen at 0 s
    jest.advanceTimersByTime(2000);
    await renewAs(kube, 'b', T0 + HOUR + 2000); // b's last renewal
    for (const at of [5000, 10_000, 15_000]) {
      jest.setSystemTime(T0 + at);
      expect(await tryAcquireOrRenew(kube, ours)).toBe(false); // at 5 s we see the change: live until 20 s
    }
    jest.setSystemTime(T0 + 20_000);
    expect(await tryAcquireOrRenew(kube, ours)).toBe(true);
    expect(lease(kube)).toMatchObject({ holderIdentity: 'a', leaseTransitions: 4, renewTime: microTime(T0 + 20_000) });
  });

  test('renewals run one at a time: a tick during a slow renewal shares its answer, and once our lease has run out meanwhile we are not the leader', async () => {
    const kube = new SlowKube();
    expect(await tryAcquireOrRenew(kube, ours)).toBe(true); // created at 0 s
    let answer!: () => void;
    kube.gate = new Promise((resolve) => (answer = resolve));
    jest.setSystemTime(T0 + 5000);
    const slow = tryAcquireOrRenew(kube, ours);
    jest.setSystemTime(T0 + 10_000);
    const next = tryAcquireOrRenew(kube, ours);
    expect(kube.gets).toBe(2); // no second read beside the slow one
    expect(await now(next)).toBe('pending'); // it waits for the slow renewal's answer

    jest.setSystemTime(T0 + 16_000); // our last renewal (0 s) has run out: b may hold the Lease now
    expect(await now(tryAcquireOrRenew(kube, ours))).toBe(false);
    expect(kube.gets).toBe(2);

    answer(); // the slow renewal gets through after all
    expect(await slow).toBe(true);
    expect(await next).toBe(true);
    expect(replaces(kube)).toHaveLength(1);
    expect(await tryAcquireOrRenew(kube, ours)).toBe(true); // and the next tick renews again
    expect(kube.gets).toBe(3);
  });
});
