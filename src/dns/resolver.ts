// How acmg asks cluster DNS during migrate/rollback/verify: directly (--nameserver) or, from
// outside the cluster, through the API server's port-forward to a CoreDNS pod (DNS over TCP).
import { query, UdpDnsSession, type DnsResponse, type RecordType } from './client.js';

export interface Resolver {
  /** Where the questions go, for messages. */
  readonly describe: string;
  ask(name: string, type: RecordType): Promise<DnsResponse>;
  close(): Promise<void>;
}

/** Questions straight to a nameserver, on one session's few UDP sockets (TCP for a truncated answer). */
export function directResolver(host: string, port: number, timeoutMs = 2000): Resolver {
  const session = new UdpDnsSession(host, port, timeoutMs);
  return {
    describe: `${host}:${port}`,
    ask: (name, type) => query(name, type, { host, port, timeoutMs }, session),
    close: async () => session.close(),
  };
}

/** A resolver made on its first question (a controller starts before it can reach the API server). */
export function lazyResolver(describe: string, make: () => Promise<Resolver>): Resolver {
  let made: Promise<Resolver> | undefined;
  const get = () => (made ??= make().catch((e) => ((made = undefined), Promise.reject(e))));
  return {
    describe,
    ask: async (name, type) => (await get()).ask(name, type),
    close: async () => {
      if (made) await (await made.catch(() => undefined))?.close();
    },
  };
}

/** The IPv4 answers for name ([] for NXDOMAIN/NODATA). */
export async function resolveA(r: Resolver, name: string): Promise<string[]> {
  const res = await r.ask(name, 'A');
  return res.answers.filter((a) => a.type === 'A').map((a) => a.data);
}

/** Right answers in a row that settle a name (500 ms apart). */
export const CONFIRMATIONS = 3;

/** Something to do once, if the names have not all settled `afterMs` into the wait. */
export interface Nudge {
  afterMs: number;
  describe: string;
  run: () => Promise<void>;
}

/** What a name must answer: exactly this address, or (a name taken back) anything but this one. */
export type Want = string | { not: string };

export const describeWant = (w: Want): string => (typeof w === 'string' ? w : `anything but ${w.not}`);

/** got is null when the question got no answer at all (a timeout): right for no expectation. */
function answers(got: string[] | null, want: Want): boolean {
  if (got === null) return false;
  return typeof want === 'string' ? got.length === 1 && got[0] === want : !got.includes(want.not);
}

/** A name still answering wrong, as waitForAnswers reports it. */
export interface WrongAnswer {
  name: string;
  got: string[];
  want: string;
}

/** "NAME answers GOT, expected WANT": how migrate, rollback and sync report a wrong answer. */
export const describeWrong = (x: WrongAnswer): string => `${x.name} answers ${x.got.join(', ') || 'nothing'}, expected ${x.want}`;

export interface WaitOptions {
  timeoutMs: number;
  onProgress?: (text: string) => void;
  /** Right answers in a row that settle a name. */
  confirmations?: number;
  nudge?: Nudge;
  /** Stop early (what is still wrong is returned): a newer change makes this wait moot. */
  signal?: AbortSignal;
}

/**
 * Questions in flight at most, in a round of the wait and in verify-dns. All at once (10,000 names)
 * about half of the UDP questions got no answer within the timeout (CoreDNS's socket buffers
 * overflow), and a timeout starts a name's count of right answers again: the wait took minutes
 * after CoreDNS had loaded the change (issue #25).
 */
export const DNS_CONCURRENCY = 256;

/** fn over items, at most `limit` at once; the results in the items' order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Polls until every name answers as `expect[name]` wants, or the timeout; returns the names still wrong. */
export async function waitForAnswers(r: Resolver, expect: Map<string, Want>, o: WaitOptions): Promise<WrongAnswer[]> {
  const { timeoutMs, onProgress, confirmations = CONFIRMATIONS, nudge, signal } = o;
  const start = Date.now();
  const deadline = start + timeoutMs;
  let nudged = false;
  // A name is settled after `confirmations` right answers in a row: CoreDNS replicas load a change
  // one by one (and draining old pods still answer), so one right answer proves little.
  const streak = new Map([...expect.keys()].map((n) => [n, 0]));
  let wrong: WrongAnswer[];
  for (;;) {
    const pending = [...expect.entries()].filter(([name]) => streak.get(name)! < confirmations);
    const results = await mapBounded(pending, DNS_CONCURRENCY, async ([name, want]) => ({ name, want, got: await resolveA(r, name).catch(() => null) }));
    wrong = [];
    const report = (x: (typeof results)[number]) => ({ name: x.name, got: x.got ?? [], want: describeWant(x.want) });
    for (const x of results) {
      const right = answers(x.got, x.want);
      streak.set(x.name, right ? streak.get(x.name)! + 1 : 0);
      if (!right) wrong.push(report(x));
    }
    const settled = [...streak.values()].filter((n) => n >= confirmations).length;
    if (settled === expect.size) return [];
    if (Date.now() >= deadline || signal?.aborted) return wrong.length ? wrong : results.filter((x) => streak.get(x.name)! < confirmations).map(report);
    if (nudge && !nudged && Date.now() - start >= nudge.afterMs && !signal?.aborted) {
      nudged = true;
      onProgress?.(`${settled}/${expect.size} names answer as expected after ${Math.round(nudge.afterMs / 1000)}s: ${nudge.describe}`);
      await nudge.run();
    }
    onProgress?.(`${settled}/${expect.size} names answer as expected (CoreDNS reload can take up to ~2 minutes)`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
