// The layers of src/ and which way imports may flow (docs/architecture.md). A change that makes a
// lower layer import a higher one fails here, with the file and the import.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = join(process.cwd(), 'src');

/** Each directory's layer; a module may import its own layer and the layers listed for it. */
const LAYERS: Record<string, string[]> = {
  // pure core: no I/O beyond reading acmg's own files
  errors: [],
  version: [],
  input: ['errors'],
  profile: ['errors', 'input'],
  model: ['errors', 'profile'],
  coredns: ['errors'],
  render: ['errors', 'model', 'profile', 'version'],
  plan: ['errors', 'model', 'profile', 'render', 'coredns', 'input'],
  // the network edges: DNS queries, the API server
  dns: ['errors'],
  kube: ['errors', 'input', 'model', 'profile', 'render', 'plan', 'coredns', 'dns', 'version'],
  // checks and use cases
  check: ['errors', 'model', 'profile', 'render', 'plan', 'coredns', 'kube', 'version'],
  ops: ['errors', 'input', 'model', 'profile', 'render', 'plan', 'coredns', 'dns', 'kube', 'check', 'version'],
  // the terminal
  ui: ['errors', 'input', 'model', 'render'],
  cli: ['errors', 'input', 'model', 'profile', 'render', 'plan', 'coredns', 'dns', 'kube', 'check', 'ops', 'ui', 'version'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const layerOf = (file: string) =>
  relative(SRC, file)
    .split('/')[0]!
    .replace(/\.(ts|js)$/, '');

test('imports only flow down the layers', () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const from = layerOf(file);
    const allowed = LAYERS[from];
    if (!allowed) {
      violations.push(`${relative(SRC, file)}: directory "${from}" has no layer in this test`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from |import\()\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = layerOf(resolve(dirname(file), m[1]!));
      if (target !== from && !allowed.includes(target)) violations.push(`${relative(SRC, file)} imports ${m[1]} (${from} -> ${target})`);
    }
  }
  expect(violations).toEqual([]);
});
