#!/usr/bin/env node
// Thin shim: the CLI is bundled into dist/ by `npm run build` for a fast start.
// `acmg --version` alone is answered here, without loading the CLI at all.
if (process.argv.length === 3 && process.argv[2] === '--version') {
  const { readFileSync } = await import('node:fs');
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  await import('../dist/cli.js').catch((err) => {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
      process.stderr.write('acmg: dist/cli.js is missing; run `npm run build` first\n');
      process.exit(2);
    }
    throw err;
  });
}
