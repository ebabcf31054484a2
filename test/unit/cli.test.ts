// The built CLI as a user runs it (no cluster): exit codes, stdout/stderr discipline, determinism.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = process.cwd();
const run = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'acmg.js'), ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'cli.cjs'))) spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
});

describe('acmg CLI without a cluster', () => {
  test('--version and --help exit 0; help shows examples and exit codes', () => {
    expect(run(['--version'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes: 0 ok, 1 a check failed, 2 bad usage or input, 3 cluster or network error/);
    for (const cmd of ['install', 'migrate', 'rollback', 'verify-dns', 'sync', 'status', 'uninstall', 'precheck']) {
      expect(run([cmd, '--help']).stdout).toMatch(/Examples:\n {2}acmg /);
    }
  });

  test('bad input: exit 2, one line per problem on stderr, nothing on stdout', () => {
    const r = run(['manifest', 'generate', '--set', 'gateway.replicaz=3', '--set', 'gateway.ports[0].port=70000']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error: '))).toEqual([
      'error: gateway.ports[0].port: 70000 is out of range (1..65535)',
      'error: gateway.replicaz: unknown field (did you mean "gateway.replicas"?)',
    ]);
    expect(run(['manifest', 'generate', '--profile', 'nope'])).toMatchObject({ code: 2, stdout: '' });
    expect(run(['manifest', 'generate', '-o', 'xml'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/invalid --output "xml": use one of yaml, json/),
    });
    expect(run(['instal'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/Did you mean install\?/) });
    expect(run(['install', '--bogus'])).toMatchObject({ code: 2 });
    expect(run(['completion', 'tcsh'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unsupported shell "tcsh": use bash, zsh or fish/) });
  });

  test('commands that need a cluster say how to point at one when there is no kubeconfig', () => {
    const r = run(['status'], { KUBECONFIG: '', HOME: '/nonexistent-home' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no kubeconfig found/);
  });

  test('manifest generate: the same bytes every run, YAML and JSON', () => {
    const a = run(['manifest', 'generate', '--profile', 'ha']);
    const b = run(['manifest', 'generate', '--profile', 'ha']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.startsWith('---\napiVersion: v1\nkind: ServiceAccount\n')).toBe(true);
    const json = JSON.parse(run(['manifest', 'generate', '-o', 'json']).stdout);
    expect(json.kind).toBe('List');
    expect(json.items.map((o: any) => o.kind)).toEqual(['ServiceAccount', 'ConfigMap', 'Service', 'Deployment', 'PodDisruptionBudget', 'Gateway']);
  });

  test('profile list/dump/diff', () => {
    expect(run(['profile', 'list']).stdout).toMatch(/^PROFILE\s+DESCRIPTION\nacmg \(default\)/);
    expect(run(['profile', 'dump', 'ha', '--config-path', 'gateway.replicas']).stdout).toBe('3\n');
    expect(run(['profile', 'dump', '--config-path', 'gateway.nope'])).toMatchObject({ code: 2 });
    expect(run(['profile', 'diff', 'acmg', 'acmg'])).toMatchObject({ code: 0, stdout: '' });
    expect(run(['profile', 'diff', 'minimal', 'ha'])).toMatchObject({ code: 1, stdout: expect.stringMatching(/^--- profile minimal\n\+\+\+ profile ha\n/) });
  });
});
