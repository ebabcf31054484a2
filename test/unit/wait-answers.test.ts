// waitForAnswers: a name settles after CONFIRMATIONS right answers in a row; a nudge runs once, and
// only if the names have not settled by then (migrate's rewrite of coredns-custom when CoreDNS
// missed a change). The resolver is a table of answers; real CoreDNS is in the e2e tests.
import type { DnsResponse, RecordType } from '../../src/dns/client.js';
import { waitForAnswers, type Resolver } from '../../src/dns/resolver.js';

function tableResolver(answers: Map<string, string>): Resolver & { asked: number } {
  const r = {
    describe: 'table',
    asked: 0,
    ask: async (name: string): Promise<DnsResponse> => {
      r.asked++;
      const ip = answers.get(name);
      return { rcode: 'NOERROR', answers: ip ? [{ name, type: 'A', ttl: 5, data: ip }] : [] } as unknown as DnsResponse;
    },
    close: async () => {},
  };
  return r;
}

const NAME = 'reviews.shop.svc.cluster.local';

test('a DNS that never loads the change is nudged once, halfway, and then settles', async () => {
  const answers = new Map([[NAME, '10.96.0.20']]);
  let nudges = 0;
  const progress: string[] = [];
  const wrong = await waitForAnswers(tableResolver(answers), new Map([[NAME, '10.96.0.99']]), {
    timeoutMs: 20_000,
    onProgress: (t) => progress.push(t),
    nudge: {
      afterMs: 700,
      describe: 'rewriting acmg.server',
      run: async () => {
        nudges++;
        answers.set(NAME, '10.96.0.99'); // CoreDNS reloads the rewritten region
      },
    },
  });
  expect(wrong).toEqual([]);
  expect(nudges).toBe(1);
  expect(progress.filter((p) => /after 1s: rewriting acmg\.server/.test(p))).toHaveLength(1);
});

test('names that settle before the nudge is due never trigger it', async () => {
  let nudges = 0;
  const wrong = await waitForAnswers(tableResolver(new Map([[NAME, '10.96.0.99']])), new Map([[NAME, '10.96.0.99']]), {
    timeoutMs: 20_000,
    nudge: { afterMs: 5_000, describe: 'x', run: async () => void nudges++ },
  });
  expect(wrong).toEqual([]);
  expect(nudges).toBe(0);
});

test('without a nudge, a DNS that never changes is reported when time runs out', async () => {
  const wrong = await waitForAnswers(tableResolver(new Map([[NAME, '10.96.0.20']])), new Map([[NAME, '10.96.0.99']]), { timeoutMs: 1_200 });
  expect(wrong).toEqual([{ name: NAME, got: ['10.96.0.20'], want: '10.96.0.99' }]);
});

test('a name taken back settles on any answer but the old one; no answer at all is not one', async () => {
  const answers = new Map([[NAME, '10.96.0.99']]);
  const r = tableResolver(answers);
  const ask = r.ask;
  let timeouts = 2;
  r.ask = async (name: string, type: RecordType) => {
    if (timeouts-- > 0) throw new Error('no answer within 2000 ms');
    return ask(name, type);
  };
  // Still the gateway: reported with what it wants.
  expect(await waitForAnswers(r, new Map([[NAME, { not: '10.96.0.99' }]]), { timeoutMs: 1_200 })).toEqual([
    { name: NAME, got: ['10.96.0.99'], want: 'anything but 10.96.0.99' },
  ]);
  answers.delete(NAME); // NXDOMAIN / no data: the name is no longer the gateway's
  expect(await waitForAnswers(r, new Map([[NAME, { not: '10.96.0.99' }]]), { timeoutMs: 5_000, confirmations: 2 })).toEqual([]);
  timeouts = 100;
  expect(await waitForAnswers(r, new Map([[NAME, { not: '10.96.0.99' }]]), { timeoutMs: 600 })).toEqual([
    { name: NAME, got: [], want: 'anything but 10.96.0.99' },
  ]);
});
