// Prints the kubeadm Corefile with N migrated names, written either by acmg's engine (hosts region)
// or the way the original implementation did it (one `rewrite name` line per service).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setEntries } from '../src/coredns/engine.js';
import { detectLayout } from '../src/coredns/layout.js';

const [nArg, mode = 'acmg', gatewayIP = '10.96.200.1'] = process.argv.slice(2);
const n = Number(nArg);
const root = join(new URL('.', import.meta.url).pathname, '..');
const base = readFileSync(join(root, 'hack', 'layouts', 'kubeadm.yaml'), 'utf8');
// The Corefile inside the layout's ConfigMap, unindented.
const corefile = base
  .split('Corefile: |\n')[1]!
  .split('\n')
  .map((l) => l.slice(4))
  .join('\n')
  .replace(/\n+$/, '\n');
const names = Array.from({ length: n }, (_, i) => `svc-${i}.bench-${i % 20}.svc.cluster.local`);
let out = corefile;
if (mode === 'acmg' && n > 0) {
  const layout = detectLayout({ corefile, mode: 'auto', clusterDomain: 'auto' });
  out = setEntries(
    { corefile },
    layout,
    names.map((fqdn) => ({ fqdn, ip: gatewayIP })),
    { ttl: 5 },
  ).config.corefile;
} else if (mode === 'rewrite' && n > 0) {
  const lines = names.map((f) => `    rewrite name exact ${f} acmg-gateway.istio-system.svc.cluster.local`).join('\n');
  out = corefile.replace('    kubernetes cluster.local', `${lines}\n    kubernetes cluster.local`);
}
process.stdout.write(out);
