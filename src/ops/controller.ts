// acmg sync --watch: the reconcile of `acmg sync` as a controller. Informers keep VirtualServices
// and Services in a small projected cache (listed in pages once, then watched), so a reconcile reads
// memory, not the API server; each reconcile still computes from the whole current state
// (level-triggered), so a restart or a missed event can never leave DNS wrong. The Gateway and the
// ConfigMaps (DNS, acmg's state) are watched only as triggers: the reconcile reads them itself.
// Bursts are debounced into one reconcile and write.
import http from 'node:http';
import { AcmgError, ExitCode } from '../errors.js';
import type { KubeApi } from '../kube/api.js';
import { abortableSleep, Informer, nextBackoff } from '../kube/informer.js';
import type { KObject } from '../model/object.js';
import { projectService, projectVirtualService } from '../plan/sync.js';
import { loadInstall } from './install-record.js';
import { tryAcquireOrRenew } from './leader.js';
import { reconcile, VIRTUAL_SERVICE, vsCrdMissing, type ConfirmOptions, type DnsCheck } from './sync.js';

export interface ControllerOptions {
  resyncMs: number;
  debounceMs: number;
  /** A burst is written at the latest this long after its first event. */
  maxDelayMs: number;
  healthPort: number;
  leaderElect: boolean;
  identity: string;
  force?: boolean;
  /** Ask DNS after each write on coredns-custom layouts, and repair a write CoreDNS missed. */
  confirm?: Omit<ConfirmOptions, 'later'>;
  /** /healthz fails once every attempt to reach the API server has failed for this long. */
  unhealthyAfterMs: number;
  log: (msg: string) => void;
  signal: AbortSignal;
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

export async function runController(kube: KubeApi, o: ControllerOptions): Promise<void> {
  const metrics: ControllerMetrics = {
    reconciles: 0,
    dnsWrites: 0,
    dnsRepairs: 0,
    dnsUnconfirmed: 0,
    errors: 0,
    informerLists: 0,
    lastReconcileMs: 0,
    leader: !o.leaderElect,
  };
  let ready = false;
  let fatal: AcmgError | undefined;
  // Liveness: how long the API server has been unreachable (every attempt failing), if it is.
  let failingSince: number | undefined;
  const succeeded = () => (failingSince = undefined);
  const failed = (what: string, e: unknown, retryMs?: number) => {
    metrics.errors++;
    failingSince ??= Date.now();
    o.log(`${what} failed${retryMs ? ` (retry in ${retryMs / 1000}s)` : ''}: ${(e as Error).message}`);
  };
  const live = () => failingSince === undefined || Date.now() - failingSince < o.unhealthyAfterMs;

  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      if (live()) return void res.writeHead(200).end('ok\n');
      return void res.writeHead(503).end(`unhealthy: every API request has failed for ${Math.round((Date.now() - failingSince!) / 1000)}s\n`);
    }
    if (req.url === '/readyz') return void res.writeHead(ready ? 200 : 503).end(ready ? 'ok\n' : 'not ready\n');
    if (req.url === '/metrics') {
      return void res
        .writeHead(200, { 'Content-Type': 'text/plain' })
        .end(
          [
            `acmg_sync_reconciles_total ${metrics.reconciles}`,
            `acmg_sync_dns_writes_total ${metrics.dnsWrites}`,
            `acmg_sync_dns_repairs_total ${metrics.dnsRepairs}`,
            `acmg_sync_dns_unconfirmed_total ${metrics.dnsUnconfirmed}`,
            `acmg_sync_errors_total ${metrics.errors}`,
            `acmg_sync_informer_lists_total ${metrics.informerLists}`,
            `acmg_sync_last_reconcile_seconds ${(metrics.lastReconcileMs / 1000).toFixed(3)}`,
            `acmg_sync_leader ${metrics.leader ? 1 : 0}`,
            `acmg_sync_api_failing_seconds ${failingSince ? Math.round((Date.now() - failingSince) / 1000) : 0}`,
            `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
            `nodejs_heap_used_bytes ${process.memoryUsage().heapUsed}`,
            '',
          ].join('\n'),
        );
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(o.healthPort, '0.0.0.0', resolve));
  o.log(`serving /healthz, /readyz and /metrics on :${(server.address() as { port: number }).port}`);
  try {
    await controlLoop(kube, o, { metrics, succeeded, failed, setReady: () => (ready = true), setFatal: (e) => (fatal = e), fatal: () => fatal });
  } finally {
    server.close();
    server.closeAllConnections();
    kube.close();
  }
  if (fatal) throw fatal;
}

interface LoopHooks {
  metrics: ControllerMetrics;
  succeeded: () => void;
  failed: (what: string, e: unknown, retryMs?: number) => void;
  setReady: () => void;
  setFatal: (e: AcmgError) => void;
  fatal: () => AcmgError | undefined;
}

async function controlLoop(kube: KubeApi, o: ControllerOptions, h: LoopHooks): Promise<void> {
  const { metrics } = h;
  // The install record names the namespaces to watch; an unreachable API server is retried.
  let install: Awaited<ReturnType<typeof loadInstall>> | undefined;
  for (let delay = 0; !install && !o.signal.aborted;) {
    try {
      install = await loadInstall(kube);
      h.succeeded();
    } catch (e) {
      if (e instanceof AcmgError && e.code === ExitCode.Usage) throw e; // not installed: nothing to control
      delay = nextBackoff(delay);
      h.failed("reading acmg's install record", e, delay);
      await abortableSleep(delay, o.signal);
    }
  }
  if (!install) return;
  const ns = install.values.namespace;

  // --- debounced, serialized reconcile ---
  let timer: NodeJS.Timeout | undefined;
  let firstEventAt = 0;
  let running = false;
  let again = false;
  let backoffMs = 0;
  // A misconfiguration no retry can fix (exit 2): counted, logged, and the controller stops.
  const stopFatally = (e: AcmgError) => {
    metrics.errors++;
    h.setFatal(e);
    o.log(`fatal: ${e.message}`);
  };
  // --- the check after a write: beside the next reconciles, so it never delays them; a newer write's
  // check replaces it (the rewrite that repairs a missed write keeps whatever entries are current) ---
  let checking: { abort: AbortController; done: Promise<void> } | undefined;
  const startCheck = (check: (signal?: AbortSignal) => Promise<DnsCheck>) => {
    checking?.abort.abort();
    const abort = new AbortController();
    const done = check(abort.signal).then(
      (c) => {
        metrics.dnsWrites += c.writes;
        if (c.repaired) metrics.dnsRepairs++;
        if (c.repaired && !c.unconfirmed)
          o.log(`CoreDNS had not loaded the write; rewrote acmg's region, and DNS now answers it (${c.names} name${c.names === 1 ? '' : 's'} checked)`);
        if (c.unconfirmed && !abort.signal.aborted) metrics.dnsUnconfirmed++;
        for (const w of c.warnings) o.log(`warning: ${w}`);
      },
      (e) => h.failed('checking DNS after the write', e),
    );
    checking = { abort, done };
  };
  const confirm = o.confirm && { ...o.confirm, later: startCheck };

  const run = async () => {
    timer = undefined;
    firstEventAt = 0;
    if (!metrics.leader) return;
    if (!virtualServices.synced || !services.synced) return; // their first lists schedule a run
    if (running) {
      again = true;
      return;
    }
    running = true;
    const started = Date.now();
    try {
      const r = await reconcile(kube, { force: o.force, confirm, view: { virtualServices: virtualServices.cache.values(), services: services.cache } });
      metrics.reconciles++;
      metrics.lastReconcileMs = Date.now() - started;
      metrics.dnsWrites += r.dnsWrites;
      metrics.lastSuccess = new Date().toISOString();
      backoffMs = 0;
      h.succeeded();
      h.setReady();
      for (const w of r.warnings) o.log(`warning: ${w}`);
      if (r.dnsWrites || r.portsChanged)
        o.log(`reconciled: +${r.add.length} -${r.remove.length} DNS entries (${r.dnsWrites} write), gateway ports ${r.portsChanged ? 'updated' : 'unchanged'}`);
    } catch (e) {
      if (e instanceof AcmgError && e.code === ExitCode.Usage) stopFatally(e);
      else {
        backoffMs = nextBackoff(backoffMs);
        h.failed('reconcile', e, backoffMs);
        schedule(backoffMs);
      }
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule(o.debounceMs);
      }
    }
  };
  const schedule = (delay = o.debounceMs) => {
    const now = Date.now();
    if (!firstEventAt) firstEventAt = now;
    const latest = firstEventAt + o.maxDelayMs;
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, Math.max(0, Math.min(now + delay, latest) - now));
  };

  // --- informers: VirtualServices and Services cached; the rest only trigger a reconcile ---
  // They stop with the controller, whether a signal or a fatal error ends it.
  const stop = new AbortController();
  o.signal.addEventListener('abort', () => stop.abort(), { once: true });
  const informer = <T>(apiVersion: string, kind: string, project: (obj: KObject) => T, namespace?: string) =>
    new Informer(kube, {
      apiVersion,
      kind,
      namespace,
      project,
      signal: stop.signal,
      onChange: () => schedule(),
      onSuccess: h.succeeded,
      onList: () => metrics.informerLists++,
      onError: (e, retryMs) => {
        const fatal = kind === VIRTUAL_SERVICE.kind ? vsCrdMissing(e) : undefined;
        if (fatal) stopFatally(fatal);
        else h.failed(`watch ${kind}`, e, retryMs);
      },
    });
  const trigger = () => true;
  const virtualServices = informer(VIRTUAL_SERVICE.apiVersion, VIRTUAL_SERVICE.kind, projectVirtualService);
  const services = informer('v1', 'Service', projectService);
  const informers = [
    virtualServices,
    services,
    informer('networking.istio.io/v1', 'Gateway', trigger, ns),
    informer('v1', 'ConfigMap', trigger, install.values.dns.namespace),
    informer('v1', 'ConfigMap', trigger, ns),
  ];
  const watches = informers.map((i) => i.run());

  // --- leader election and periodic resync ---
  const lease = { namespace: ns, name: install.values.controller.name, identity: o.identity, durationSeconds: 15 };
  const tick = async () => {
    if (o.leaderElect) {
      const was = metrics.leader;
      try {
        metrics.leader = await tryAcquireOrRenew(kube, lease);
        h.succeeded();
      } catch (e) {
        metrics.leader = false;
        h.failed('lease renewal', e);
      }
      if (metrics.leader && !was) {
        o.log(`became the leader (lease ${ns}/${lease.name})`);
        schedule(0);
      }
      if (!metrics.leader && was) o.log('lost the lease: standing by');
      if (!metrics.leader) h.setReady(); // a standby replica is healthy and ready to take over
    }
  };
  await tick();
  const leaseTimer = o.leaderElect ? setInterval(tick, 5000) : undefined;
  const resyncTimer = setInterval(() => schedule(0), o.resyncMs);
  schedule(0);

  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (o.signal.aborted || h.fatal()) {
        clearInterval(check);
        resolve();
      }
    }, 200);
  });
  clearInterval(resyncTimer);
  if (leaseTimer) clearInterval(leaseTimer);
  if (timer) clearTimeout(timer);
  stop.abort();
  checking?.abort.abort();
  // A check stops at its next poll; a repair under way (a CoreDNS restart) is not waited for.
  await Promise.race([Promise.allSettled([...watches, checking?.done]), abortableSleep(1000, new AbortController().signal)]);
}
