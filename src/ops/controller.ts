// acmg sync --watch: the reconcile of `acmg sync` as a controller. Watches only tell it *that*
// something changed; each reconcile reads the whole current state (level-triggered), so a restart
// or a missed event can never leave DNS wrong. Bursts are debounced into one reconcile and write.
import http from 'node:http';
import { AcmgError, ExitCode } from '../errors.js';
import type { Kube } from '../kube/client.js';
import { loadInstall } from './migrate.js';
import { tryAcquireOrRenew } from './leader.js';
import { reconcile } from './sync.js';

export interface ControllerOptions {
  resyncMs: number;
  debounceMs: number;
  /** A burst is written at the latest this long after its first event. */
  maxDelayMs: number;
  healthPort: number;
  leaderElect: boolean;
  identity: string;
  force?: boolean;
  log: (msg: string) => void;
  signal: AbortSignal;
}

export interface ControllerMetrics {
  reconciles: number;
  dnsWrites: number;
  errors: number;
  leader: boolean;
  lastSuccess?: string;
}

export async function runController(kube: Kube, o: ControllerOptions): Promise<void> {
  const metrics: ControllerMetrics = { reconciles: 0, dnsWrites: 0, errors: 0, leader: !o.leaderElect };
  let ready = false;
  let fatal: AcmgError | undefined;

  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') return void res.writeHead(200).end('ok\n');
    if (req.url === '/readyz') return void res.writeHead(ready ? 200 : 503).end(ready ? 'ok\n' : 'not ready\n');
    if (req.url === '/metrics') {
      return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end(
        [`acmg_sync_reconciles_total ${metrics.reconciles}`, `acmg_sync_dns_writes_total ${metrics.dnsWrites}`, `acmg_sync_errors_total ${metrics.errors}`, `acmg_sync_leader ${metrics.leader ? 1 : 0}`, ''].join('\n'),
      );
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(o.healthPort, '0.0.0.0', resolve));
  o.log(`serving /healthz, /readyz and /metrics on :${(server.address() as { port: number }).port}`);

  const install = await loadInstall(kube);
  const ns = install.values.namespace;

  // --- debounced, serialized reconcile ---
  let timer: NodeJS.Timeout | undefined;
  let firstEventAt = 0;
  let running = false;
  let again = false;
  let backoffMs = 0;
  const run = async () => {
    timer = undefined;
    firstEventAt = 0;
    if (!metrics.leader) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const r = await reconcile(kube, { force: o.force });
      metrics.reconciles++;
      metrics.dnsWrites += r.dnsWrites;
      metrics.lastSuccess = new Date().toISOString();
      backoffMs = 0;
      ready = true;
      for (const w of r.warnings) o.log(`warning: ${w}`);
      if (r.dnsWrites || r.portsChanged) o.log(`reconciled: +${r.add.length} -${r.remove.length} DNS entries (${r.dnsWrites} write), gateway ports ${r.portsChanged ? 'updated' : 'unchanged'}`);
    } catch (e) {
      metrics.errors++;
      if (e instanceof AcmgError && e.code === ExitCode.Usage) {
        fatal = e;
        o.log(`fatal: ${e.message}`);
      } else {
        backoffMs = Math.min(30_000, backoffMs ? backoffMs * 2 : 1000);
        o.log(`reconcile failed (retry in ${backoffMs / 1000}s): ${(e as Error).message}`);
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

  // --- watches: each only triggers a reconcile; re-listed when they end ---
  const watchLoop = async (apiVersion: string, kind: string, namespace?: string) => {
    let delay = 1000;
    while (!o.signal.aborted) {
      try {
        const list = await kube.list(apiVersion, kind, { namespace });
        schedule();
        await kube.watch(apiVersion, kind, { namespace, resourceVersion: list.resourceVersion, signal: o.signal, timeoutSeconds: 300 }, () => {
          schedule();
          return false;
        });
        delay = 1000;
      } catch (e) {
        if (o.signal.aborted) return;
        o.log(`watch ${kind} failed (retry in ${delay / 1000}s): ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(30_000, delay * 2);
      }
    }
  };
  const watches = [
    watchLoop('networking.istio.io/v1', 'VirtualService'),
    watchLoop('networking.istio.io/v1', 'Gateway', ns),
    watchLoop('v1', 'Service'),
    watchLoop('v1', 'ConfigMap', install.values.dns.namespace),
    watchLoop('v1', 'ConfigMap', ns),
  ];

  // --- leader election and periodic resync ---
  const lease = { namespace: ns, name: install.values.controller.name, identity: o.identity, durationSeconds: 15 };
  const tick = async () => {
    if (o.leaderElect) {
      const was = metrics.leader;
      try {
        metrics.leader = await tryAcquireOrRenew(kube, lease);
      } catch (e) {
        metrics.leader = false;
        o.log(`lease renewal failed: ${(e as Error).message}`);
      }
      if (metrics.leader && !was) {
        o.log(`became the leader (lease ${ns}/${lease.name})`);
        schedule(0);
      }
      if (!metrics.leader && was) o.log('lost the lease: standing by');
      if (!metrics.leader) ready = true; // a standby replica is healthy and ready to take over
    }
  };
  await tick();
  const leaseTimer = o.leaderElect ? setInterval(tick, 5000) : undefined;
  const resyncTimer = setInterval(() => schedule(0), o.resyncMs);
  schedule(0);

  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (o.signal.aborted || fatal) {
        clearInterval(check);
        resolve();
      }
    }, 200);
  });
  clearInterval(resyncTimer);
  if (leaseTimer) clearInterval(leaseTimer);
  if (timer) clearTimeout(timer);
  server.close();
  await Promise.race([Promise.allSettled(watches), new Promise((r) => setTimeout(r, 1000))]);
  if (fatal) throw fatal;
}
