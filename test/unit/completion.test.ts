import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderChecklist } from '../../src/ui/checklist.js';
import { hunks, lineDiff } from '../../src/ui/diff.js';
import { buildProgram } from '../../src/cli/program.js';
import { completionScript } from '../../src/cli/completion.js';

describe('shell completion', () => {
  test.each(['bash', 'zsh'] as const)('%s: the script is valid shell and lists every command', (shell) => {
    const script = completionScript(buildProgram(), shell);
    const check = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
    expect(check.stderr).toBe('');
    for (const cmd of ['install', 'migrate', 'rollback', 'verify-dns', 'sync', 'status', 'uninstall', 'precheck', 'profile', 'manifest', 'completion'])
      expect(script).toContain(cmd);
  });

  test('bash: completes subcommands and flags after a partial word', () => {
    const script = completionScript(buildProgram(), 'bash');
    const run = (words: string[]) =>
      spawnSync(
        'bash',
        [
          '-c',
          `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _acmg_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { encoding: 'utf8' },
      )
        .stdout.trim()
        .split('\n');
    expect(run(['acmg', 'mi'])).toEqual(['migrate']);
    expect(run(['acmg', 'migrate', '--keep'])).toEqual(['--keep-service']);
    expect(run(['acmg', 'profile', 'd'])).toEqual(['diff', 'dump']);
    expect(run(['acmg', 'install', '--profile', 'ha', '--dry'])).toEqual(['--dry-run']);
  });
});

describe('completion of flag values', () => {
  const script = completionScript(buildProgram(), 'bash');
  const run = (words: string[], cwd?: string) =>
    spawnSync(
      'bash',
      [
        '-c',
        `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _acmg_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { encoding: 'utf8', cwd },
    )
      .stdout.trim()
      .split('\n');

  test('--profile and -p complete profile names', () => {
    expect(run(['acmg', 'install', '--profile', ''])).toEqual(['acmg', 'demo', 'empty', 'ha', 'minimal']);
    expect(run(['acmg', 'manifest', 'generate', '-p', 'mi'])).toEqual(['minimal']);
  });

  test('-f, --kubeconfig and --junit complete file names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'acmg-compl-'));
    writeFileSync(join(dir, 'values-a.yaml'), '');
    writeFileSync(join(dir, 'values-b.yaml'), '');
    expect(run(['acmg', 'install', '-f', 'val'], dir).sort()).toEqual(['values-a.yaml', 'values-b.yaml']);
    expect(run(['acmg', 'status', '--kubeconfig', 'values-a'], dir)).toEqual(['values-a.yaml']);
    expect(run(['acmg', 'verify-dns', '--junit', 'values-b'], dir)).toEqual(['values-b.yaml']);
  });
});

describe('plural counts and GNU diff line ranges', () => {
  test('one warning is "1 warning"', () => {
    const text = renderChecklist([
      { category: 'c', check: 'x', status: 'warn' },
      { category: 'c', check: 'y', status: 'ok' },
    ]);
    expect(text).toContain('(1 warning)');
    expect(
      renderChecklist([
        { category: 'c', check: 'x', status: 'warn' },
        { category: 'c', check: 'y', status: 'warn' },
      ]),
    ).toContain('(2 warnings)');
  });

  test('diff hunks carry GNU unified-diff line ranges', () => {
    const a = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'];
    const b = ['1', '2', 'X', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13'];
    expect(hunks(lineDiff(a, b)).map((h) => [h.aStart, h.aCount, h.bStart, h.bCount])).toEqual([
      [1, 6, 1, 6],
      [10, 3, 10, 4],
    ]);
    expect(hunks(lineDiff([], ['a'])).map((h) => [h.aStart, h.aCount, h.bStart, h.bCount])).toEqual([[0, 0, 1, 1]]);
  });
});
