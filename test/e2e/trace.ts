// The traffic trace of issue 22, for tests: follow one call as the cluster would carry it, from a
// client pod to where it lands, through the real CoreDNS and the configuration the real istiod gives
// each proxy on the way (hack/traffic-trace, which runs Istio's traffic simulator over that xDS).
//
//   1. the pod's resolver: search path <ns>.svc.<domain> svc.<domain> <domain>, ndots 5, against CoreDNS
//   2. the answered address and port -> the Service owning that ClusterIP, its target port and endpoints
//   3. the client's sidecar, when it has one (outbound: destination address:port, Host header as sent);
//      a cluster of a gateway's Service (pods running istio-proxy in router mode) continues there
//   4. no sidecar: the Service directly (kube-proxy); a gateway's Service continues at a gateway pod
//      on the target port, any other Service is "direct to its endpoints" (no routing rules apply)
//
// Pods are simulated (kwok): no Envoy runs, so a trace says where istiod's configuration sends a
// call, not what a running proxy did with it. What the trace does not evaluate: the destination's
// inbound side (AuthorizationPolicy, PeerAuthentication), load balancing among endpoints, and the
// route match fields hack/traffic-trace reports as "unevaluated".
//
// "Trace before, change, trace after, compare": outcome(trace) reduces a trace to what must not
// change (destination cluster and subset, route policy, or the failure).
import { execFile } from 'node:child_process';
import { query } from '../../src/dns/client.js';
import { corefile, dns, istioRelease, istiodXdsPort, kubectlJson, trafficTraceBin } from './cluster.js';

export interface TraceClient {
  namespace: string;
  /** The client pod by name, or by labels (the first Running pod by name). */
  pod?: string;
  labels?: Record<string, string>;
  /** What the test expects of the pod; omitted: read from the pod. A pod that disagrees is an error. */
  sidecar?: boolean;
}

export interface TraceCall {
  /** As the application calls it: http://reviews:9080/reviews/0, http://reviews.bookinfo.svc.cluster.local./x */
  url: string;
  headers?: Record<string, string>;
  method?: string;
}

/** One call as hack/traffic-trace takes it. */
export interface ProxyCall {
  name?: string;
  address: string;
  port: number;
  protocol?: 'http' | 'http2' | 'tcp';
  host?: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  mode?: 'outbound' | 'gateway' | 'inbound';
}

/** The matched route, as hack/traffic-trace prints it (protobuf messages as JSON). */
export interface RouteEntry {
  name?: string;
  match: unknown;
  matchDescription: string;
  headers?: unknown[];
  queryParameters?: unknown[];
  cluster?: string;
  weightedClusters?: { name: string; weight?: number }[];
  clusterHeader?: string;
  directResponse?: number;
  redirect?: unknown;
  timeout?: string;
  idleTimeout?: string;
  retry?: { numRetries?: number; perTryTimeout?: string; retryOn?: string; retriableStatusCodes?: number[]; from: string };
  retryPolicy?: unknown;
  fault?: unknown;
  mirrors?: unknown[];
  prefixRewrite?: string;
  regexRewrite?: unknown;
  hostRewrite?: string;
  autoHostRewrite?: boolean;
  cors?: unknown;
  requestHeadersToAdd?: unknown[];
  requestHeadersToRemove?: string[];
  responseHeadersToAdd?: unknown[];
  responseHeadersToRemove?: string[];
  hashPolicy?: unknown[];
  unevaluated?: string[];
}

/** One call's result at one proxy (hack/traffic-trace's JSON). */
export interface ProxyResult {
  name?: string;
  call: ProxyCall;
  listener?: string;
  filterChain?: string;
  routeConfig?: string;
  virtualHost?: { name: string; domains: string[] };
  simulatorRoute?: string;
  route?: RouteEntry;
  routeIndex?: number;
  cluster?: string;
  clusterType?: string;
  tcpWeightedClusters?: { name: string; weight?: number }[];
  endpoints?: { address: string; health?: string; locality?: string }[];
  failure?: string;
  status?: number;
  error?: string;
  passthrough?: boolean;
}

export interface ProxyTraceOutput {
  proxy: {
    id: string;
    type: 'sidecar' | 'router';
    listeners: number;
    routeConfigurations: number;
    clusters: number;
    clusterLoadAssignments: number;
    /** The RBAC policies (AuthorizationPolicies, "ns[NS]-policy[NAME]-rule[N]") the proxy's listeners enforce. */
    rbacPolicies: string[];
  };
  results: ProxyResult[];
}

export interface ProxyIdentity {
  type: 'sidecar' | 'router';
  pod: string;
  namespace: string;
  ip: string;
  labels: Record<string, string>;
  serviceAccount: string;
}

/** Runs hack/traffic-trace as one proxy over one or more calls. */
export function traceProxy(proxy: ProxyIdentity, calls: ProxyCall[]): Promise<ProxyTraceOutput> {
  const labels = Object.entries(proxy.labels)
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join(',');
  const args = [
    '--addr',
    `127.0.0.1:${istiodXdsPort}`,
    '--type',
    proxy.type,
    '--pod',
    proxy.pod,
    '--namespace',
    proxy.namespace,
    '--ip',
    proxy.ip,
    '--labels',
    labels,
    '--service-account',
    proxy.serviceAccount,
    '--domain',
    clusterDomain(),
    '--istio-version',
    istioRelease,
    '--timeout',
    '30s',
  ];
  return new Promise((resolve, reject) => {
    const child = execFile(trafficTraceBin, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`traffic-trace ${args.join(' ')} failed: ${stderr || err.message}`));
      try {
        resolve(JSON.parse(stdout) as ProxyTraceOutput);
      } catch (e) {
        reject(new Error(`traffic-trace printed no JSON (${(e as Error).message}): ${stdout.slice(0, 500)}`));
      }
    });
    child.stdin!.end(JSON.stringify(calls));
  });
}

// --- the cluster's side ---------------------------------------------------------------------------

let domainCache: string | undefined;
/** The cluster domain CoreDNS serves (the kubernetes plugin's first zone). */
export function clusterDomain(): string {
  if (!domainCache) domainCache = corefile().match(/^\s*kubernetes\s+([a-z0-9.-]+)/m)?.[1] ?? 'cluster.local';
  return domainCache;
}

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}

export interface ServiceRef {
  namespace: string;
  name: string;
  port: number;
  portName?: string;
  /** The port the Service's endpoints take the call on (its targetPort, resolved through its EndpointSlices). */
  targetPort?: number;
  /** Pods running Istio's proxy in router mode back it. */
  gateway: boolean;
}

const isRunning = (p: any) => p.status?.phase === 'Running' && p.status?.podIP && !p.metadata.deletionTimestamp;
const byName = (a: any, b: any) => a.metadata.name.localeCompare(b.metadata.name);
const proxyContainer = (p: any) =>
  [...(p.spec.containers ?? []), ...(p.spec.initContainers ?? []).filter((c: any) => c.restartPolicy === 'Always')].find((c: any) => c.name === 'istio-proxy');
const isRouter = (p: any) => (proxyContainer(p)?.args ?? []).includes('router');
const hasSidecar = (p: any) => {
  const c = proxyContainer(p);
  return Boolean(c) && (c.args ?? []).includes('sidecar');
};

function identity(p: any, type: 'sidecar' | 'router'): ProxyIdentity {
  return {
    type,
    pod: p.metadata.name,
    namespace: p.metadata.namespace,
    ip: p.status.podIP,
    labels: p.metadata.labels ?? {},
    serviceAccount: p.spec.serviceAccountName ?? 'default',
  };
}

function selectorOf(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** What the cluster looks like for one trace: read once, as kubectl sees it. */
class ClusterView {
  private services = kubectlJson(['get', 'services', '-A']).items as any[];
  private podsByNs = new Map<string, any[]>();
  private slices = new Map<string, any[]>();

  pods(ns: string): any[] {
    if (!this.podsByNs.has(ns)) this.podsByNs.set(ns, kubectlJson(['-n', ns, 'get', 'pods']).items);
    return this.podsByNs.get(ns)!;
  }

  serviceByIP(ip: string): any | undefined {
    return this.services.find((s) => s.spec?.clusterIP === ip || (s.spec?.clusterIPs ?? []).includes(ip));
  }

  service(ns: string, name: string): any | undefined {
    return this.services.find((s) => s.metadata.namespace === ns && s.metadata.name === name);
  }

  endpointSlices(ns: string, name: string): any[] {
    const key = `${ns}/${name}`;
    if (!this.slices.has(key)) this.slices.set(key, kubectlJson(['-n', ns, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${name}`]).items);
    return this.slices.get(key)!;
  }

  /** The Service's ready endpoints for one of its ports, as kube-proxy would pick among them: IP:targetPort. */
  endpoints(svc: any, port: ServicePort): { address: string; ip: string; port: number; pod?: string }[] {
    const out: { address: string; ip: string; port: number; pod?: string }[] = [];
    for (const s of this.endpointSlices(svc.metadata.namespace, svc.metadata.name)) {
      const p = (s.ports ?? []).find((x: any) => (x.name ?? '') === (port.name ?? ''));
      if (!p) continue;
      for (const e of s.endpoints ?? []) {
        if (e.conditions?.ready === false) continue;
        for (const ip of e.addresses ?? [])
          out.push({ address: `${ip}:${p.port}`, ip, port: p.port, pod: e.targetRef?.kind === 'Pod' ? e.targetRef.name : undefined });
      }
    }
    return out.sort((a, b) => a.address.localeCompare(b.address));
  }

  ref(svc: any, port: ServicePort): ServiceRef {
    const eps = this.endpoints(svc, port);
    const numeric = typeof port.targetPort === 'number' ? port.targetPort : port.targetPort === undefined ? port.port : undefined;
    return {
      namespace: svc.metadata.namespace,
      name: svc.metadata.name,
      port: port.port,
      portName: port.name,
      targetPort: eps[0]?.port ?? numeric,
      gateway: this.isGateway(svc),
    };
  }

  isGateway(svc: any): boolean {
    const sel = svc.spec?.selector;
    if (!sel || !Object.keys(sel).length) return false;
    return this.pods(svc.metadata.namespace).some((p) => Object.entries(sel).every(([k, v]) => p.metadata.labels?.[k] === v) && isRouter(p));
  }

  /** A running pod of the Service, preferring the one at ip (an endpoint a proxy chose). */
  podOf(svc: any, ip?: string): any | undefined {
    const sel = svc.spec?.selector ?? {};
    const pods = this.pods(svc.metadata.namespace)
      .filter((p) => isRunning(p) && Object.entries(sel).every(([k, v]) => p.metadata.labels?.[k] === v))
      .sort(byName);
    return pods.find((p) => p.status.podIP === ip) ?? pods[0];
  }
}

// --- the pod's resolver ---------------------------------------------------------------------------

export interface Resolution {
  /** Names asked, in order, with what CoreDNS answered. */
  asked: { name: string; rcode: string; addresses: string[] }[];
  /** The name that answered, and its first address. */
  name?: string;
  address?: string;
}

/** Resolves host as a pod in namespace ns does: resolv.conf "search ns.svc.D svc.D D", "options ndots:5". */
export async function resolveLikePod(host: string, ns: string): Promise<Resolution> {
  const d = clusterDomain();
  const search = [`${ns}.svc.${d}`, `svc.${d}`, d];
  let names: string[];
  if (host.endsWith('.')) names = [host.slice(0, -1)];
  else {
    const withSearch = search.map((s) => `${host}.${s}`);
    names = host.split('.').length - 1 >= 5 ? [host, ...withSearch] : [...withSearch, host];
  }
  const out: Resolution = { asked: [] };
  for (const name of names) {
    const r = await query(name, 'A', { ...dns, timeoutMs: 3000 });
    const addresses = r.answers.filter((a) => a.type === 'A').map((a) => a.data);
    out.asked.push({ name, rcode: r.rcode, addresses });
    // glibc goes on to the next name on NXDOMAIN and on an answer without A records (NODATA).
    if (r.rcode === 'NOERROR' && addresses.length) {
      out.name = name;
      out.address = addresses[0];
      return out;
    }
  }
  return out;
}

// --- the trace ------------------------------------------------------------------------------------

export interface Hop {
  /** sidecar / router: a proxy's decision; service: kube-proxy to a Service's endpoints (no rules). */
  kind: 'sidecar' | 'router' | 'service';
  /** namespace/pod of the proxy, or namespace/name of the Service. */
  at: string;
  call?: ProxyCall;
  result?: ProxyResult;
}

export interface RoutePolicy {
  /** The route's timeout ("0s": none); null: not set (Envoy's 15s default). */
  timeout: string | null;
  retries: { attempts: number; perTryTimeout: string | null; retryOn: string | null } | null;
  fault: unknown;
  mirrors: unknown[];
  prefixRewrite: string | null;
  regexRewrite: unknown;
  hostRewrite: string | null;
  cors: unknown;
  requestHeadersToAdd: unknown[];
  requestHeadersToRemove: string[];
  responseHeadersToAdd: unknown[];
  responseHeadersToRemove: string[];
  /** Weighted destinations of the route (clusters with their weights), when it splits. */
  weightedClusters: { name: string; weight?: number }[] | null;
}

export interface Failure {
  kind: string;
  /** What a client would see, where that is an HTTP status. */
  status?: number;
  at: string;
  message: string;
}

export interface Trace {
  client: { namespace: string; pod: string; ip: string; sidecar: boolean };
  call: { url: string; host: string; port: number; hostHeader: string; path: string; headers: Record<string, string> };
  resolution: Resolution;
  resolvedAddress?: string;
  /** The Service owning the resolved address and port (the first thing the call reaches). */
  service?: ServiceRef;
  hops: Hop[];
  /** The last cluster a proxy picked (outbound|port|subset|host), when one did. */
  cluster?: string;
  /** Where the call lands: the Service (FQDN:port) of the last cluster, or the Service called directly. */
  destination?: string;
  subset?: string;
  endpoints: string[];
  /** The route policy of the proxy that picked the final cluster; null when no proxy routed the call. */
  policy: RoutePolicy | null;
  failure?: Failure;
}

/** outbound|9080|v2|reviews.bookinfo.svc.cluster.local -> its parts. */
export function parseCluster(name: string): { direction: string; port: number; subset: string; host: string } | undefined {
  const m = name.match(/^(outbound|inbound)\|(\d+)\|([^|]*)\|(.+)$/);
  return m ? { direction: m[1]!, port: Number(m[2]), subset: m[3]!, host: m[4]! } : undefined;
}

function policyOf(r: RouteEntry | undefined): RoutePolicy | null {
  if (!r) return null;
  return {
    timeout: r.timeout ?? null,
    retries: r.retry ? { attempts: r.retry.numRetries ?? 1, perTryTimeout: r.retry.perTryTimeout ?? null, retryOn: r.retry.retryOn ?? null } : null,
    fault: r.fault ?? null,
    mirrors: r.mirrors ?? [],
    prefixRewrite: r.prefixRewrite || null,
    regexRewrite: r.regexRewrite ?? null,
    hostRewrite: r.hostRewrite || null,
    cors: r.cors ?? null,
    requestHeadersToAdd: r.requestHeadersToAdd ?? [],
    requestHeadersToRemove: r.requestHeadersToRemove ?? [],
    responseHeadersToAdd: r.responseHeadersToAdd ?? [],
    responseHeadersToRemove: r.responseHeadersToRemove ?? [],
    weightedClusters: r.weightedClusters?.length ? [...r.weightedClusters].sort((a, b) => a.name.localeCompare(b.name)) : null,
  };
}

function findPod(view: ClusterView, c: TraceClient): any {
  const pods = view.pods(c.namespace).filter(isRunning).sort(byName);
  const p = c.pod
    ? pods.find((x) => x.metadata.name === c.pod)
    : pods.find((x) => Object.entries(c.labels ?? {}).every(([k, v]) => x.metadata.labels?.[k] === v));
  if (!p) throw new Error(`no running pod ${c.pod ?? selectorOf(c.labels ?? {})} in namespace ${c.namespace}`);
  return p;
}

const MAX_HOPS = 4;

/** Follows one call from a client pod as the cluster would carry it. */
export async function traceCall(client: TraceClient, call: TraceCall): Promise<Trace> {
  const view = new ClusterView();
  const pod = findPod(view, client);
  const sidecar = hasSidecar(pod);
  if (client.sidecar !== undefined && client.sidecar !== sidecar)
    throw new Error(`pod ${client.namespace}/${pod.metadata.name} ${sidecar ? 'has' : 'has no'} sidecar; the test expected ${client.sidecar ? 'one' : 'none'}`);
  const u = new URL(call.url);
  if (u.protocol !== 'http:' && u.protocol !== 'tcp:') throw new Error(`${call.url}: only http:// and tcp:// calls are traced`);
  // A tcp:// call is a TCP connection: no Host, path or headers reach the proxies.
  const proto = u.protocol === 'tcp:' ? { protocol: 'tcp' as const } : {};
  const host = u.hostname;
  const port = u.port ? Number(u.port) : 80;
  const hostHeader = u.port ? `${host}:${u.port}` : host;
  const path = `${u.pathname || '/'}${u.search}`;
  const headers = call.headers ?? {};
  const trace: Trace = {
    client: { namespace: client.namespace, pod: pod.metadata.name, ip: pod.status.podIP, sidecar },
    call: { url: call.url, host, port, hostHeader, path, headers },
    resolution: { asked: [] },
    hops: [],
    endpoints: [],
    policy: null,
  };
  const fail = (kind: string, at: string, message: string, status?: number) => {
    trace.failure = { kind, at, message, ...(status !== undefined ? { status } : {}) };
    return trace;
  };

  // 1. The pod's resolver.
  const isIP = /^\d+\.\d+\.\d+\.\d+$/.test(host);
  trace.resolution = isIP ? { asked: [], name: host, address: host } : await resolveLikePod(host, client.namespace);
  const address = trace.resolution.address;
  if (!address)
    return fail(
      'nxdomain',
      'dns',
      `${host} does not resolve from ${client.namespace} (asked ${trace.resolution.asked.map((a) => `${a.name}: ${a.rcode}`).join(', ')})`,
    );
  trace.resolvedAddress = address;

  // 2. The Service that owns address:port.
  const svc = view.serviceByIP(address);
  const svcPort: ServicePort | undefined = svc?.spec?.ports?.find((p: ServicePort) => p.port === port && (p.protocol ?? 'TCP') === 'TCP');
  if (svc && svcPort) trace.service = view.ref(svc, svcPort);

  // Where a call continues once it leaves a proxy for address:port (or kube-proxy takes it).
  let next: { kind: 'sidecar' | 'router'; proxy: any; call: ProxyCall } | undefined;
  const direct = (s: any, sp: ServicePort, at: string) => {
    const ref = view.ref(s, sp);
    if (ref.gateway) {
      const gw = view.podOf(s);
      if (!gw) return fail('no-endpoints', at, `no running pod behind gateway Service ${ref.namespace}/${ref.name}`, 503);
      next = {
        kind: 'router',
        proxy: gw,
        call: { address: gw.status.podIP, port: ref.targetPort ?? sp.port, host: hostHeader, path, headers, mode: 'gateway', ...proto },
      };
      return undefined;
    }
    const eps = view.endpoints(s, sp);
    trace.hops.push({ kind: 'service', at: `${ref.namespace}/${ref.name}` });
    trace.destination = `${ref.name}.${ref.namespace}.svc.${clusterDomain()}:${sp.port}`;
    trace.endpoints = eps.map((e) => e.address);
    if (!eps.length)
      return fail('no-endpoints', `${ref.namespace}/${ref.name}`, `Service ${ref.namespace}/${ref.name} has no ready endpoints on port ${sp.port}`);
    return trace;
  };

  if (sidecar) {
    next = { kind: 'sidecar', proxy: pod, call: { address, port, host: hostHeader, path, headers, mode: 'outbound', ...proto } };
  } else {
    if (!svc) return fail('no-service', 'kube-proxy', `${address} is no Service's ClusterIP: the trace cannot follow a call to it without a proxy`);
    // kube-proxy translates only the Service's ports: the connection fails (refused or timed out, as the proxy mode has it).
    if (!svcPort)
      return fail('no-service-port', 'kube-proxy', `Service ${svc.metadata.namespace}/${svc.metadata.name} has no port ${port}: the connection fails`);
    const done = direct(svc, svcPort, 'kube-proxy');
    if (done) return done;
  }

  // 3. Through each proxy on the way.
  for (let i = 0; next && i < MAX_HOPS; i++) {
    const { kind, proxy, call: pc } = next;
    next = undefined;
    const at = `${proxy.metadata.namespace}/${proxy.metadata.name}`;
    const out = await traceProxy(identity(proxy, kind), [pc]);
    const r = out.results[0]!;
    trace.hops.push({ kind, at, call: pc, result: r });
    trace.policy = policyOf(r.route);
    trace.cluster = r.cluster;
    if (r.failure) return fail(r.failure, `${kind} ${at}`, r.error ?? r.failure, r.status);
    if (r.passthrough) {
      // The proxy sends the call on to its original destination address:port.
      const s = view.serviceByIP(pc.address);
      const sp = s?.spec?.ports?.find((p: ServicePort) => p.port === pc.port && (p.protocol ?? 'TCP') === 'TCP');
      if (!s) {
        // Not a Service's address: the call leaves for it as it is (nothing here follows it further).
        trace.destination = `${pc.address}:${pc.port}`;
        trace.endpoints = [`${pc.address}:${pc.port}`];
        return trace;
      }
      // Envoy's connection to the original destination fails (no Service port there): 503 to the client.
      if (!sp)
        return fail(
          'no-service-port',
          `${kind} ${at} (passthrough)`,
          `passthrough to ${pc.address}:${pc.port}: Service ${s.metadata.namespace}/${s.metadata.name} has no port ${pc.port}, the upstream connection fails`,
          503,
        );
      const done = direct(s, sp, `${kind} ${at} (passthrough)`);
      if (done) return done;
      continue;
    }
    if (!r.cluster) {
      const w = r.route?.weightedClusters ?? r.tcpWeightedClusters;
      return fail(
        'weighted',
        `${kind} ${at}`,
        `the route splits between ${(w ?? []).map((c) => `${c.name} (${c.weight ?? '?'})`).join(', ')}: trace each cluster`,
      );
    }
    const parsed = parseCluster(r.cluster);
    trace.endpoints = (r.endpoints ?? []).filter((e) => !e.health).map((e) => e.address);
    trace.subset = parsed?.subset || undefined;
    trace.destination = parsed ? `${parsed.host}:${parsed.port}` : r.cluster;
    if (!parsed) return trace;
    // Does the cluster lead to a gateway? Then the call goes on there, to the endpoint the proxy picks.
    const suffix = `.svc.${clusterDomain()}`;
    if (!parsed.host.endsWith(suffix)) return trace;
    const [name, ns] = parsed.host.slice(0, -suffix.length).split('.');
    const s = ns ? view.service(ns, name!) : undefined;
    if (!s || !view.isGateway(s)) return trace;
    const [ip, epPort] = (trace.endpoints[0] ?? '').split(':');
    const gw = view.podOf(s, ip);
    if (!gw) return fail('no-endpoints', `${kind} ${at}`, `no running pod behind gateway Service ${ns}/${name}`, 503);
    const route = r.route;
    let nextPath = pc.path ?? '/';
    if (route?.prefixRewrite !== undefined && route.prefixRewrite !== '') {
      const prefix = (route.match as { prefix?: string } | undefined)?.prefix ?? '';
      nextPath = route.prefixRewrite + nextPath.slice(prefix.length);
    }
    next = {
      kind: 'router',
      proxy: gw,
      call: {
        address: gw.status.podIP,
        port: Number(epPort) || parsed.port,
        host: route?.hostRewrite || pc.host,
        path: nextPath,
        headers: pc.headers,
        mode: 'gateway',
        ...proto,
      },
    };
  }
  if (next) return fail('loop', 'trace', `more than ${MAX_HOPS} proxies on the way: a routing loop?`);
  return trace;
}

// --- comparing and printing -----------------------------------------------------------------------

/** What must stay the same when the path a call takes changes (a migration): destination and policy, or the failure. */
export type Outcome =
  { destination: string | null; cluster: string | null; subset: string | null; policy: RoutePolicy | null } | { failure: string; status: number | null };

export function outcome(t: Trace): Outcome {
  if (t.failure) return { failure: t.failure.kind, status: t.failure.status ?? null };
  return { destination: t.destination ?? null, cluster: t.cluster ?? null, subset: t.subset ?? null, policy: t.policy };
}

/** Stable JSON (sorted keys) of an outcome, for comparing and for messages. */
export function outcomeKey(o: Outcome): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sort(o));
}

/** The calls whose outcome differs between two traces of the same calls (by name): [] when every call reaches what it reached. */
export function diffOutcomes(before: Map<string, Trace>, after: Map<string, Trace>): { name: string; before: Outcome; after: Outcome }[] {
  const out: { name: string; before: Outcome; after: Outcome }[] = [];
  for (const [name, b] of before) {
    const a = after.get(name);
    if (!a) throw new Error(`no trace of "${name}" after`);
    if (outcomeKey(outcome(a)) !== outcomeKey(outcome(b))) out.push({ name, before: outcome(b), after: outcome(a) });
  }
  return out;
}

const short = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function describePolicy(p: RoutePolicy | null): string {
  if (!p) return 'none (no proxy)';
  const parts = [`timeout ${p.timeout ?? 'unset'}`];
  parts.push(p.retries ? `retries ${p.retries.attempts}${p.retries.perTryTimeout ? ` x ${p.retries.perTryTimeout}` : ''}` : 'no retries');
  if (p.fault) parts.push('fault');
  if (p.mirrors.length) parts.push(`mirror x${p.mirrors.length}`);
  if (p.prefixRewrite || p.regexRewrite) parts.push('path rewrite');
  if (p.hostRewrite) parts.push(`host -> ${p.hostRewrite}`);
  if (p.cors) parts.push('cors');
  if (p.weightedClusters) parts.push(`split ${p.weightedClusters.map((w) => `${w.name}=${w.weight}`).join(' ')}`);
  return parts.join(', ');
}

function describeHops(t: Trace): string {
  return t.hops
    .map((h) => {
      if (h.kind === 'service') return `service ${h.at}`;
      const r = h.result!;
      const vh = r.virtualHost ? ` vh ${r.virtualHost.name}` : '';
      const rt = r.route ? ` route ${r.route.name ?? '#' + r.routeIndex}` : '';
      return `${h.kind}${vh}${rt}`;
    })
    .join(' > ');
}

/** A table of calls and where they went, for test logs. */
export function formatTraceTable(rows: { label?: string; trace: Trace }[]): string {
  const head = ['client', 'call', 'headers', 'resolves', 'hops', 'result', 'policy', 'endpoints'];
  const lines = rows.map(({ label, trace: t }) => [
    label ?? `${t.client.namespace}/${t.client.pod.replace(/-[a-z0-9]+-[a-z0-9]+$/, '')}${t.client.sidecar ? ' (sidecar)' : ''}`,
    t.call.url,
    Object.entries(t.call.headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ') || '-',
    t.resolvedAddress ? `${t.resolution.name} ${t.resolvedAddress}` : 'no answer',
    describeHops(t) || '-',
    t.failure ? `FAIL ${t.failure.kind}${t.failure.status ? ` (${t.failure.status})` : ''} at ${t.failure.at}` : (t.cluster ?? `direct ${t.destination}`),
    t.failure ? '-' : describePolicy(t.policy),
    short(t.endpoints.join(' ') || '-', 40),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cols: string[]) =>
    cols
      .map((c, i) => c.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd();
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('-+-'), ...lines.map(fmt)].join('\n');
}
