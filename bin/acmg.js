#!/usr/bin/env node
// Thin shim, CommonJS (bin/package.json) because Node starts a CommonJS file faster than an ES module.
// `acmg --version` alone is answered here, without loading the CLI at all. Otherwise it runs the
// bundle, dist/cli.cjs (scripts/build.mjs), with its V8 code cache when the cache is for this bundle
// and V8 accepts it (same Node and flags): the bundle is then not compiled again at each start.
'use strict';
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

if (process.argv.length === 3 && process.argv[2] === '--version') {
  process.stdout.write(`${JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version}\n`);
} else {
  const dist = join(__dirname, '..', 'dist');
  const file = join(dist, 'cli.cjs');
  let source;
  try {
    source = readFileSync(file, 'latin1'); // ASCII (scripts/build.mjs): a one-byte string, not decoded
  } catch (err) {
    if (err && err.code !== 'ENOENT') throw err;
    process.stderr.write('acmg: dist/cli.cjs is missing; run `npm run build` first\n');
    process.exit(2);
  }
  runBundle(source, file, dist);
}

function runBundle(source, file, dir) {
  const vm = require('node:vm');
  const Module = require('node:module');
  const id = /^\/\/ acmg build ([0-9a-f]{16})$/m.exec(source.slice(0, 64));
  const cacheFile = `${file}.cache`;
  let cachedData;
  try {
    const cache = readFileSync(cacheFile);
    if (id && cache.subarray(0, 16).toString('latin1') === id[1]) cachedData = cache.subarray(16);
  } catch {
    // No cache: V8 compiles the bundle.
  }
  // As Node wraps a CommonJS module, plus the one import() the bundle makes: the shim's, because
  // import() in a script compiled from a code cache fails on Node 20 (scripts/build.mjs).
  const wrapped = `(function (exports, require, module, __filename, __dirname, __acmgImport) {${source}\n})`;
  const script = new vm.Script(wrapped, { filename: file, cachedData });
  if (process.env.ACMG_WRITE_CODE_CACHE && id) {
    // scripts/build.mjs: after the run, when the functions it called are compiled too.
    process.once('exit', () => {
      writeFileSync(`${cacheFile}.${process.pid}.tmp`, Buffer.concat([Buffer.from(id[1], 'latin1'), script.createCachedData()]));
      renameSync(`${cacheFile}.${process.pid}.tmp`, cacheFile);
    });
  }
  const module = { exports: {}, id: file, filename: file, loaded: false };
  const load = (specifier) => import(specifier);
  script.runInThisContext().call(module.exports, module.exports, Module.createRequire(file), module, file, dir, load);
}
