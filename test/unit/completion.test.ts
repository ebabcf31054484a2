import { spawnSync } from 'node:child_process';
import { buildProgram } from '../../src/cli/program.js';
import { completionScript } from '../../src/cli/completion.js';

describe('shell completion', () => {
  test.each(['bash', 'zsh'] as const)('%s: the script is valid shell and lists every command', (shell) => {
    const script = completionScript(buildProgram(), shell);
    const check = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
    expect(check.stderr).toBe('');
    for (const cmd of ['install', 'migrate', 'rollback', 'verify-dns', 'sync', 'status', 'uninstall', 'precheck', 'profile', 'manifest', 'completion']) expect(script).toContain(cmd);
  });

  test('bash: completes subcommands and flags after a partial word', () => {
    const script = completionScript(buildProgram(), 'bash');
    const run = (words: string[]) =>
      spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _acmg_complete; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' }).stdout.trim().split('\n');
    expect(run(['acmg', 'mi'])).toEqual(['migrate']);
    expect(run(['acmg', 'migrate', '--keep'])).toEqual(['--keep-service']);
    expect(run(['acmg', 'profile', 'd'])).toEqual(['diff', 'dump']);
    expect(run(['acmg', 'install', '--profile', 'ha', '--dry'])).toEqual(['--dry-run']);
  });
});
