// The DNS prober's own process (see dns-prober.ts): queries one name every interval and prints
// each answer as a JSON line. Apart from the test process, so the test's synchronous kubectl calls
// cannot hold back the reading of an answer until its timeout has fired. Stops when stdin closes.
// A query unanswered within 1 s is asked once more, as a pod's stub resolver does (glibc and musl
// try twice, after 5 s each): the sample records how many attempts it took, and the tests decide
// whether a second attempt is allowed (only while CoreDNS processes are swapped, see dns-prober.ts).
import { query } from '../../src/dns/client.js';

const [name, host, port, interval] = process.argv.slice(2) as [string, string, string, string];
let running = true;
process.stdin.on('end', () => (running = false));
process.stdin.on('error', () => (running = false));
process.stdin.resume();

while (running) {
  const at = Date.now();
  let sample: object = {};
  for (let attempts = 1; attempts <= 2; attempts++) {
    try {
      const r = await query(name, 'A', { host, port: Number(port), timeoutMs: 1000 });
      sample = { at, attempts, rcode: r.rcode, ips: r.answers.filter((a) => a.type === 'A').map((a) => a.data) };
      break;
    } catch (e) {
      sample = { at, attempts, rcode: 'ERROR', ips: [], error: (e as Error).message };
    }
  }
  process.stdout.write(`${JSON.stringify(sample)}\n`);
  await new Promise((res) => setTimeout(res, Math.max(0, Number(interval) - (Date.now() - at))));
}
process.stdin.destroy();
