// Each e2e file starts with no acmg process left over from an earlier file: a controller (sync
// --watch) or a migration still running would go on changing DNS and state under the next file's
// tests, which then fail far from the cause. Leftovers are stopped and named on stderr.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cluster.js';

const CLI = join(ROOT, 'bin', 'acmg.js');

function leftovers(): { pid: number; command: string }[] {
  const out: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue; // gone meanwhile
    }
    if (argv[1] === CLI) out.push({ pid, command: argv.slice(1).join(' ') });
  }
  return out;
}

beforeAll(() => {
  for (const p of leftovers()) {
    process.stderr.write(`[e2e] an acmg process left by an earlier test file was still running; stopping it: ${p.pid} ${p.command}\n`);
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
