// The Bookinfo sample and the calls its clients make, for the traffic tests: the calls as the
// applications make them (bare names from productpage, svc.ns / FQDN / FQDN. from the clients
// namespace, with and without a sidecar), traced until istiod's pushes have settled.
import { join } from 'node:path';
import { ROOT, applyFiles, eventually, kubectl, kubectlJson } from './cluster.js';
import { formatTraceTable, outcome, outcomeKey, traceCall, type Trace, type TraceCall, type TraceClient } from './trace.js';

export const SAMPLE = join(ROOT, 'samples/bookinfo');
export const SAMPLE_FILES = ['bookinfo.yaml', 'clients.yaml', 'destination-rules.yaml', 'virtual-services.yaml'].map((f) => join(SAMPLE, f));
/** The same routing as Gateway API mesh routes (GAMMA HTTPRoutes), for routing.api gateway-api. */
export const GAMMA_SAMPLE_FILES = [join(SAMPLE, 'bookinfo.yaml'), join(SAMPLE, 'clients.yaml'), join(ROOT, 'samples/bookinfo-gamma/http-routes.yaml')];
export const NAMESPACES = ['bookinfo', 'clients'];

export const FQDN = 'reviews.bookinfo.svc.cluster.local';
export const productpage: TraceClient = { namespace: 'bookinfo', labels: { app: 'productpage' } };
export const sleep: TraceClient = { namespace: 'clients', labels: { app: 'sleep' }, sidecar: true };
export const sleepPlain: TraceClient = { namespace: 'clients', labels: { app: 'sleep-plain' }, sidecar: false };
const jason = { 'end-user': 'jason' };

export const CASES: { name: string; client: TraceClient; call: TraceCall }[] = [
  { name: 'reviews', client: productpage, call: { url: 'http://reviews:9080/reviews/0' } },
  { name: 'reviews as jason', client: productpage, call: { url: 'http://reviews:9080/reviews/0', headers: jason } },
  { name: 'reviews, no port', client: productpage, call: { url: 'http://reviews/reviews/0' } },
  { name: 'ratings', client: productpage, call: { url: 'http://ratings:9080/ratings/0' } },
  { name: 'details', client: productpage, call: { url: 'http://details:9080/details/0' } },
  { name: 'svc.ns', client: sleep, call: { url: 'http://reviews.bookinfo:9080/reviews/0' } },
  { name: 'svc.ns as jason', client: sleep, call: { url: 'http://reviews.bookinfo:9080/reviews/0', headers: jason } },
  { name: 'FQDN', client: sleep, call: { url: `http://${FQDN}:9080/reviews/0` } },
  { name: 'FQDN.', client: sleep, call: { url: `http://${FQDN}.:9080/reviews/0` } },
  { name: 'FQDN. as jason', client: sleep, call: { url: `http://${FQDN}.:9080/reviews/0`, headers: jason } },
  { name: 'svc.ns.svc, ratings', client: sleep, call: { url: 'http://ratings.bookinfo.svc:9080/ratings/0' } },
  { name: 'svc.ns, no sidecar', client: sleepPlain, call: { url: 'http://reviews.bookinfo:9080/reviews/0', headers: jason } },
];

export async function traceAll(cases = CASES): Promise<Map<string, Trace>> {
  const out = new Map<string, Trace>();
  for (const c of cases) out.set(c.name, await traceCall(c.client, c.call));
  return out;
}

/** Traces until two rounds in a row agree and `ready` holds: istiod pushes a change after a debounce. */
export async function settledTraces(what: string, ready: (t: Map<string, Trace>) => boolean, cases = CASES, timeoutMs = 90_000): Promise<Map<string, Trace>> {
  let last = '';
  const { value } = await eventually(
    what,
    timeoutMs,
    async () => {
      const t = await traceAll(cases);
      const key = cases.map((c) => outcomeKey(outcome(t.get(c.name)!)) + t.get(c.name)!.endpoints.join(',')).join('\n');
      const stable = key === last && ready(t);
      last = key;
      return stable ? t : undefined;
    },
    1000,
  );
  return value;
}

export const podsReady = () =>
  NAMESPACES.every((ns) => {
    const pods = kubectlJson(['-n', ns, 'get', 'pods']).items;
    return pods.length > 0 && pods.every((p: any) => p.status?.phase === 'Running' && p.status.podIP && !p.metadata.deletionTimestamp);
  });

export const deleteSample = () => kubectl(['delete', 'namespace', ...NAMESPACES, '--ignore-not-found', '--wait=true', '--timeout=120s']);

export async function applySample(files = SAMPLE_FILES): Promise<void> {
  deleteSample(); // a run that stopped half-way
  applyFiles(files, { fieldManager: 'acmg-test' });
  for (const ns of NAMESPACES) kubectl(['-n', ns, 'rollout', 'status', 'deployment', '--timeout=120s']);
  await eventually('Bookinfo and clients pods running', 120_000, podsReady);
}

// --- comparing rounds of traces: before a migration, after it, after the rollback ---

const REPLACEMENT = /-acmg\.bookinfo\.svc/g;

/** Which workload each pod IP is (app:version): --restart gives the pods new IPs, not new identities. */
export const podsByIP = (): Map<string, string> =>
  new Map(
    kubectlJson(['-n', 'bookinfo', 'get', 'pods'])
      .items.filter((p: any) => p.status?.podIP && !p.metadata.deletionTimestamp)
      .map((p: any) => [p.status.podIP, `${p.metadata.labels.app}:${p.metadata.labels.version ?? '-'}`]),
  );

/** A round of traces, with the workloads their endpoints were at the time. */
export interface Round {
  traces: Map<string, Trace>;
  pods: Map<string, string>;
}

export async function round(what: string, ready: (t: Map<string, Trace>) => boolean, cases = CASES): Promise<Round> {
  const traces = await settledTraces(what, ready, cases);
  return { traces, pods: podsByIP() };
}

/**
 * What must not change for a call: where it lands (service, subset, the workloads behind the
 * endpoints) and the route's policy, or that it fails. Approach 2's replacement `reviews-acmg`
 * stands for `reviews` (the same selector, so the same pods). A failed call is compared by kind: a
 * client whose sidecar is gone gets the connection error itself instead of its sidecar's 503.
 */
export function comparable(r: Round, name: string): string {
  const t = r.traces.get(name)!;
  const o = outcome(t);
  if ('failure' in o) return `failure ${o.failure}`;
  const workloads = [...new Set(t.endpoints.map((e) => r.pods.get(e.split(':')[0]!) ?? e))].sort();
  return `${outcomeKey(o).replace(REPLACEMENT, '.bookinfo.svc')} workloads=${workloads.join(',')}`;
}

/** The calls whose outcome differs, with both sides (the failure message shows them). */
export const differences = (a: Round, b: Round, names: string[]) =>
  names.filter((n) => comparable(a, n) !== comparable(b, n)).map((n) => ({ call: n, before: comparable(a, n), after: comparable(b, n) }));

export const table = (r: Round) => formatTraceTable(CASES.map((c) => ({ label: c.name, trace: r.traces.get(c.name)! })));
export const allCalls = CASES.map((c) => c.name);
export const withSidecar = CASES.filter((c) => c.client.sidecar !== false).map((c) => c.name);
export const sidecars = (): boolean[] =>
  kubectlJson(['-n', 'bookinfo', 'get', 'pods'])
    .items.filter((p: any) => !p.metadata.deletionTimestamp)
    .map((p: any) => p.spec.containers.some((c: any) => c.name === 'istio-proxy'));
export const migratedAny = () =>
  kubectl(['-n', 'istio-system', 'get', 'configmap', 'acmg-state-bookinfo', '--ignore-not-found', '-o', 'jsonpath={.data.migrations}']).length > 2;
