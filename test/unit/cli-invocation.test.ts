// How acmg is invoked (issue #26, point 4): `acmg help <command> <subcommand>` shows that
// subcommand's help, and as the kubectl plugin (an executable named kubectl-acmg, which kubectl runs
// for `kubectl acmg`) help, examples and hints say `kubectl acmg`.
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { invokedName, mentionSelf, setSelfName } from '../../src/ui/self-name.js';
import { ACMG, ensureBuilt, runCli } from './process.js';

let plugin: string;
beforeAll(() => {
  ensureBuilt();
  plugin = join(mkdtempSync(join(tmpdir(), 'acmg-plugin-')), 'kubectl-acmg');
  symlinkSync(ACMG, plugin);
});

/** The CLI run through a symlink named kubectl-acmg, as kubectl runs a plugin. */
async function asPlugin(args: string[]) {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1', KUBECONFIG: '', HOME: '/nonexistent-home' };
  const r = await execa(process.execPath, [plugin, ...args], { env, extendEnv: false, reject: false, input: '' });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe('acmg help <command...>', () => {
  test("help manifest generate shows generate's help, as manifest generate --help does", async () => {
    const viaHelp = await runCli(['help', 'manifest', 'generate']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toMatch(/^Usage: acmg manifest generate \[options\]/);
    expect(viaHelp.stdout).toBe((await runCli(['manifest', 'generate', '--help'])).stdout);
  });

  test('help alone is the top-level help; help of a command is its help', async () => {
    expect((await runCli(['help'])).stdout).toBe((await runCli(['--help'])).stdout);
    expect((await runCli(['help', 'rollback'])).stdout).toMatch(/^Usage: acmg rollback \[options\] \[service\.\.\.\]/);
    expect((await runCli(['profile', 'help', 'dump'])).stdout).toMatch(/^Usage: acmg profile dump/);
  });

  test('an unknown command is exit 2, naming it', async () => {
    const r = await runCli(['help', 'manifest', 'nope']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/error: unknown command "manifest nope"\nhint: acmg manifest --help lists the commands/);
  });
});

describe('invoked as kubectl acmg', () => {
  test('the name comes from argv[1]: kubectl-acmg is the plugin, anything else is acmg', () => {
    expect(invokedName('/usr/local/bin/kubectl-acmg')).toBe('kubectl acmg');
    expect(invokedName('/opt/acmg/bin/kubectl-acmg.js')).toBe('kubectl acmg');
    expect(invokedName('/work/bin/acmg.js')).toBe('acmg');
    expect(invokedName('/usr/bin/kubectl-acmgx')).toBe('acmg');
    expect(invokedName(undefined)).toBe('acmg');
  });

  test("mentions of acmg's commands are rewritten, once; other uses of the word are not", () => {
    try {
      setSelfName('kubectl acmg', ['install', 'status', 'verify-dns']);
      expect(mentionSelf("run acmg install first; acmg's state in acmg-system (`acmg status`, 'acmg verify-dns')")).toBe(
        "run kubectl acmg install first; acmg's state in acmg-system (`kubectl acmg status`, 'kubectl acmg verify-dns')",
      );
      expect(mentionSelf('kubectl acmg install')).toBe('kubectl acmg install');
      expect(mentionSelf('acmg installs the gateway; acmg.io/version')).toBe('acmg installs the gateway; acmg.io/version');
    } finally {
      setSelfName('acmg', []);
    }
    expect(mentionSelf('run acmg install first')).toBe('run acmg install first');
  });

  test('help and examples say kubectl acmg', async () => {
    const top = await asPlugin(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: kubectl acmg \[options\] \[command\]/);
    expect(top.stdout).toMatch(/Docs: kubectl acmg <command> --help, or kubectl acmg help <command>/);
    const install = await asPlugin(['help', 'install']);
    expect(install.stdout).toMatch(/^Usage: kubectl acmg install \[options\]/);
    expect(install.stdout).toMatch(/Examples:\n {2}kubectl acmg install -y\n/);
    expect(install.stdout).not.toMatch(/(^|[^l] )acmg install/m);
  });

  test('errors and hints say kubectl acmg', async () => {
    const r = await asPlugin(['rollback', '--all', '--dry-run=server']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: kubectl acmg rollback --dry-run=server is not supported/);
    expect(r.stderr).toMatch(/hint: kubectl acmg rollback --dry-run \(the same as --dry-run=client\)/);
  });

  test('as acmg, nothing says kubectl', async () => {
    expect((await runCli(['help', 'install'])).stdout).not.toContain('kubectl acmg');
  });
});
