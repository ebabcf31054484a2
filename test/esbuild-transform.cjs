// Jest transformer: TypeScript -> ESM JavaScript with esbuild (type checking is `npm run typecheck`).
const { transformSync } = require('esbuild');
const { createHash } = require('node:crypto');

module.exports = {
  getCacheKey(source, path) {
    return createHash('sha1').update(source).update(path).update('v1').digest('hex');
  },
  process(source, path) {
    const out = transformSync(source, {
      loader: 'ts',
      format: 'esm',
      target: 'node20',
      sourcemap: 'inline',
      sourcefile: path,
      define: { __ACMG_VERSION__: '"0.0.0-test"' },
    });
    return { code: out.code };
  },
};
