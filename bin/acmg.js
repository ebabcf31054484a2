#!/usr/bin/env node
// Thin shim: the CLI is bundled into dist/ by `npm run build` for a fast start.
import('../dist/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
    process.stderr.write('acmg: dist/cli.js is missing; run `npm run build` first\n');
    process.exit(2);
  }
  throw err;
});
