// The Bookinfo sample and the calls its clients make, for the traffic tests: the calls as the
// applications make them (bare names from productpage, svc.ns / FQDN / FQDN. from the clients
// namespace, with and without a sidecar), traced until istiod's pushes have settled.
import { join } from 'node:path';
import { ROOT, applyFiles, eventually, kubectl, kubectlJson } from './cluster.js';
import { outcome, outcomeKey, traceCall, type Trace, type TraceCall, type TraceClient } from './trace.js';

export const SAMPLE = join(ROOT, 'samples/bookinfo');
export const SAMPLE_FILES = ['bookinfo.yaml', 'clients.yaml', 'destination-rules.yaml', 'virtual-services.yaml'].map((f) => join(SAMPLE, f));
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

export async function applySample(): Promise<void> {
  deleteSample(); // a run that stopped half-way
  applyFiles(SAMPLE_FILES, { fieldManager: 'acmg-test' });
  for (const ns of NAMESPACES) kubectl(['-n', ns, 'rollout', 'status', 'deployment', '--timeout=120s']);
  await eventually('Bookinfo and clients pods running', 120_000, podsReady);
}
