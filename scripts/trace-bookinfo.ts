// Prints how the Bookinfo sample's calls are carried (npm run demo): each call as the application
// makes it, followed through the real CoreDNS and the xDS the real istiod gives each proxy on the
// way (test/e2e/trace.ts, hack/traffic-trace). Pods are simulated: no Envoy runs.
//   node .cache/trace-bookinfo.mjs [--through-gateway]   (bundled by scripts/demo.sh)
import { CASES, settledTraces } from '../test/e2e/bookinfo.js';
import { formatTraceTable } from '../test/e2e/trace.js';

const throughGateway = process.argv.includes('--through-gateway');
const traces = await settledTraces(throughGateway ? 'calls through the gateway' : 'calls', (m) => {
  const reviews = m.get('reviews');
  if (!reviews?.endpoints.length) return false;
  return !throughGateway || reviews.hops.at(-1)?.kind === 'router';
});
process.stdout.write(`${formatTraceTable(CASES.map((c) => ({ label: c.name, trace: traces.get(c.name)! })))}\n`);
