// Issue #13: acmg tried as an adversary would, as processes, without a cluster (a stub TCP server
// stands in where an API server must hang or must never be called). Each test failed before #13.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ensureBuilt, inTerminal, kubeconfigFor, runCli, silentServer } from './process.js';

const ESC = '\x1b[';
let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'acmg-hardening-'));
});

const writeFileAt = (name: string) => {
  const f = join(dir, name);
  writeFileSync(f, '');
  return f;
};

describe('1. long waits end; signals always stop acmg', () => {
  test('a TTY with 0 columns: install ends with the request timeout, writing little (it looped forever)', async () => {
    const api = await silentServer();
    try {
      const kc = kubeconfigFor(`https://127.0.0.1:${api.port}`, 'zero-cols', dir);
      const r = await inTerminal(['install', '-y', '--kubeconfig', kc, '--request-timeout', '2s'], { timeoutMs: 20_000 });
      expect(r.timedOut).toBe(false);
      expect(r.exitCode).toBe(3);
      expect(String(r.stdout).length).toBeLessThan(20_000);
      expect(String(r.stdout)).toMatch(/did not answer within 2s/);
      expect(api.connections()).toBeGreaterThan(0);
    } finally {
      await api.close();
    }
  });

  test('a TTY 80 columns wide: the spinner runs and the command still ends', async () => {
    const api = await silentServer();
    try {
      const kc = kubeconfigFor(`https://127.0.0.1:${api.port}`, 'wide', dir);
      const r = await inTerminal(['install', '-y', '--kubeconfig', kc, '--request-timeout', '2s'], { cols: 80, timeoutMs: 20_000 });
      expect(r.exitCode).toBe(3);
      expect(String(r.stdout)).toContain('precheck and plan'); // the spinner's text
      expect(String(r.stdout).length).toBeLessThan(50_000);
    } finally {
      await api.close();
    }
  });

  test.each([
    ['SIGTERM', 143],
    ['SIGHUP', 129],
    ['SIGINT', 130],
  ] as const)('%s stops a command waiting on a silent API server (spinner on a 0-column TTY)', async (signal, code) => {
    const api = await silentServer();
    try {
      const kc = kubeconfigFor(`https://127.0.0.1:${api.port}`, 'sig', dir);
      const child = inTerminal(['install', '-y', '--kubeconfig', kc, '--request-timeout', '0'], { timeoutMs: 20_000 });
      // Wait until acmg is waiting on the API server, then signal acmg itself (script's child).
      const t0 = Date.now();
      while (api.connections() === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
      expect(api.connections()).toBeGreaterThan(0);
      const { stdout: pid } = await execa('pgrep', ['-P', String(child.pid)]);
      const sent = Date.now();
      process.kill(Number(pid.trim()), signal);
      const r = await child;
      expect(Date.now() - sent).toBeLessThan(3000);
      expect(r.exitCode).toBe(code);
      expect(String(r.stdout)).toContain(`interrupted (${signal})`);
    } finally {
      await api.close();
    }
  });
});

describe('2. sync --watch with an unreachable API server', () => {
  test('retries with backoff, counts the errors, fails liveness after --unhealthy-after, stops on SIGTERM', async () => {
    const kc = kubeconfigFor('https://127.0.0.1:1', 'down', dir); // nothing listens on port 1
    const child = execa(process.execPath, ['bin/acmg.js', 'sync', '--watch', '--kubeconfig', kc, '--health-port', '0', '--unhealthy-after', '2s'], {
      reject: false,
      all: true,
    });
    let log = '';
    child.all!.on('data', (d) => (log += d));
    const until = async (what: string, ms: number, fn: () => Promise<boolean> | boolean) => {
      const t0 = Date.now();
      while (!(await fn())) {
        if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; log:\n${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await until('the health port', 10_000, () => /on :\d+/.test(log));
      const port = Number(/on :(\d+)/.exec(log)![1]);
      const get = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        return { status: res.status, text: await res.text() };
      };
      expect((await get('/healthz')).status).toBe(200);
      expect((await get('/readyz')).status).toBe(503);
      // Backoff 1s, 2s: three failed attempts within ~4s, each counted.
      await until('3 counted errors', 10_000, async () => Number(/acmg_sync_errors_total (\d+)/.exec((await get('/metrics')).text)?.[1]) >= 3);
      expect(log).toMatch(/retry in 1s/);
      expect(log).toMatch(/retry in 2s/);
      await until('/healthz to fail', 10_000, async () => (await get('/healthz')).status === 503);
      const sent = Date.now();
      child.kill('SIGTERM');
      const r = await child;
      expect(Date.now() - sent).toBeLessThan(5000);
      expect(r.exitCode).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('3. unbounded input', () => {
  const bomb = () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    const names = 'abcdefghi';
    for (let i = 1; i < names.length; i++)
      lines.push(
        `${names[i]}: &${names[i]} [${Array(9)
          .fill(`*${names[i - 1]}`)
          .join(',')}]`,
      );
    return `${lines.join('\n')}\nspec:\n  gateway:\n    ports: *i\n`;
  };

  test.each([
    ['an alias bomb landing in a list', () => bomb(), /expands to more than 100000 values/],
    ['nesting 5000 levels deep', () => `spec: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, /nest/],
    ['a 2 MiB file', () => `# ${'x'.repeat(2 * 1024 * 1024)}\n`, /larger than 1 MiB/],
  ])('-f with %s: exit 2 fast, a short error', async (_name, content, message) => {
    const file = join(dir, `input-${Math.random()}.yaml`);
    writeFileSync(file, content());
    const r = await runCli(['manifest', 'generate', '-f', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.length).toBeLessThan(2000);
    expect(r.stdout).toBe('');
    expect(r.ms).toBeLessThan(10_000);
  });

  test('-f /dev/zero is refused at the size limit (it grew to 4 GB)', async () => {
    const r = await runCli(['manifest', 'generate', '-f', '/dev/zero']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"\/dev\/zero" is larger than 1 MiB/);
  });

  test('a long bad value is shown as a short excerpt', async () => {
    const file = join(dir, 'long.yaml');
    writeFileSync(file, `gateway:\n  name: "${'X'.repeat(100_000)}"\n  ports: [${Array(5000).fill('{name: p, port: 99999}').join(',')}]\n`);
    const r = await runCli(['manifest', 'generate', '-f', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.length).toBeLessThan(6000);
    expect(r.stderr).toMatch(/gateway\.name: "XXXX.*…/);
    expect(r.stderr).toMatch(/… and \d+ more problems/);
  });

  test('a huge --set is refused with an excerpt', async () => {
    const r = await runCli(['manifest', 'generate', '--set', `gateway.name=${'y'.repeat(100_000)}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/longer than 16 KiB/);
    expect(r.stderr.length).toBeLessThan(1000);
  });

  test('a kubeconfig alias bomb is refused before any connection', async () => {
    const file = join(dir, 'bomb-kubeconfig.yaml');
    writeFileSync(file, bomb().replace('spec:\n  gateway:\n    ports: *i', 'clusters: *i'));
    const r = await runCli(['status', '--kubeconfig', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kubeconfig .* expands to more than 100000 values/);
    expect(r.stderr.length).toBeLessThan(2000);
  });

  test('-f - reads the overlay from standard input', async () => {
    const r = await runCli(['manifest', 'generate', '-f', '-', '-o', 'json'], { input: 'gateway:\n  replicas: 3\n' });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).items.find((o: any) => o.kind === 'Deployment').spec.replicas).toBe(3);
    expect((await runCli(['manifest', 'generate', '-f', '-', '-f', '-'])).stderr).toMatch(/can be given once/);
  });
});

describe('6. checks that need no cluster fail with exit 2 before any network call', () => {
  let api: Awaited<ReturnType<typeof silentServer>>;
  let kc: string;
  beforeAll(async () => {
    api = await silentServer();
    kc = kubeconfigFor(`https://127.0.0.1:${api.port}`, 'counting', dir);
  });
  afterAll(() => api.close());

  test.each([
    [['install'], /refusing without confirmation/],
    [['migrate', 'helloworld', '-n', 'default', '--keep-service'], /refusing without confirmation/],
    [['rollback', '--all'], /refusing without confirmation/],
    [['uninstall', '--purge'], /refusing without confirmation/],
    [['migrate', '--keep-service', '-y'], /say which services to migrate/],
    [['migrate', 'a', '-n', 'x', '--keep-service', '-y', '--nameserver', 'no:port:here'], /invalid --nameserver/],
    [['verify-dns', '--nameserver', '300.1.1.1:99999'], /invalid --nameserver/],
    [['verify-dns', '--junit', '/nonexistent-dir/report.xml'], /--junit "\/nonexistent-dir\/report.xml": the directory \/nonexistent-dir does not exist/],
    [['status', '--request-timeout', 'soon'], /invalid --request-timeout "soon"/],
  ])('acmg %j', async (args, message) => {
    const before = api.connections();
    const r = await runCli([
      ...args,
      '--kubeconfig',
      kc,
      '--request-timeout',
      args.includes('--request-timeout') ? args[args.indexOf('--request-timeout') + 1]! : '2s',
    ]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expect(api.connections()).toBe(before);
  });

  test.each([
    ['whose parent is a file', () => join(writeFileAt('plain-file'), 'r.xml'), /a part of the path is not a directory/],
    ['that is a directory', () => dir, /is a directory; pass a file name/],
  ])('a --junit path %s', async (_name, path, message) => {
    const before = api.connections();
    const r = await runCli(['verify-dns', '--junit', path(), '--kubeconfig', kc]);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringMatching(message) });
    expect(api.connections()).toBe(before);
  });
});

describe('7. kubeconfig like kubectl', () => {
  test('--request-timeout bounds a request to an API server that never answers (it took 60 s)', async () => {
    const api = await silentServer();
    try {
      const r = await runCli(['status', '--kubeconfig', kubeconfigFor(`https://127.0.0.1:${api.port}`, 'slow', dir), '--request-timeout', '1s']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/did not answer within 1s/);
      expect(r.ms).toBeLessThan(5000);
    } finally {
      await api.close();
    }
  });

  test('http:// servers (kubectl proxy) are spoken to in plain HTTP', async () => {
    const paths: string[] = [];
    const server = http.createServer((req, res) => {
      paths.push(req.url ?? '');
      res
        .writeHead(403, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ kind: 'Status', reason: 'Forbidden', message: 'stub says no', code: 403 }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const r = await runCli(['status', '--kubeconfig', kubeconfigFor(`http://127.0.0.1:${port}`, 'proxy', dir)]);
      expect(paths.length).toBeGreaterThan(0); // it spoke HTTP to it (HTTPS would never reach the handler)
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/stub says no|permission denied/);
    } finally {
      server.close();
    }
  });

  test('KUBECONFIG lists: missing files are skipped, the first file to name a context wins', async () => {
    const api = await silentServer();
    try {
      const sub = mkdtempSync(join(dir, 'list-'));
      const good = kubeconfigFor(`https://127.0.0.1:${api.port}`, 'same', sub);
      const other = mkdtempSync(join(dir, 'list-'));
      const shadowed = kubeconfigFor('https://127.0.0.1:1', 'same', other); // same names, later: ignored
      const r = await runCli(['status', '--request-timeout', '1s'], { env: { KUBECONFIG: [join(dir, 'missing.yaml'), good, shadowed].join(':') } });
      expect(r.stderr).toMatch(/did not answer within 1s/); // reached the first file's server, not port 1
      expect(api.connections()).toBeGreaterThan(0);
      const none = await runCli(['status'], { env: { KUBECONFIG: `${join(dir, 'nope1')}:${join(dir, 'nope2')}` } });
      expect(none).toMatchObject({ code: 2, stderr: expect.stringMatching(/none of the files in KUBECONFIG exists/) });
    } finally {
      await api.close();
    }
  });
});

describe('8. plain output, completion, diffs', () => {
  test.each<Record<string, string>>([{ TERM: 'dumb' }, { CI: 'true' }, { FORCE_COLOR: '0' }, { NO_COLOR: '1' }])(
    '%j on a terminal: no colour or cursor codes',
    async (env) => {
      const r = await inTerminal(['profile', 'diff', 'minimal', 'ha'], { env, cols: 80 });
      expect(r.exitCode).toBe(1);
      expect(String(r.stdout)).toContain('+++ profile ha');
      expect(String(r.stdout)).not.toContain(ESC);
    },
  );

  test('a terminal without those settings gets colour (the control)', async () => {
    const r = await inTerminal(['profile', 'diff', 'minimal', 'ha'], { cols: 80 });
    expect(String(r.stdout)).toContain(ESC);
  });

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
