// Cold-start benchmark: median wall time of whole CLI processes (what a user waits for).
// Targets (issue #3): `acmg --version` <= 100 ms, `acmg manifest generate` <= 200 ms.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const runs = Number(process.env.RUNS ?? 21);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function time(args) {
  const out = [];
  for (let i = 0; i < runs + 2; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
    if (i >= 2) out.push(Number(process.hrtime.bigint() - t0) / 1e6); // 2 warm-up runs
  }
  return median(out);
}

const baseline = time(['-e', '0']);
const version = time(['bin/acmg.js', '--version']);
const manifest = time(['bin/acmg.js', 'manifest', 'generate']);
// The startup bundle must not pull in @kubernetes/client-node; only the lazy chunks may.
const cli = readFileSync(join(root, 'dist', 'cli.js'), 'utf8');
const eager = /from\s*["']@kubernetes\/client-node["']/.test(cli);
const lazy = readdirSync(join(root, 'dist')).filter(
  (f) => f.endsWith('.js') && readFileSync(join(root, 'dist', f), 'utf8').includes('@kubernetes/client-node'),
);

const rows = [
  ['node -e 0 (baseline)', baseline, null],
  ['acmg --version', version, 100],
  ['acmg manifest generate', manifest, 200],
];
console.log(`startup (median of ${runs} runs):`);
for (const [name, ms, target] of rows)
  console.log(`  ${name.padEnd(26)} ${ms.toFixed(1).padStart(7)} ms${target ? `   target <= ${target} ms: ${ms <= target ? 'met' : 'MISSED'}` : ''}`);
console.log(`  @kubernetes/client-node in the startup bundle: ${eager ? 'YES (regression)' : 'no'}; loaded lazily from: ${lazy.join(', ') || 'nowhere'}`);
