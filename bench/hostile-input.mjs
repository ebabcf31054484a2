// Hostile input (issue #13): how fast and in how much memory acmg refuses what it must not read
// whole. Each case is a whole CLI process under /usr/bin/time (wall time and peak RSS).
// Targets: every case refused with exit 2 in under 1 s, under 150 MB peak RSS, under 4 KB of stderr.
// (Before #13: the alias bomb took 37 s, 2.8 GB and printed 1.6 GB; -f /dev/zero grew to 4 GB.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'acmg-bench-hostile-'));
const file = (name, text) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const names = 'abcdefghi';
const bomb = [
  `a: &a [${Array(9).fill('"x"').join(',')}]`,
  ...[...names].slice(1).map((n, i) => `${n}: &${n} [${Array(9).fill(`*${names[i]}`).join(',')}]`),
  'spec:',
  '  gateway:',
  '    ports: *i',
].join('\n');

const cases = [
  ['alias bomb (9^9 values) in -f', ['manifest', 'generate', '-f', file('bomb.yaml', bomb)]],
  ['-f /dev/zero', ['manifest', 'generate', '-f', '/dev/zero']],
  ['-f of 50 MB', ['manifest', 'generate', '-f', file('big.yaml', `# ${'x'.repeat(50 * 1024 * 1024)}\n`)]],
  [
    '5,000 invalid list items',
    ['manifest', 'generate', '-f', file('many.yaml', `gateway:\n  ports: [${Array(5000).fill('{name: p, port: 99999}').join(',')}]\n`)],
  ],
  ['--set of 100 KB (Linux allows 128 KB an argument)', ['manifest', 'generate', '--set', `gateway.name=${'y'.repeat(100 * 1024)}`]],
];

const rows = [];
for (const [name, args] of cases) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, 'bin/acmg.js', ...args], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const lines = r.stderr.trimEnd().split('\n');
  const [secs, kb] = lines.pop().split(' ').map(Number);
  const stderrBytes = Buffer.byteLength(lines.join('\n'));
  rows.push({
    case: name,
    exit: r.status,
    seconds: secs,
    peakMiB: Math.round(kb / 1024),
    stderrBytes,
    ok: r.status === 2 && secs < 1 && kb / 1024 < 150 && stderrBytes < 4096,
  });
}
console.table(rows);
if (rows.some((r) => !r.ok)) {
  console.error('hostile-input: a target was missed');
  process.exitCode = 1;
}
