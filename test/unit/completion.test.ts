import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { renderChecklist } from '../../src/ui/checklist.js';
import { hunks, lineDiff } from '../../src/ui/diff.js';
import { buildProgram } from '../../src/cli/program.js';
import { completionScript } from '../../src/cli/completion.js';
import { ACMG, ensureBuilt, kubeconfigFor, runCli, silentServer } from './process.js';
import { stateConfigMap, stubApi } from './stub-api.js';

describe('shell completion', () => {
  test.each(['bash', 'zsh'] as const)('%s: the script is valid shell and lists every visible command', (shell) => {
    const script = completionScript(buildProgram(), shell);
    const check = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
    expect(check.stderr).toBe('');
    for (const cmd of [
      'install',
      'migrate',
      'rollback',
      'verify-dns',
      'sync',
      'status',
      'uninstall',
      'precheck',
      'profile',
      'manifest',
      'completion',
      'version',
      'help',
    ])
      expect(script).toContain(cmd);
    // The hidden command the scripts call is never offered.
    expect(script).not.toMatch(/words_for="[^"]*__complete/);
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
    expect(run(['acmg', 'vers'])).toEqual(['version']);
  });

  test('bash: arguments of commands: profile names after profile dump and diff, shells, command names after help', () => {
    const script = completionScript(buildProgram(), 'bash');
    const run = (words: string[]) =>
      spawnSync(
        'bash',
        [
          '-c',
          `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _acmg_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        {
          encoding: 'utf8',
        },
      )
        .stdout.trim()
        .split('\n');
    expect(run(['acmg', 'profile', 'dump', ''])).toEqual(['acmg', 'demo', 'empty', 'ha', 'minimal']);
    expect(run(['acmg', 'profile', 'diff', 'minimal', 'h'])).toEqual(['ha']);
    expect(run(['acmg', 'profile', 'dump', '--con'])).toEqual(['--config-path']);
    expect(run(['acmg', 'completion', ''])).toEqual(['bash', 'fish', 'zsh']);
    expect(run(['acmg', 'help', 'ma'])).toEqual(['manifest']);
  });
});

const hasFish = spawnSync('fish', ['--version']).status === 0;

describe('fish completion', () => {
  test('the script names every command and loads with: acmg completion fish | source', () => {
    const script = completionScript(buildProgram(), 'fish');
    expect(script.split('\n')[0]).toBe('# acmg fish completion. Load with: acmg completion fish | source');
    expect(script).toContain("complete -c acmg -f -a '(__acmg_complete)'");
    for (const cmd of [
      'install',
      'migrate',
      'rollback',
      'verify-dns',
      'sync',
      'status',
      'uninstall',
      'precheck',
      'profile dump',
      'manifest generate',
      'version',
    ])
      expect(script).toContain(`'${cmd}'`);
  });

  // fish is not on every machine (CI's image may lack it); where it is, fish itself parses and runs the script.
  (hasFish ? test : test.skip)('fish parses the script and completes commands, flags with their descriptions, and values', () => {
    const script = completionScript(buildProgram(), 'fish');
    const file = join(mkdtempSync(join(tmpdir(), 'acmg-fish-')), 'acmg.fish');
    writeFileSync(file, script);
    expect(spawnSync('fish', ['--no-execute', file], { encoding: 'utf8' }).stderr).toBe('');
    const complete = (line: string) => fishComplete(script, line);
    expect(complete('acmg pro')).toEqual(['profile\tlist, show and compare install profiles']);
    expect(complete('acmg profile d').map((l) => l.split('\t')[0])).toEqual(['diff', 'dump']);
    expect(complete('acmg profile dump ')).toEqual(['acmg', 'demo', 'empty', 'ha', 'minimal']);
    expect(complete('acmg migrate --keep')).toEqual(['--keep-service\tapproach 1: keep the Service, move only the traffic']);
    expect(complete('acmg install -p mi')).toEqual(['minimal']);
    expect(complete('acmg status -o ')).toEqual(['json', 'text', 'yaml']);
    expect(complete('acmg completion ')).toEqual(['bash', 'fish', 'zsh']);
  });
});

/** Completions fish offers for a command line (fish filters and sorts them), one "word<TAB>description" a line. */
function fishComplete(script: string, line: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'acmg-fish-'));
  writeFileSync(join(dir, 'acmg.fish'), script);
  const r = spawnSync('fish', ['--no-config', '-c', `source ${join(dir, 'acmg.fish')}; complete -C ${JSON.stringify(line)}`], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

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

describe('live completion: contexts, namespaces and migrated services, read when completing', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'acmg-live-'));
    // The scripts call acmg as the user typed it: an `acmg` on the PATH.
    const bin = join(dir, 'bin');
    spawnSync('mkdir', [bin]);
    symlinkSync(ACMG, join(bin, 'acmg'));
    env = { PATH: [bin, dirname(process.execPath), process.env.PATH].join(delimiter), HOME: '/nonexistent-home', KUBECONFIG: '' };
  });
  // Asynchronous: the stub API server answers from this process, which a synchronous spawn would block.
  const bash = async (words: string[], extra: Record<string, string> = {}) =>
    String(
      (
        await execa(
          'bash',
          [
            '-c',
            `${completionScript(buildProgram(), 'bash')}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _acmg_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
          ],
          { env: { ...process.env, ...env, ...extra }, reject: false },
        )
      ).stdout,
    )
      .split('\n')
      .filter(Boolean);
  const fish = async (line: string) => {
    const file = join(dir, 'acmg.fish');
    writeFileSync(file, completionScript(buildProgram(), 'fish'));
    const r = await execa('fish', ['--no-config', '-c', `source ${file}; complete -C ${JSON.stringify(line)}`], {
      env: { ...process.env, ...env },
      reject: false,
    });
    return String(r.stdout).split('\n').filter(Boolean);
  };

  test('contexts after --context, from --kubeconfig on the line or from KUBECONFIG, with no cluster asked', async () => {
    const kc = join(dir, 'contexts.yaml');
    writeFileSync(
      kc,
      `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:1" } }]
users: [{ name: u, user: { token: t } }]
contexts:
- { name: staging, context: { cluster: c, user: u } }
- { name: prod, context: { cluster: c, user: u } }
current-context: prod
`,
    );
    expect(await bash(['acmg', 'status', '--kubeconfig', kc, '--context', ''])).toEqual(['prod', 'staging']);
    expect(await bash(['acmg', 'status', '--context', 'st'], { KUBECONFIG: kc })).toEqual(['staging']);
    expect((await runCli(['__complete', 'contexts', '--kubeconfig', kc])).stdout).toBe('prod\nstaging\n');
    if (hasFish) expect(await fish(`acmg status --kubeconfig ${kc} --context `)).toEqual(['prod', 'staging']);
  });

  test('namespaces after -n and the migrated services of that namespace, from the cluster', async () => {
    const migration = (namespace: string, service: string) => ({
      namespace,
      service,
      approach: 'keep-service',
      phase: 'complete',
      fqdn: `${service}.${namespace}.svc.cluster.local`,
      ports: [{ name: 'http', port: 80, protocol: 'HTTP' }],
      journal: ['gateway-ports', 'route', 'dns'],
    });
    const api = await stubApi(
      {
        '/api/v1/namespaces/istio-system/configmaps/acmg-state': stateConfigMap({
          version: '0.1.0',
          migrations: { 'shop/web': migration('shop', 'web'), 'shop/db': migration('shop', 'db'), 'default/hello': migration('default', 'hello') },
        }),
      },
      {
        '/api/v1/namespaces': ['shop', 'default', 'kube-system'].map((name) => ({ metadata: { name } })),
        '/api/v1/namespaces/istio-system/configmaps': [],
      },
    );
    try {
      const kc = kubeconfigFor(api.url, 'stub', dir);
      expect(await bash(['acmg', 'rollback', '--kubeconfig', kc, '-n', ''])).toEqual(['default', 'kube-system', 'shop']);
      expect(await bash(['acmg', 'rollback', '--kubeconfig', kc, '-n', 'shop', ''])).toEqual(['db', 'web']);
      expect(await bash(['acmg', 'verify-dns', '--kubeconfig', kc, ''])).toEqual(['hello']);
      expect(await bash(['acmg', 'rollback', '--kubeconfig', kc, '-n', 'shop', '--a'])).toEqual(['--all']);
      if (hasFish) expect(await fish(`acmg rollback --kubeconfig ${kc} -n shop `)).toEqual(['db', 'web']);
      expect(api.requests.every((x) => x.startsWith('GET '))).toBe(true);
    } finally {
      await api.close();
    }
  });

  test('a cluster that does not answer completes nothing, in under 2.5 s', async () => {
    const silent = await silentServer();
    try {
      const kc = kubeconfigFor(`http://127.0.0.1:${silent.port}`, 'silent', dir);
      const t0 = Date.now();
      expect(await bash(['acmg', 'rollback', '--kubeconfig', kc, '-n', ''])).toEqual([]);
      expect(Date.now() - t0).toBeLessThan(2500);
      const r = await runCli(['__complete', 'services', '--kubeconfig', kc]);
      expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
      expect(r.ms).toBeLessThan(2500);
    } finally {
      await silent.close();
    }
  });

  test('no kubeconfig, or an unknown kind: nothing, exit 0, and the command is not in the help', async () => {
    expect(await runCli(['__complete', 'namespaces'], { env: { KUBECONFIG: '', HOME: '/nonexistent-home' } })).toMatchObject({
      code: 0,
      stdout: '',
      stderr: '',
    });
    expect(await runCli(['__complete', 'pods'])).toMatchObject({ code: 0, stdout: '' });
    expect((await runCli(['--help'])).stdout).not.toContain('__complete');
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
