#!/usr/bin/env node
// Lays out the controller image's /app from a built checkout (after `npm ci && npm run build`):
// exactly what deploy/controller/Containerfile copies, and nothing else.
//
//   package.json    name, version and "type": "module" (the shim prints the version)
//   bin/            the shim the image runs, bin/acmg.js, and bin/package.json (it is CommonJS)
//   dist/           the bundle, dist/cli.cjs, and its V8 code cache, without the source map
//   profiles/       the install profiles (values come from them at run time)
//   node_modules/   only what the bundle leaves out (scripts/build.mjs's `external`) and what those
//                   packages load, as npm installed them in this checkout (types-only @types/* packages,
//                   type declarations, TypeScript sources and source maps left out)
//
// Usage: node deploy/controller/stage.mjs OUTDIR   (OUTDIR must not exist or be empty)
// Exit 2 when the checkout is not built or a package the bundle needs is not installed.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function fail(message) {
  process.stderr.write(`stage: ${message}\n`);
  process.exit(2);
}

/** The packages scripts/build.mjs keeps out of the bundle (its `external` list). */
export function externals(root = ROOT) {
  const text = readFileSync(join(root, 'scripts', 'build.mjs'), 'utf8');
  const list = /external:\s*\[([^\]]*)\]/.exec(text);
  if (!list) throw new Error('scripts/build.mjs has no `external: [...]` list');
  return [...list[1].matchAll(/['"]([^'"]+)['"]/g)].map((m) => m[1]);
}

/** The bundle (one file: scripts/build.mjs) and its code cache, when the build wrote one. */
export function bundleFiles(root = ROOT) {
  const dist = join(root, 'dist');
  if (!existsSync(join(dist, 'cli.cjs'))) throw new Error('dist/cli.cjs is missing: run `npm run build` first');
  return ['cli.cjs', ...(existsSync(join(dist, 'cli.cjs.cache')) ? ['cli.cjs.cache'] : [])];
}

/** Where Node finds package `name` from directory `from` (its node_modules, then each parent's, up to root). */
function findPackage(root, from, name) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dirname(dir) === dir) return undefined;
  }
}

/** The installed package directories the externals load at run time (relative to root), sorted. */
export function runtimePackages(root = ROOT, wanted = externals(root)) {
  const found = new Map();
  const visit = (from, name, optional, by) => {
    if (name.startsWith('@types/')) return;
    const dir = findPackage(root, from, name);
    if (!dir) {
      if (optional) return;
      throw new Error(`${name} (needed by ${by}) is not installed: run \`npm ci\` first`);
    }
    const rel = relative(root, dir).split(sep).join('/');
    if (found.has(rel)) return;
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    found.set(rel, pkg.version);
    const optionalPeers = pkg.peerDependenciesMeta ?? {};
    for (const d of Object.keys(pkg.dependencies ?? {})) visit(dir, d, false, name);
    for (const d of Object.keys(pkg.optionalDependencies ?? {})) visit(dir, d, true, name);
    for (const d of Object.keys(pkg.peerDependencies ?? {})) visit(dir, d, Boolean(optionalPeers[d]?.optional), name);
  };
  for (const name of wanted) visit(root, name, false, 'the bundle (scripts/build.mjs external)');
  return [...found.keys()].sort();
}

/** Type declarations, TypeScript sources and source maps: nothing Node loads at run time. */
const TYPES_AND_MAPS = /\.(d\.[cm]?ts|[cm]?ts|map)$/;

/** Writes the image's /app into out; returns the files and directories written, relative to out. */
export function stage(out, root = ROOT) {
  if (existsSync(out) && readdirSync(out).length) throw new Error(`${out} is not empty`);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const files = bundleFiles(root);
  const packages = runtimePackages(root);
  mkdirSync(join(out, 'bin'), { recursive: true });
  mkdirSync(join(out, 'dist'), { recursive: true });
  const manifest = { name: pkg.name, version: pkg.version, description: pkg.description, license: pkg.license, type: pkg.type, private: true };
  writeFileSync(join(out, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const f of ['acmg.js', 'package.json']) cpSync(join(root, 'bin', f), join(out, 'bin', f));
  for (const f of files) cpSync(join(root, 'dist', f), join(out, 'dist', f));
  cpSync(join(root, 'profiles'), join(out, 'profiles'), { recursive: true, filter: (src) => !src.endsWith('~') });
  for (const p of packages) {
    const src = join(root, p);
    // A package's own node_modules holds other packages, each copied only if it is reached.
    cpSync(src, join(out, p), {
      recursive: true,
      dereference: true,
      filter: (s) => !relative(src, s).split(sep).includes('node_modules') && !TYPES_AND_MAPS.test(s),
    });
  }
  return { files: ['package.json', 'bin/acmg.js', 'bin/package.json', ...files.map((f) => `dist/${f}`), 'profiles/'], packages };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) fail('usage: node deploy/controller/stage.mjs OUTDIR');
  try {
    const r = stage(resolve(out));
    process.stdout.write(`staged ${r.files.length - 1} files, profiles/ and ${r.packages.length} runtime packages in ${out}\n`);
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
}
