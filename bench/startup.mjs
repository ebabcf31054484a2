// Cold-start benchmark: median wall time of whole CLI processes (what a user waits for).
// Targets: issue #3, `acmg --version` <= 100 ms and `acmg manifest generate` <= 200 ms; issue #25,
// relative to the runtime alone, `--version` within 1.1x of `node -e 0` and `manifest generate`
// within 1.3x. The commands run in interleaved rounds (one of each per round), so a machine busy
// with something else slows them alike and the ratios hold.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const runs = Number(process.env.RUNS ?? 21);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const commands = [
  { name: 'node -e 0 (baseline)', args: ['-e', '0'] },
  { name: 'acmg --version', args: ['bin/acmg.js', '--version'], target: 100, ratio: 1.1 },
  { name: 'acmg manifest generate', args: ['bin/acmg.js', 'manifest', 'generate'], target: 200, ratio: 1.3 },
];
const times = commands.map(() => []);
for (let i = 0; i < runs + 2; i++)
  commands.forEach((c, k) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, c.args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${c.args.join(' ')} failed: ${r.stderr}`);
    if (i >= 2) times[k].push(Number(process.hrtime.bigint() - t0) / 1e6); // 2 warm-up rounds
  });
const baseline = median(times[0]);

// The bundle must not load @kubernetes/client-node at start: only an import() in a command may.
const cli = readFileSync(join(root, 'dist', 'cli.cjs'), 'utf8');
const eager = /require\(\s*["']@kubernetes\/client-node["']\s*\)/.test(cli);
// Its import() goes through the shim's (scripts/build.mjs): `... import(s))("@kubernetes/client-node")`.
const lazy = (cli.match(/\bimport\(s\)\)\(\s*["']@kubernetes\/client-node["']\s*\)/g) ?? []).length;

console.log(`startup (median of ${runs} interleaved rounds):`);
commands.forEach((c, k) => {
  const ms = median(times[k]);
  const x = ms / baseline;
  const targets = c.target
    ? `   <= ${c.target} ms: ${ms <= c.target ? 'met' : 'MISSED'}; ${x.toFixed(2)}x node, <= ${c.ratio}x: ${x <= c.ratio ? 'met' : 'MISSED'}`
    : '';
  console.log(`  ${c.name.padEnd(26)} ${ms.toFixed(1).padStart(7)} ms${targets}`);
});
console.log(`  @kubernetes/client-node required at start: ${eager ? 'YES (regression)' : 'no'}; import() of it in dist/cli.cjs: ${lazy}`);
