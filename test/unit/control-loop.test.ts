// The sync --watch controller's loop (src/ops/control-loop.ts) through its seam: events in, a fake
// clock, a fake reconcile, Lease and DNS check; what comes out is when it reconciles, what it logs
// and what /healthz, /readyz and /metrics would report. No real time passes.
import { clusterError, usageError } from '../../src/errors.js';
import {
  ControlLoop,
  failingSeconds,
  initialState,
  live,
  step,
  STOP_GRACE_MS,
  type Clock,
  type DnsCheckRun,
  type LoopConfig,
  type LoopIO,
} from '../../src/ops/control-loop.js';
import type { DnsCheck, SyncResult } from '../../src/ops/sync.js';

/** Timers on a clock that moves only when told; due timers run in order, each followed by the promises it settles. */
class FakeClock implements Clock {
  t = 1_000_000;
  private ids = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void; every?: number }>();
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => this.add(fn, ms);
  setInterval = (fn: () => void, ms: number) => this.add(fn, ms, ms);
  clearTimeout = (h: unknown) => void this.timers.delete(h as number);
  clearInterval = (h: unknown) => void this.timers.delete(h as number);
  get pending(): number {
    return this.timers.size;
  }
  private add(fn: () => void, ms: number, every?: number): number {
    this.timers.set(++this.ids, { at: this.t + Math.max(0, ms), fn, every });
    return this.ids;
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const next = [...this.timers].filter(([, x]) => x.at <= end).sort(([a, x], [b, y]) => x.at - y.at || a - b)[0];
      if (!next) break;
      const [id, timer] = next;
      this.t = timer.at;
      if (timer.every) timer.at += timer.every;
      else this.timers.delete(id);
      timer.fn();
    }
    this.t = end;
    await settle();
  }
}

/** Lets every promise that can settle now settle (no time passes). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const result = (o: Partial<SyncResult> = {}): SyncResult => ({
  add: [],
  remove: [],
  routes: [],
  portsChanged: false,
  ports: [],
  dnsWrites: 0,
  warnings: [],
  ...o,
});

interface Call {
  at: number;
  later: (run: DnsCheckRun) => void;
  resolve: (r: SyncResult) => void;
  reject: (e: unknown) => void;
}

/** A loop with a fake clock and I/O. Reconciles succeed at once unless `hold` (then the test settles them). */
function harness(config: Partial<LoopConfig> = {}, o: { hold?: boolean; fail?: () => unknown; renew?: () => Promise<boolean> } = {}) {
  const clock = new FakeClock();
  const logs: string[] = [];
  const cfg: LoopConfig = { debounceMs: 500, maxDelayMs: 2000, resyncMs: 300_000, unhealthyAfterMs: 120_000, leaderElect: Boolean(o.renew), ...config };
  const loop = new ControlLoop(cfg, (m) => logs.push(m), clock);
  const calls: Call[] = [];
  let stopped = false;
  const io: LoopIO = {
    reconcile: (later) =>
      new Promise<SyncResult>((resolve, reject) => {
        calls.push({ at: clock.now() - start, later, resolve, reject });
        if (o.hold) return;
        const e = o.fail?.();
        if (e) reject(e);
        else resolve(result());
      }),
    lease: o.renew && { name: 'istio-system/acmg-controller', renew: o.renew },
    stop: () => (stopped = true),
  };
  const start = clock.now();
  let ended = false;
  const h = {
    clock,
    loop,
    logs,
    calls,
    /** When the reconciles started, in ms since the harness was made. */
    times: () => calls.map((c) => c.at),
    /** Since the harness was made. */
    now: () => clock.now() - start,
    ended: () => ended,
    ioStopped: () => stopped,
    done: undefined as unknown as Promise<void>,
    /** Starts the loop with its caches listed, and lets the first reconcile (the start's) run. */
    async start() {
      loop.dispatch({ type: 'synced' });
      h.done = loop.run(io).then(() => void (ended = true));
      await clock.advance(0);
    },
    change: () => loop.dispatch({ type: 'changed' }),
  };
  return h;
}

describe('debounce: a burst is one reconcile', () => {
  test('changes within the debounce give one reconcile, a debounce after the last', async () => {
    const h = harness();
    await h.start();
    expect(h.times()).toEqual([0]); // the start's
    for (let i = 0; i < 4; i++) {
      h.change();
      await h.clock.advance(300); // less than the 500ms debounce
    }
    // changes at 0, 300, 600 and 900 after the start; quiet from 900
    await h.clock.advance(10_000);
    expect(h.times()).toEqual([0, 900 + 500]);
  });

  test('a continuous burst is cut at maxDelay after its first event', async () => {
    const h = harness({ debounceMs: 500, maxDelayMs: 2000 });
    await h.start();
    for (let i = 0; i < 25; i++) {
      h.change(); // every 200ms for 5s, never 500ms of quiet
      await h.clock.advance(200);
    }
    await h.clock.advance(10_000);
    // bursts from 0 (cut at 2000), from 2000 (cut at 4000), from 4000 (quiet after the last change at 4800)
    expect(h.times()).toEqual([0, 2000, 4000, 4800 + 500]);
    expect(h.loop.state.metrics.reconciles).toBe(4);
  });

  test('a resync reconciles at once; nothing runs before the caches have listed', async () => {
    const h = harness({ resyncMs: 60_000 });
    h.done = h.loop.run({ reconcile: async () => (h.calls.push({ at: h.now() } as Call), result()) });
    h.change();
    await h.clock.advance(1000);
    expect(h.times()).toEqual([]); // not synced: the burst is dropped
    h.loop.dispatch({ type: 'synced' });
    h.change(); // an informer's first list
    await h.clock.advance(500);
    expect(h.times()).toEqual([1500]);
    await h.clock.advance(60_000 - 1500);
    expect(h.times()).toEqual([1500, 60_000]);
    expect(h.loop.state.ready).toBe(true);
  });

  test('one reconcile at a time: a burst due while one runs runs after it, debounced', async () => {
    const h = harness({}, { hold: true });
    await h.start();
    h.change();
    await h.clock.advance(500); // due while the start's reconcile still runs
    h.change();
    await h.clock.advance(500);
    expect(h.times()).toEqual([0]);
    h.calls[0]!.resolve(result());
    await h.clock.advance(499);
    expect(h.times()).toEqual([0]);
    await h.clock.advance(1);
    expect(h.times()).toEqual([0, 1500]);
  });
});

describe('backoff', () => {
  test('a failed reconcile is retried after 1s, 2s, 4s ... 30s, and after a success from 1s again', async () => {
    let failing = true;
    const h = harness({ maxDelayMs: 60_000 }, { fail: () => failing && clusterError('the API server is away') });
    await h.start();
    await h.clock.advance(91_000);
    // 0, then retries 1, 2, 4, 8, 16, 30 and 30s apart
    expect(h.times()).toEqual([0, 1000, 3000, 7000, 15_000, 31_000, 61_000, 91_000]);
    expect(h.logs.filter((l) => l.startsWith('reconcile failed')).slice(0, 3)).toEqual([
      'reconcile failed (retry in 1s): the API server is away',
      'reconcile failed (retry in 2s): the API server is away',
      'reconcile failed (retry in 4s): the API server is away',
    ]);
    expect(h.logs.at(-1)).toBe('reconcile failed (retry in 30s): the API server is away');
    expect(h.loop.state.metrics.errors).toBe(8);
    expect(h.loop.state.ready).toBe(false);

    failing = false;
    await h.clock.advance(30_000);
    expect(h.times().at(-1)).toBe(121_000);
    expect(h.loop.state).toMatchObject({ ready: true, backoffMs: 0, failingSince: undefined, metrics: { reconciles: 1, errors: 8 } });

    failing = true;
    h.change();
    await h.clock.advance(500 + 1000);
    expect(h.times().slice(-2)).toEqual([121_500, 122_500]); // the backoff starts from 1s again
  });

  test('the retry waits its backoff even past maxDelay, and changes meanwhile do not bring it forward', async () => {
    const h = harness({ debounceMs: 500, maxDelayMs: 2000 }, { fail: () => clusterError('the API server is away') });
    await h.start();
    await h.clock.advance(7_000);
    expect(h.times()).toEqual([0, 1000, 3000, 7000]); // 1s, 2s, 4s: not cut to maxDelay's 2s
    h.change(); // during the 8s backoff
    await h.clock.advance(7_900);
    expect(h.times()).toEqual([0, 1000, 3000, 7000]);
    await h.clock.advance(100);
    expect(h.times()).toEqual([0, 1000, 3000, 7000, 15_000]);
  });

  test('a misconfiguration (exit 2) is not retried: counted, logged, and the loop stops', async () => {
    const h = harness({}, { fail: () => usageError('unsupported DNS layout') });
    await h.start();
    await h.clock.advance(60_000);
    expect(h.times()).toEqual([0]);
    expect(h.logs).toEqual(['fatal: unsupported DNS layout']);
    expect(h.loop.state.fatal?.message).toBe('unsupported DNS layout');
    expect(h.loop.state.metrics.errors).toBe(1);
    expect(h.ended()).toBe(true);
    expect(h.ioStopped()).toBe(true);
    expect(h.clock.pending).toBe(0);
  });
});

describe('leader election', () => {
  test('only the leader reconciles: losing the Lease stops reconciles, winning it back reconciles at once', async () => {
    const answers = [true, true, false, false, true];
    const h = harness({ resyncMs: 7000 }, { renew: async () => answers.shift() ?? true });
    expect(h.loop.state.metrics.leader).toBe(false);
    await h.start();
    expect(h.logs).toEqual(['became the leader (lease istio-system/acmg-controller)']);
    expect(h.times()).toEqual([0]);

    await h.clock.advance(5000); // renewed
    await h.clock.advance(5000); // lost
    expect(h.logs.at(-1)).toBe('lost the lease: standing by');
    expect(h.loop.state.metrics.leader).toBe(false);
    const reconciled = h.times();
    expect(reconciled).toEqual([0, 7000]); // the resync at 7s, while still the leader
    h.change();
    await h.clock.advance(4000); // a change and the resync at 14s: nothing while standing by
    expect(h.times()).toEqual(reconciled);
    expect(h.loop.state.ready).toBe(true); // a standby is ready to take over

    await h.clock.advance(1000); // 15s: still not the leader
    await h.clock.advance(5000); // 20s: the leader again
    expect(h.logs.at(-1)).toBe('became the leader (lease istio-system/acmg-controller)');
    expect(h.times()).toEqual([...reconciled, 20_000]);
  });

  test('a failed renewal steps down, is counted and logged', async () => {
    let fail = false;
    const h = harness({}, { renew: async () => (fail ? Promise.reject(new Error('etcd timeout')) : true) });
    await h.start();
    fail = true;
    await h.clock.advance(5000);
    expect(h.logs.slice(-2)).toEqual(['lease renewal failed: etcd timeout', 'lost the lease: standing by']);
    expect(h.loop.state.metrics).toMatchObject({ leader: false, errors: 1 });
    h.change();
    await h.clock.advance(4000);
    expect(h.times()).toEqual([0]);
  });

  test('without leader election it is the leader from the start', async () => {
    const h = harness();
    expect(h.loop.state.metrics.leader).toBe(true);
    await h.start();
    expect(h.times()).toEqual([0]);
    expect(h.logs).toEqual([]);
  });
});

describe('health', () => {
  test('unhealthy only once every API request has failed for unhealthyAfterMs; any success resets it', async () => {
    const h = harness({ unhealthyAfterMs: 120_000 });
    const health = () => live(h.loop.state, h.clock.now(), 120_000);
    const fail = () => h.loop.dispatch({ type: 'apiFailed', what: 'watch Service', error: new Error('connection refused'), retryMs: 1000 });
    fail();
    expect(h.logs).toEqual(['watch Service failed (retry in 1s): connection refused']);
    await h.clock.advance(60_000);
    fail(); // failing since the first
    await h.clock.advance(59_999);
    expect(health()).toBe(true);
    expect(failingSeconds(h.loop.state, h.clock.now())).toBe(120);
    await h.clock.advance(1);
    expect(health()).toBe(false);

    h.loop.dispatch({ type: 'apiSucceeded' });
    expect(health()).toBe(true);
    expect(failingSeconds(h.loop.state, h.clock.now())).toBe(0);
    // Failures with a success between them do not add up.
    fail();
    await h.clock.advance(100_000);
    h.loop.dispatch({ type: 'lease', leader: true });
    fail();
    await h.clock.advance(100_000);
    expect(health()).toBe(true);
    expect(h.loop.state.metrics.errors).toBe(4);
  });

  test('not ready until the first reconcile succeeds', async () => {
    const h = harness({}, { hold: true });
    await h.start();
    expect(h.loop.state.ready).toBe(false);
    h.calls[0]!.resolve(result({ dnsWrites: 1, add: [{ fqdn: 'a.shop.svc.cluster.local', ip: '10.0.0.1' }], warnings: ['not opening gateway port: x'] }));
    await h.clock.advance(0);
    expect(h.loop.state.ready).toBe(true);
    expect(h.loop.state.metrics).toMatchObject({ reconciles: 1, dnsWrites: 1 });
    expect(h.logs).toEqual(['warning: not opening gateway port: x', 'reconciled: +1 -0 DNS entries (1 write), gateway ports unchanged']);
  });
});

describe('the DNS check after a write', () => {
  /** A check that settles when told, and sees whether it was aborted. */
  const deferredCheck = () => {
    const c = { signal: undefined as AbortSignal | undefined, resolve: (_: DnsCheck) => {} };
    const run: DnsCheckRun = (signal) => ((c.signal = signal), new Promise<DnsCheck>((resolve) => (c.resolve = resolve)));
    return { c, run };
  };
  const unconfirmed: DnsCheck = { names: 1, repaired: true, unconfirmed: 1, writes: 1, warnings: ['DNS does not answer'] };

  test('runs beside the next reconciles, and a newer write aborts the older check', async () => {
    const h = harness({}, { hold: true });
    await h.start();
    const first = deferredCheck();
    h.calls[0]!.later(first.run);
    h.calls[0]!.resolve(result({ dnsWrites: 1 }));
    h.change();
    await h.clock.advance(500);
    expect(h.times()).toEqual([0, 500]); // the check does not hold the next reconcile up
    expect(first.c.signal!.aborted).toBe(false);

    const second = deferredCheck();
    h.calls[1]!.later(second.run);
    await h.clock.advance(0);
    expect(first.c.signal!.aborted).toBe(true);
    expect(second.c.signal!.aborted).toBe(false);

    // The aborted check's answer is not counted as unconfirmed; its repair's write is counted.
    first.c.resolve(unconfirmed);
    await h.clock.advance(0);
    expect(h.loop.state.metrics).toMatchObject({ dnsWrites: 2, dnsRepairs: 1, dnsUnconfirmed: 0 });
    second.c.resolve(unconfirmed);
    await h.clock.advance(0);
    expect(h.loop.state.metrics).toMatchObject({ dnsWrites: 3, dnsRepairs: 2, dnsUnconfirmed: 1 });
    expect(h.logs.filter((l) => l.startsWith('warning'))).toEqual(['warning: DNS does not answer', 'warning: DNS does not answer']);
  });

  test('a repaired write is logged; a failed check is counted', async () => {
    const h = harness({}, { hold: true });
    await h.start();
    h.calls[0]!.later(async () => ({ names: 2, repaired: true, unconfirmed: 0, writes: 1, warnings: [] }));
    await h.clock.advance(0);
    expect(h.logs).toEqual(["CoreDNS had not loaded the write; rewrote acmg's region, and DNS now answers it (2 names checked)"]);
    h.calls[0]!.later(async () => Promise.reject(new Error('port-forward closed')));
    await h.clock.advance(0);
    expect(h.logs.at(-1)).toBe('checking DNS after the write failed: port-forward closed');
    expect(h.loop.state.metrics).toMatchObject({ dnsRepairs: 1, dnsWrites: 1, errors: 1 });
  });
});

describe('stopping', () => {
  test('a stop ends the loop: no more reconciles, the check aborted, and it waits for the running reconcile', async () => {
    const h = harness({}, { hold: true });
    await h.start();
    const check = { signal: undefined as AbortSignal | undefined };
    h.calls[0]!.later((signal) => ((check.signal = signal), new Promise<DnsCheck>(() => {})));
    h.change();
    await h.clock.advance(0);
    h.loop.dispatch({ type: 'stop' });
    await h.clock.advance(0);
    expect(check.signal!.aborted).toBe(true);
    expect(h.ioStopped()).toBe(true);
    expect(h.ended()).toBe(false); // the reconcile still runs

    h.calls[0]!.resolve(result());
    await h.clock.advance(0);
    expect(h.ended()).toBe(false); // the aborted check has not ended yet
    await h.clock.advance(STOP_GRACE_MS - 1);
    expect(h.ended()).toBe(false);
    await h.clock.advance(1);
    expect(h.ended()).toBe(true);
    h.change();
    h.loop.dispatch({ type: 'resync' });
    expect(h.clock.pending).toBe(0); // nothing is scheduled after a stop, no timer left
    await h.clock.advance(60_000);
    expect(h.times()).toEqual([0]);
  });

  test('it waits for the running work, at most STOP_GRACE_MS', async () => {
    const h = harness({}, { hold: true });
    await h.start();
    h.loop.dispatch({ type: 'stop' });
    await h.clock.advance(0);
    h.calls[0]!.resolve(result());
    await h.clock.advance(0);
    expect(h.ended()).toBe(true); // at once when the work ends

    const stuck = harness({}, { hold: true });
    await stuck.start();
    stuck.loop.dispatch({ type: 'stop' });
    await stuck.clock.advance(STOP_GRACE_MS - 1);
    expect(stuck.ended()).toBe(false);
    await stuck.clock.advance(1);
    expect(stuck.ended()).toBe(true);
  });

  test('a fatal error from a watch stops it like a signal, and is kept for the exit code', async () => {
    const h = harness();
    await h.start();
    h.loop.dispatch({ type: 'fatal', error: usageError('the VirtualService CRD is not installed') });
    await h.clock.advance(0);
    expect(h.ended()).toBe(true);
    expect(h.loop.state).toMatchObject({ stopped: true, metrics: { errors: 1 } });
    expect(h.loop.state.fatal?.message).toBe('the VirtualService CRD is not installed');
    expect(h.logs).toEqual(['fatal: the VirtualService CRD is not installed']);
  });
});

test('step is pure: the previous state is unchanged, the effects say what to do', () => {
  const config: LoopConfig = { debounceMs: 500, maxDelayMs: 2000, resyncMs: 300_000, unhealthyAfterMs: 120_000, leaderElect: false };
  const s0 = { ...initialState(config), synced: true };
  const frozen = JSON.stringify(s0);
  const a = step(s0, { type: 'changed' }, 10_000, config);
  expect(a.effects).toEqual([{ type: 'arm', inMs: 500 }]);
  const b = step(a.state, { type: 'changed' }, 11_700, config);
  expect(b.effects).toEqual([{ type: 'arm', inMs: 300 }]); // the burst is due 2000ms after its first change
  const c = step(b.state, { type: 'due' }, 12_000, config);
  expect(c.effects).toEqual([{ type: 'reconcile' }]);
  expect(c.state).toMatchObject({ burst: undefined, reconcilingSince: 12_000 });
  const d = step(c.state, { type: 'apiFailed', what: 'watch Gateway', error: new Error('x') }, 12_100, config);
  expect(d.state.metrics.errors).toBe(1);
  expect(JSON.stringify(s0)).toBe(frozen);
  expect(c.state.metrics.errors).toBe(0);
});
