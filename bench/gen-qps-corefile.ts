// A Corefile for a standalone CoreDNS on the bench port, with N migrated names written by acmg's
// engine: mechanism "hosts" (the cluster block's hosts plugin) or "server-blocks" (hosts already
// taken, acmg's own server block). N = 0 is vanilla. Prints the Corefile.
import { setEntries } from '../src/coredns/engine.js';
import { detectLayout } from '../src/coredns/layout.js';
import { renderRegion } from '../src/coredns/region.js';

const [nArg, mechanism = 'hosts', port = '10153', kubeconfig = ''] = process.argv.slice(2);
const n = Number(nArg);
const corefile = `.:${port} {
    errors
${mechanism === 'server-blocks' ? '    hosts {\n        10.0.0.1 taken.example\n        fallthrough\n    }\n' : ''}    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfig} coredns
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    cache 30 {
        disable success cluster.local
        disable denial cluster.local
    }
    loadbalance
}
`;
const names = Array.from({ length: n }, (_, i) => ({ fqdn: `svc-${i}.bench-${i % 100}.svc.cluster.local`, ip: '10.96.200.1' }));
// Beyond what one ConfigMap holds acmg's engine refuses (rightly); the same region is then rendered
// directly, to measure CoreDNS itself with that many entries.
const engine = () => setEntries({ corefile }, detectLayout({ corefile, mode: 'auto', clusterDomain: 'auto' }), names, { ttl: 5 }).config.corefile;
const direct = () =>
  corefile.replace(
    '    kubernetes cluster.local',
    `${renderRegion(names, { mechanism: 'hosts', ttl: 5, indent: '    ', step: '    ', port: Number(port) })}    kubernetes cluster.local`,
  );
// Past what one ConfigMap holds (about 10,000 names with the server-block mechanism), rendered directly.
const directBlock = () => renderRegion(names, { mechanism: 'server-blocks', ttl: 5, indent: '', step: '    ', port: Number(port) }) + corefile;
const out = n === 0 ? corefile : n <= 10_000 ? engine() : mechanism === 'hosts' ? direct() : directBlock();
process.stdout.write(out);
