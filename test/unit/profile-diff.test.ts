// `acmg profile diff` prints a unified diff that patch(1) applies: patching one profile's spec
// with it gives the other's.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ensureBuilt, runCli } from './process.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'acmg-profile-diff-'));
});

describe('profile diff', () => {
  test('profile diff is a unified diff that patch applies', async () => {
    const left = (await runCli(['profile', 'dump', 'minimal'])).stdout;
    const right = (await runCli(['profile', 'dump', 'ha'])).stdout;
    const diff = await runCli(['profile', 'diff', 'minimal', 'ha']);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(/^@@ -\d+,\d+ \+\d+,\d+ @@$/m);
    // profile diff compares the specs: rebuild both sides from the dumps' spec sections.
    const spec = (y: string) =>
      `${y
        .slice(y.indexOf('spec:\n') + 'spec:\n'.length)
        .split('\n')
        .map((l) => l.slice(2))
        .join('\n')
        .trimEnd()}\n`;
    const file = join(dir, 'minimal.yaml');
    writeFileSync(file, spec(left));
    const p = await execa('patch', [file], { input: diff.stdout, reject: false });
    expect(p.stderr).toBe('');
    expect(p.exitCode).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(spec(right));
  });
});
