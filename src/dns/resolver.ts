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

/** Polls until every name answers exactly `expect[name]`, or the timeout; returns the names still wrong. */
export async function waitForAnswers(r: Resolver, expect: Map<string, string>, timeoutMs: number, onProgress?: (text: string) => void): Promise<{ name: string; got: string[]; want: string }[]> {
  const deadline = Date.now() + timeoutMs;
  let pending = [...expect.entries()];
  let wrong: { name: string; got: string[]; want: string }[] = [];
  for (;;) {
    wrong = [];
    const results = await Promise.all(pending.map(async ([name, want]) => ({ name, want, got: await resolveA(r, name).catch(() => [] as string[]) })));
    for (const x of results) if (x.got.length !== 1 || x.got[0] !== x.want) wrong.push(x);
    pending = wrong.map((w) => [w.name, w.want] as [string, string]);
    if (wrong.length === 0 || Date.now() >= deadline) return wrong;
    onProgress?.(`${expect.size - wrong.length}/${expect.size} names answer as expected (CoreDNS reload can take up to ~2 minutes)`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
