// Bundles src/cli/main.ts into dist/ with esbuild.
// Everything a command needs at start is in one file; the Kubernetes client and the cluster code
// are split into chunks loaded with import() only by commands that talk to a cluster.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const t0 = Date.now();
await build({
  entryPoints: { cli: 'src/cli/main.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // client-node and its dependency tree stay in node_modules, loaded lazily.
  external: ['@kubernetes/client-node'],
  define: { __ACMG_VERSION__: JSON.stringify(pkg.version) },
  banner: {
    // Some bundled CommonJS dependencies call require(); give them one.
    js: "import { createRequire as __acmgCreateRequire } from 'node:module'; const require = __acmgCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
if (!process.env.CI && process.stdout.isTTY) console.log(`built dist/ in ${Date.now() - t0} ms`);
