// The sync --watch controller's loop as a state machine. `step` is pure: the state, an event and the
// time in; the new state and the effects out (arm or disarm the one debounce timer, reconcile, start
// or abort a DNS check, log, stop). `ControlLoop` is the thin shell around it: it performs the effects
// with a clock (timers, the resync and lease intervals) and the controller's I/O, and turns their
// outcomes back into events. The state record is all that /healthz, /readyz and /metrics report.
//
// What the machine decides:
// - a burst of changes is debounced into one reconcile, written at the latest maxDelayMs after its
//   first event; a resync, a new leader and a retry schedule one at once (or after their delay);
// - one reconcile at a time: a burst that falls due while one runs runs (debounced) after it;
// - a failed reconcile is retried with backoff (nextBackoff: 1s doubling to 30s), a misconfiguration
//   (exit 2) stops the controller;
// - only the leader reconciles; a standby replica is ready;
// - liveness: every API request failing for unhealthyAfterMs (any success resets it);
// - the DNS check after a write runs beside the next reconciles, and a newer write's check replaces
//   (aborts) the older one;
// - stop (a signal, or a fatal error): no more reconciles; the shell waits a bounded time for the
//   running reconcile, the DNS check and the watches.
import { AcmgError, ExitCode } from '../errors.js';
import { nextBackoff } from '../kube/informer.js';
import type { DnsCheck, SyncResult } from './sync.js';

/** A controller's reconcile: sync's, then (controller.declarative.enabled) the declarative pass's log lines. */
export type ReconcileResult = SyncResult & { declarative?: string[] };

/** How often a replica with leader election tries to take or renew the Lease. */
export const LEASE_RENEW_MS = 5000;
/** How long a stop waits for the running reconcile, the DNS check and the watches. */
export const STOP_GRACE_MS = 1000;

export interface LoopConfig {
  debounceMs: number;
  /** A burst is reconciled at the latest this long after its first event. */
  maxDelayMs: number;
  resyncMs: number;
  /** Liveness fails once every API request has failed for this long. */
  unhealthyAfterMs: number;
  leaderElect: boolean;
}

export interface ControllerMetrics {
  reconciles: number;
  dnsWrites: number;
  /** Writes CoreDNS missed (it reloaded without them) that a rewrite repaired. */
  dnsRepairs: number;
  /** Writes DNS did not answer within the check's time, even after the repair. */
  dnsUnconfirmed: number;
  errors: number;
  /** Full lists by the informers (one each at start; more only after a 410). */
  informerLists: number;
  /** How long the last reconcile took. */
  lastReconcileMs: number;
  leader: boolean;
  lastSuccess?: string;
}

/** The DNS check a reconcile hands over after its write (`ConfirmOptions.later`). */
export type DnsCheckRun = (signal?: AbortSignal) => Promise<DnsCheck>;

export interface LoopState {
  readonly metrics: ControllerMetrics;
  /** A reconcile is due (the timer is armed): when the burst's first event came, and when it runs. */
  readonly burst?: { firstAt: number; dueAt: number };
  /** After a failed reconcile: no reconcile before this (the backoff holds against maxDelay and new changes). */
  readonly notBefore?: number;
  /** When the running reconcile started (one runs at a time). */
  readonly reconcilingSince?: number;
  /** A burst fell due while a reconcile ran: it runs, debounced, after that one. */
  readonly again: boolean;
  /** The delay of the last retry of a failed reconcile (0 after a success). */
  readonly backoffMs: number;
  /** Since when every API request has failed, while they do. */
  readonly failingSince?: number;
  /** After the first reconcile, or as a standby replica. */
  readonly ready: boolean;
  /** Both caches (VirtualServices, Services) have listed: before, a reconcile would see nothing. */
  readonly synced: boolean;
  /** The id of the DNS check running beside the reconciles, and how many were started. */
  readonly check?: number;
  readonly checks: number;
  /** The Lease, "namespace/name", with leader election. */
  readonly lease?: string;
  /** The misconfiguration that stopped the controller (exit 2). */
  readonly fatal?: AcmgError;
  readonly stopped: boolean;
}

export type LoopEvent =
  /** The install record is read: the loop starts (with leader election, on this Lease). */
  | { type: 'start'; lease?: string }
  /** A watch saw a change, or an informer listed. */
  | { type: 'changed' }
  /** The caches the reconcile reads have listed. */
  | { type: 'synced' }
  | { type: 'resync' }
  /** The timer armed by the last `arm` effect fired. */
  | { type: 'due' }
  | { type: 'reconciled'; result: ReconcileResult }
  | { type: 'reconcileFailed'; error: unknown }
  /** The running reconcile wrote DNS and hands over the check of its write. */
  | { type: 'checkHandedOff'; run: DnsCheckRun }
  | { type: 'checked'; id: number; result: DnsCheck }
  | { type: 'checkFailed'; id: number; error: unknown }
  /** One attempt to take or renew the Lease. */
  | { type: 'lease'; leader: boolean }
  | { type: 'leaseFailed'; error: unknown }
  /** Any other API request (install record, lists, watches) succeeded or failed. */
  | { type: 'apiSucceeded' }
  | { type: 'apiFailed'; what: string; error: unknown; retryMs?: number }
  | { type: 'informerListed' }
  /** A misconfiguration no retry can fix. */
  | { type: 'fatal'; error: AcmgError }
  | { type: 'stop' };

export type Effect =
  /** (Re)arm the one timer: `due` in this many ms. */
  | { type: 'arm'; inMs: number }
  | { type: 'disarm' }
  | { type: 'reconcile' }
  | { type: 'startCheck'; id: number; run: DnsCheckRun }
  | { type: 'abortCheck'; id: number }
  | { type: 'log'; message: string }
  /** The loop is over: stop the intervals, then wait (bounded) for the work still running. */
  | { type: 'stop' };

export function initialState(config: Pick<LoopConfig, 'leaderElect'>): LoopState {
  return {
    metrics: { reconciles: 0, dnsWrites: 0, dnsRepairs: 0, dnsUnconfirmed: 0, errors: 0, informerLists: 0, lastReconcileMs: 0, leader: !config.leaderElect },
    again: false,
    backoffMs: 0,
    ready: false,
    synced: false,
    checks: 0,
    stopped: false,
  };
}

/** Liveness: false once every API request has failed for unhealthyAfterMs. */
export function live(s: LoopState, now: number, unhealthyAfterMs: number): boolean {
  return s.failingSince === undefined || now - s.failingSince < unhealthyAfterMs;
}

/** How long every API request has failed, in whole seconds (0 while they succeed). */
export function failingSeconds(s: LoopState, now: number): number {
  return s.failingSince === undefined ? 0 : Math.round((now - s.failingSince) / 1000);
}

const isUsage = (e: unknown): e is AcmgError => e instanceof AcmgError && e.code === ExitCode.Usage;

/** The transition: pure (the previous state is not changed). */
export function step(prev: LoopState, ev: LoopEvent, now: number, config: LoopConfig): { state: LoopState; effects: Effect[] } {
  const s: { -readonly [K in keyof LoopState]: LoopState[K] } = { ...prev, metrics: { ...prev.metrics } };
  const m = s.metrics;
  const effects: Effect[] = [];
  const log = (message: string) => effects.push({ type: 'log', message });

  const schedule = (delayMs: number) => {
    if (s.stopped) return;
    const firstAt = s.burst?.firstAt ?? now;
    const dueAt = Math.max(Math.min(now + delayMs, firstAt + config.maxDelayMs), s.notBefore ?? 0);
    s.burst = { firstAt, dueAt };
    effects.push({ type: 'arm', inMs: Math.max(0, dueAt - now) });
  };
  const succeeded = () => (s.failingSince = undefined);
  const failed = (what: string, e: unknown, retryMs?: number) => {
    m.errors++;
    s.failingSince ??= now;
    log(`${what} failed${retryMs ? ` (retry in ${retryMs / 1000}s)` : ''}: ${(e as Error).message}`);
  };
  const stop = () => {
    if (s.stopped) return;
    s.stopped = true;
    s.burst = undefined;
    effects.push({ type: 'disarm' });
    if (s.check !== undefined) effects.push({ type: 'abortCheck', id: s.check });
    s.check = undefined;
    effects.push({ type: 'stop' });
  };
  // Counted, logged, and the controller stops.
  const stopFatally = (e: AcmgError) => {
    m.errors++;
    s.fatal = e;
    log(`fatal: ${e.message}`);
    stop();
  };
  const reconcileEnded = () => {
    s.reconcilingSince = undefined;
    if (s.again) {
      s.again = false;
      schedule(config.debounceMs);
    }
  };
  const leaseOutcome = (was: boolean) => {
    if (m.leader && !was) {
      log(`became the leader (lease ${s.lease})`);
      schedule(0);
    }
    if (!m.leader && was) log('lost the lease: standing by');
    if (!m.leader) s.ready = true; // a standby replica is healthy and ready to take over
  };

  switch (ev.type) {
    case 'start':
      s.lease = ev.lease;
      break;
    case 'changed':
      schedule(config.debounceMs);
      break;
    case 'synced':
      s.synced = true;
      break;
    case 'resync':
      schedule(0);
      break;
    case 'due':
      if (!s.burst || s.stopped) break;
      s.burst = undefined;
      if (!m.leader || !s.synced) break; // a new leader and the caches' first lists schedule one
      if (s.reconcilingSince !== undefined) s.again = true;
      else {
        s.reconcilingSince = now;
        effects.push({ type: 'reconcile' });
      }
      break;
    case 'reconciled': {
      const r = ev.result;
      m.reconciles++;
      m.lastReconcileMs = now - (s.reconcilingSince ?? now);
      m.dnsWrites += r.dnsWrites;
      m.lastSuccess = new Date(now).toISOString();
      s.backoffMs = 0;
      s.notBefore = undefined;
      succeeded();
      s.ready = true;
      for (const w of r.warnings) log(`warning: ${w}`);
      for (const x of r.routes) log(`${x} (following the user's routing)`);
      for (const x of r.declarative ?? []) log(x);
      if (r.dnsWrites || r.portsChanged)
        log(`reconciled: +${r.add.length} -${r.remove.length} DNS entries (${r.dnsWrites} write), gateway ports ${r.portsChanged ? 'updated' : 'unchanged'}`);
      reconcileEnded();
      break;
    }
    case 'reconcileFailed':
      if (isUsage(ev.error)) stopFatally(ev.error);
      else {
        s.backoffMs = nextBackoff(s.backoffMs);
        failed('reconcile', ev.error, s.backoffMs);
        s.notBefore = now + s.backoffMs;
        schedule(s.backoffMs);
      }
      reconcileEnded();
      break;
    case 'checkHandedOff':
      if (s.stopped) break;
      if (s.check !== undefined) effects.push({ type: 'abortCheck', id: s.check });
      s.check = ++s.checks;
      effects.push({ type: 'startCheck', id: s.check, run: ev.run });
      break;
    case 'checked': {
      const c = ev.result;
      const aborted = s.check !== ev.id; // replaced by a newer write's check, or stopped
      if (!aborted) s.check = undefined;
      m.dnsWrites += c.writes;
      if (c.repaired) m.dnsRepairs++;
      if (c.repaired && !c.unconfirmed)
        log(`CoreDNS had not loaded the write; rewrote acmg's region, and DNS now answers it (${c.names} name${c.names === 1 ? '' : 's'} checked)`);
      if (c.unconfirmed && !aborted) m.dnsUnconfirmed++;
      for (const w of c.warnings) log(`warning: ${w}`);
      break;
    }
    case 'checkFailed':
      if (s.check === ev.id) s.check = undefined;
      failed('checking DNS after the write', ev.error);
      break;
    case 'lease': {
      const was = m.leader;
      m.leader = ev.leader;
      succeeded();
      leaseOutcome(was);
      break;
    }
    case 'leaseFailed': {
      const was = m.leader;
      m.leader = false;
      failed('lease renewal', ev.error);
      leaseOutcome(was);
      break;
    }
    case 'apiSucceeded':
      succeeded();
      break;
    case 'apiFailed':
      failed(ev.what, ev.error, ev.retryMs);
      break;
    case 'informerListed':
      m.informerLists++;
      break;
    case 'fatal':
      stopFatally(ev.error);
      break;
    case 'stop':
      stop();
      break;
  }
  return { state: s, effects };
}

/** Timers, so that tests can drive the loop with a fake clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

/** What the loop does to the world. */
export interface LoopIO {
  /** One reconcile; `later` takes the DNS check after its write, run beside the next reconciles. */
  reconcile(later: (run: DnsCheckRun) => void): Promise<ReconcileResult>;
  /** With leader election: the Lease ("namespace/name") and one attempt to take or renew it. */
  lease?: { name: string; renew(): Promise<boolean> };
  /** Work that ends with the loop (the informers' watches): told to stop, then waited for like the loop's own. */
  stop?(): void;
  work?: Promise<unknown>[];
}

/** The shell: holds the state, performs the effects, feeds outcomes back as events (one at a time). */
export class ControlLoop {
  private current: LoopState;
  private readonly queue: LoopEvent[] = [];
  private draining = false;
  private io?: LoopIO;
  private timer: unknown;
  private reconciling?: Promise<void>;
  private readonly checks = new Map<number, { abort: AbortController; done: Promise<void> }>();
  private readonly stopped: Promise<void>;
  private markStopped!: () => void;

  constructor(
    readonly config: LoopConfig,
    private readonly log: (msg: string) => void,
    readonly clock: Clock = realClock,
  ) {
    this.current = initialState(config);
    this.stopped = new Promise((resolve) => (this.markStopped = resolve));
  }

  get state(): LoopState {
    return this.current;
  }

  dispatch(ev: LoopEvent): void {
    this.queue.push(ev);
    if (this.draining) return; // an effect dispatched: handled after the effects of the event before it
    this.draining = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        const { state, effects } = step(this.current, next, this.clock.now(), this.config);
        this.current = state;
        for (const fx of effects) this.perform(fx);
      }
    } finally {
      this.draining = false;
    }
  }

  /** Runs until a stop or a fatal error; then waits at most STOP_GRACE_MS for the work still running. */
  async run(io: LoopIO): Promise<void> {
    this.io = io;
    this.dispatch({ type: 'start', lease: io.lease?.name });
    const lease = io.lease;
    const tick = async () => {
      if (!lease) return;
      try {
        const leader = await lease.renew();
        this.dispatch({ type: 'lease', leader });
      } catch (error) {
        this.dispatch({ type: 'leaseFailed', error });
      }
    };
    let intervals: unknown[] = [];
    if (!this.current.stopped) {
      await tick();
      intervals = [
        ...(lease ? [this.clock.setInterval(() => void tick(), LEASE_RENEW_MS)] : []),
        this.clock.setInterval(() => this.dispatch({ type: 'resync' }), this.config.resyncMs),
      ];
      this.dispatch({ type: 'resync' });
    }
    await this.stopped;
    for (const i of intervals) this.clock.clearInterval(i);
    this.disarm();
    io.stop?.();
    // A check stops at its next poll; a repair under way (a CoreDNS restart) is not waited for.
    const work = [this.reconciling, ...[...this.checks.values()].map((c) => c.done), ...(io.work ?? [])];
    let grace: unknown;
    await Promise.race([Promise.allSettled(work), new Promise<void>((resolve) => (grace = this.clock.setTimeout(resolve, STOP_GRACE_MS)))]);
    this.clock.clearTimeout(grace);
  }

  private perform(fx: Effect): void {
    switch (fx.type) {
      case 'log':
        return this.log(fx.message);
      case 'arm':
        this.disarm();
        this.timer = this.clock.setTimeout(() => {
          this.timer = undefined;
          this.dispatch({ type: 'due' });
        }, fx.inMs);
        return;
      case 'disarm':
        return this.disarm();
      case 'reconcile': {
        const io = this.io!;
        const later = (run: DnsCheckRun) => this.dispatch({ type: 'checkHandedOff', run });
        this.reconciling = new Promise<ReconcileResult>((resolve) => resolve(io.reconcile(later))).then(
          (result) => {
            this.reconciling = undefined;
            this.dispatch({ type: 'reconciled', result });
          },
          (error: unknown) => {
            this.reconciling = undefined;
            this.dispatch({ type: 'reconcileFailed', error });
          },
        );
        return;
      }
      case 'startCheck': {
        const { id, run } = fx;
        const abort = new AbortController();
        const done = new Promise<DnsCheck>((resolve) => resolve(run(abort.signal))).then(
          (result) => {
            this.checks.delete(id);
            this.dispatch({ type: 'checked', id, result });
          },
          (error: unknown) => {
            this.checks.delete(id);
            this.dispatch({ type: 'checkFailed', id, error });
          },
        );
        this.checks.set(id, { abort, done });
        return;
      }
      case 'abortCheck':
        return this.checks.get(fx.id)?.abort.abort();
      case 'stop':
        return this.markStopped();
    }
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
