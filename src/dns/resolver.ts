// How acmg asks cluster DNS during migrate/rollback/verify: directly (--nameserver) or, from
// outside the cluster, through the API server's port-forward to a CoreDNS pod (DNS over TCP).
import { query, type DnsResponse, type RecordType } from './client.js';

export interface Resolver {
  /** Where the questions go, for messages. */
  readonly describe: string;
  ask(name: string, type: RecordType): Promise<DnsResponse>;
  close(): Promise<void>;
}

export function directResolver(host: string, port: number, timeoutMs = 2000): Resolver {
  return {
    describe: `${host}:${port}`,
    ask: (name, type) => query(name, type, { host, port, timeoutMs }),
    close: async () => {},
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

/** Polls until every name answers exactly `expect[name]`, or the timeout; returns the names still wrong. */
export async function waitForAnswers(
  r: Resolver,
  expect: Map<string, string>,
  timeoutMs: number,
  onProgress?: (text: string) => void,
  confirmations = CONFIRMATIONS,
  nudge?: Nudge,
): Promise<{ name: string; got: string[]; want: string }[]> {
  const start = Date.now();
  const deadline = start + timeoutMs;
  let nudged = false;
  // A name is settled after `confirmations` right answers in a row: CoreDNS replicas load a change
  // one by one (and draining old pods still answer), so one right answer proves little.
  const streak = new Map([...expect.keys()].map((n) => [n, 0]));
  let wrong: { name: string; got: string[]; want: string }[];
  for (;;) {
    const pending = [...expect.entries()].filter(([name]) => streak.get(name)! < confirmations);
    const results = await Promise.all(pending.map(async ([name, want]) => ({ name, want, got: await resolveA(r, name).catch(() => [] as string[]) })));
    wrong = [];
    for (const x of results) {
      const right = x.got.length === 1 && x.got[0] === x.want;
      streak.set(x.name, right ? streak.get(x.name)! + 1 : 0);
      if (!right) wrong.push(x);
    }
    const settled = [...streak.values()].filter((n) => n >= confirmations).length;
    if (settled === expect.size) return [];
    if (Date.now() >= deadline) return wrong.length ? wrong : results.filter((x) => streak.get(x.name)! < confirmations);
    if (nudge && !nudged && Date.now() - start >= nudge.afterMs) {
      nudged = true;
      onProgress?.(`${settled}/${expect.size} names answer as expected after ${Math.round(nudge.afterMs / 1000)}s: ${nudge.describe}`);
      await nudge.run();
    }
    onProgress?.(`${settled}/${expect.size} names answer as expected (CoreDNS reload can take up to ~2 minutes)`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
