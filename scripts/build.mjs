// Bundles src/cli/main.ts into one CommonJS file, dist/cli.cjs, with esbuild, and a V8 code cache of
// it, dist/cli.cjs.cache, which bin/acmg.js hands to V8 so that a start does not compile the bundle
// again (Node 20 has no compile cache of its own, and caches no ES module code: hence CommonJS).
// The Kubernetes client stays out (external): only commands that talk to a cluster import() it.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const bundle = join(dist, 'cli.cjs');
// The build id's placeholder has the id's length, so the source map's lines and columns stay right.
const PLACEHOLDER = `// acmg build ${'0'.repeat(16)}`;
const t0 = Date.now();
const out = await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // client-node and its dependency tree stay in node_modules, loaded lazily.
  external: ['@kubernetes/client-node'],
  define: { __ACMG_VERSION__: JSON.stringify(pkg.version), 'import.meta.url': '__acmgModuleUrl' },
  banner: { js: `${PLACEHOLDER}\nconst __acmgModuleUrl = require('node:url').pathToFileURL(__filename).href;` },
  logLevel: 'warning',
  write: false,
});
// The cache is V8's for one source text: it starts with the bundle's build id, and the shim uses
// it only for the bundle with that id (V8 itself checks little more than the source's length).
// import() in a script compiled from a code cache fails on Node 20 ("A dynamic import callback was
// not specified"), so the bundle's one import(), of the client, calls the shim's when it has one.
const LAZY = 'import("@kubernetes/client-node")';
const built = out.outputFiles.find((f) => f.path.endsWith('cli.cjs')).text;
if (built.split(LAZY).length !== 2) throw new Error(`scripts/build.mjs: expected one ${LAZY} in dist/cli.cjs`);
// ASCII only, so that the shim reads it as latin1 into a one-byte string: esbuild leaves a few
// characters in comments and regular expressions, which make the whole text a two-byte string, decoded
// from UTF-8 at each start (2.6 times as long). \uXXXX means the same in strings and regular expressions.
const text = built
  .replace(LAZY, '(typeof __acmgImport === "function" ? __acmgImport : (s) => import(s))("@kubernetes/client-node")')
  .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const id = createHash('sha256').update(text).digest('hex').slice(0, 16);
// Each file is renamed into place whole: tests and other builds may run acmg from dist/ meanwhile.
const put = (path, data) => {
  writeFileSync(`${path}.${process.pid}.tmp`, data);
  renameSync(`${path}.${process.pid}.tmp`, path);
};
mkdirSync(dist, { recursive: true });
for (const f of out.outputFiles) if (!f.path.endsWith('cli.cjs')) put(f.path, f.contents);
put(bundle, text.replace(PLACEHOLDER, `// acmg build ${id}`));
// Written after a run of `manifest generate`, so it holds the functions a start compiles, not only
// the top level. Without it (or for another Node), acmg starts as fast as V8 compiles.
const run = spawnSync(process.execPath, [new URL('../bin/acmg.js', import.meta.url).pathname, 'manifest', 'generate'], {
  env: { ...process.env, ACMG_WRITE_CODE_CACHE: '1' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (run.status !== 0) throw new Error('scripts/build.mjs: writing the code cache failed (acmg manifest generate)');
// Files of earlier builds (the chunks of the ES module build before it) go.
for (const f of readdirSync(dist)) if (!/^cli\.cjs(\.map|\.cache)?$/.test(f) && !f.endsWith('.tmp')) rmSync(join(dist, f), { force: true });
if (!process.env.CI && process.stdout.isTTY) console.log(`built dist/ in ${Date.now() - t0} ms`);
