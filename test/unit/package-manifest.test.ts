// package.json as npm publishes it: a user's `npm install -g acmg` installs only what the bundle
// leaves out (scripts/build.mjs's `external`, loaded lazily from node_modules), not again what
// dist/cli.cjs already holds; and the package says what it is about (keywords).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './process.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  keywords?: string[];
};
const externals = [...readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8').matchAll(/external:\s*\[([^\]]*)\]/g)].flatMap((m) =>
  [...m[1]!.matchAll(/['"]([^'"]+)['"]/g)].map((x) => x[1]!),
);

test("dependencies are exactly the bundle's externals: what dist/cli.cjs holds is not installed again", () => {
  expect(Object.keys(pkg.dependencies ?? {}).sort()).toEqual([...externals].sort());
});

test('keywords name what acmg is about', () => {
  expect(pkg.keywords).toEqual(expect.arrayContaining(['istio', 'kubernetes']));
});
