// acmg sync --watch: the reconcile of `acmg sync` as a controller. Informers keep VirtualServices,
// DestinationRules and Services in a small projected cache (listed in pages once, then watched), so a reconcile reads
// memory, not the API server; each reconcile still computes from the whole current state
// (level-triggered), so a restart or a missed event can never leave DNS wrong. The Gateway and the
// ConfigMaps (DNS, acmg's state) are watched only as triggers: the reconcile reads them itself.
// When to reconcile (debounce, resync, leadership, backoff, health, the DNS check, stopping) is the
// state machine in control-loop.ts; this file is its I/O: the health server, the install record,
// the informers, the Lease and the reconcile. With controller.declarative.enabled each reconcile
// is followed by the declarative pass (declarative.ts: marked Services migrated, unmarked rolled back).
import http from 'node:http';
import { AcmgError, ExitCode } from '../errors.js';
import { servedVersion, type KubeApi } from '../kube/api.js';
import { abortableSleep, Informer, nextBackoff } from '../kube/informer.js';
import type { KObject } from '../model/object.js';
import { projectRoutingObject } from '../plan/route-follow.js';
import { projectService, projectVirtualService } from '../plan/sync.js';
import { projectNamespace, withMark } from '../plan/declarative.js';
import { declarativeEnabled } from '../render/controller.js';
import { declarativePass } from './declarative.js';
import { ControlLoop, failingSeconds, live } from './control-loop.js';
import { loadInstall } from './install-record.js';
import { METRICS_CONTENT_TYPE, metricsText } from './metrics-text.js';
import { tryAcquireOrRenew } from './leader.js';
import { DESTINATION_RULE, reconcile, VIRTUAL_SERVICE, vsCrdMissing, type ConfirmOptions } from './sync.js';
import { routesRead } from './route-lists.js';
import { GATEWAY_API_VERSION, ROUTE_READ_VERSIONS, routingApiOf, type RouteKind } from '../render/gateway-api.js';

export type { ControllerMetrics } from './control-loop.js';

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

export async function runController(kube: KubeApi, o: ControllerOptions): Promise<void> {
  const loop = new ControlLoop(
    { debounceMs: o.debounceMs, maxDelayMs: o.maxDelayMs, resyncMs: o.resyncMs, unhealthyAfterMs: o.unhealthyAfterMs, leaderElect: o.leaderElect },
    o.log,
  );
  const server = http.createServer((req, res) => {
    const { state: s, clock } = loop;
    const metrics = s.metrics;
    const now = clock.now();
    if (req.url === '/healthz') {
      if (live(s, now, o.unhealthyAfterMs)) return void res.writeHead(200).end('ok\n');
      return void res.writeHead(503).end(`unhealthy: every API request has failed for ${failingSeconds(s, now)}s\n`);
    }
    if (req.url === '/readyz') return void res.writeHead(s.ready ? 200 : 503).end(s.ready ? 'ok\n' : 'not ready\n');
    if (req.url === '/metrics') {
      return void res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE }).end(
        metricsText([
          { name: 'acmg_sync_reconciles_total', help: 'Reconciles run.', value: metrics.reconciles },
          { name: 'acmg_sync_dns_writes_total', help: 'Writes of the DNS configuration.', value: metrics.dnsWrites },
          { name: 'acmg_sync_dns_repairs_total', help: 'DNS writes CoreDNS missed that a rewrite repaired.', value: metrics.dnsRepairs },
          {
            name: 'acmg_sync_dns_unconfirmed_total',
            help: 'DNS writes DNS did not answer within the check, even after the repair.',
            value: metrics.dnsUnconfirmed,
          },
          { name: 'acmg_sync_errors_total', help: 'Failed attempts (API requests, reconciles; retried with backoff) and fatal errors.', value: metrics.errors },
          { name: 'acmg_sync_informer_lists_total', help: 'Full lists of a watched kind (at start and after a lost watch).', value: metrics.informerLists },
          { name: 'acmg_sync_last_reconcile_seconds', help: 'How long the last reconcile took.', value: (metrics.lastReconcileMs / 1000).toFixed(3) },
          {
            name: 'acmg_sync_leader',
            help: '1 while this replica holds the leader Lease (or runs without leader election), else 0.',
            value: metrics.leader ? 1 : 0,
          },
          {
            name: 'acmg_sync_api_failing_seconds',
            help: 'How long every API request has failed (0 while the API server answers).',
            value: failingSeconds(s, now),
          },
          { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', value: process.memoryUsage.rss() },
          { name: 'nodejs_heap_used_bytes', help: 'V8 heap used in bytes.', value: process.memoryUsage().heapUsed },
        ]),
      );
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(o.healthPort, '0.0.0.0', resolve));
  o.log(`serving /healthz, /readyz and /metrics on :${(server.address() as { port: number }).port}`);
  try {
    await control(kube, o, loop);
  } finally {
    server.close();
    server.closeAllConnections();
    kube.close();
  }
  if (loop.state.fatal) throw loop.state.fatal;
}

async function control(kube: KubeApi, o: ControllerOptions, loop: ControlLoop): Promise<void> {
  // The install record names the namespaces to watch; an unreachable API server is retried.
  let install: Awaited<ReturnType<typeof loadInstall>> | undefined;
  for (let delay = 0; !install && !o.signal.aborted;) {
    try {
      install = await loadInstall(kube);
      loop.dispatch({ type: 'apiSucceeded' });
    } catch (e) {
      if (e instanceof AcmgError && e.code === ExitCode.Usage) throw e; // not installed: nothing to control
      delay = nextBackoff(delay);
      loop.dispatch({ type: 'apiFailed', what: "reading acmg's install record", error: e, retryMs: delay });
      await abortableSleep(delay, o.signal);
    }
  }
  if (!install) return;
  const ns = install.values.namespace;
  const stopLoop = () => loop.dispatch({ type: 'stop' });
  o.signal.addEventListener('abort', stopLoop, { once: true });
  if (o.signal.aborted) stopLoop();

  // --- informers: VirtualServices, DestinationRules and Services cached; the rest only trigger a reconcile ---
  // They stop with the loop, whether a signal or a fatal error ends it.
  const stop = new AbortController();
  const informer = <T>(apiVersion: string, kind: string, project: (obj: KObject) => T, namespace?: string, fieldSelector?: string) =>
    new Informer(kube, {
      apiVersion,
      kind,
      namespace,
      fieldSelector,
      project,
      signal: stop.signal,
      onChange: () => loop.dispatch({ type: 'changed' }),
      onSuccess: () => loop.dispatch({ type: 'apiSucceeded' }),
      onList: () => {
        loop.dispatch({ type: 'informerListed' });
        if (!loop.state.synced && cached.every((i) => i.synced)) loop.dispatch({ type: 'synced' });
      },
      onError: (e, retryMs) => {
        const fatal = kind === VIRTUAL_SERVICE.kind ? vsCrdMissing(e) : undefined;
        loop.dispatch(fatal ? { type: 'fatal', error: fatal } : { type: 'apiFailed', what: `watch ${kind}`, error: e, retryMs });
      },
    });
  const trigger = () => true;
  const virtualServices = informer(VIRTUAL_SERVICE.apiVersion, VIRTUAL_SERVICE.kind, projectVirtualService);
  const destinationRules = informer(DESTINATION_RULE.apiVersion, DESTINATION_RULE.kind, projectRoutingObject);
  // Declarative migrations (controller.declarative.enabled): Services keep their mark, and Namespaces are cached for theirs.
  const declarative = declarativeEnabled(install.values);
  const services = informer('v1', 'Service', declarative ? (s) => withMark(projectService(s), s) : projectService);
  const namespaces = declarative ? informer('v1', 'Namespace', projectNamespace) : undefined;
  // The Gateway API routes sync reads (routesRead): a kind not required only where served, at the
  // version served when the controller starts.
  const gatewayApi = routingApiOf(install.values) === 'gateway-api';
  const routes: { kind: RouteKind; informer: ReturnType<typeof informer> }[] = [];
  for (const { kind, required } of routesRead(routingApiOf(install.values))) {
    const apiVersion = required ? GATEWAY_API_VERSION : await servedVersion(kube, ROUTE_READ_VERSIONS[kind], kind);
    if (apiVersion) routes.push({ kind, informer: informer(apiVersion, kind, projectRoutingObject) });
  }
  const cached = [virtualServices, destinationRules, services, ...routes.map((r) => r.informer), ...(namespaces ? [namespaces] : [])];
  const informers = [
    ...cached,
    informer(gatewayApi ? GATEWAY_API_VERSION : 'networking.istio.io/v1', 'Gateway', trigger, ns),
    // The DNS ConfigMaps by name (its Role lists and watches those two alone, not every ConfigMap of kube-system).
    informer('v1', 'ConfigMap', trigger, install.values.dns.namespace, `metadata.name=${install.values.dns.configMap}`),
    informer('v1', 'ConfigMap', trigger, install.values.dns.namespace, `metadata.name=${install.values.dns.customConfigMap}`),
    informer('v1', 'ConfigMap', trigger, ns),
  ];
  const watches = informers.map((i) => i.run());

  const lease = { namespace: ns, name: install.values.controller.name, identity: o.identity, durationSeconds: 15 };
  let retry: NodeJS.Timeout | undefined;
  let toldNoLease = false;
  try {
    await loop.run({
      reconcile: async (later) => {
        const r = await reconcile(kube, {
          force: o.force,
          confirm: o.confirm && { ...o.confirm, later },
          view: {
            virtualServices: virtualServices.cache.values(),
            destinationRules: destinationRules.cache.values(),
            services: services.cache,
            routes: Object.fromEntries(routes.map((r) => [r.kind, [...r.informer.cache.values()]])),
          },
        });
        if (!namespaces) return r;
        // Only a leader-elected replica migrates: `acmg sync --watch` by hand beside the rendered
        // controller (or a second one) must not run migrations of its own at the same time.
        if (!o.leaderElect) {
          if (!toldNoLease) o.log('declarative migrations run only with --leader-elect (the rendered controller has it): this one does not run them');
          toldNoLease = true;
          return r;
        }
        // After sync's reconcile, with the install record as it is now (a reinstall may have turned it off).
        const now = await loadInstall(kube);
        if (!declarativeEnabled(now.values)) return r;
        const done = await declarativePass(kube, now, {
          services: services.cache.values(),
          namespaces: new Map([...namespaces.cache.values()].map((n) => [n.metadata.name, n])),
          resolver: o.confirm?.resolver,
          dnsTimeoutMs: o.confirm?.timeoutMs ?? 0,
          isLeader: () => loop.state.metrics.leader,
        });
        // A refused or failed service is tried again when its backoff ends, not only at the next change or resync.
        clearTimeout(retry);
        retry = done.retryInMs === undefined ? undefined : setTimeout(() => loop.dispatch({ type: 'changed' }), done.retryInMs).unref();
        return { ...r, declarative: done.log };
      },
      lease: o.leaderElect ? { name: `${ns}/${lease.name}`, renew: () => tryAcquireOrRenew(kube, lease) } : undefined,
      stop: () => stop.abort(),
      work: watches,
    });
  } finally {
    clearTimeout(retry);
    o.signal.removeEventListener('abort', stopLoop);
  }
}
