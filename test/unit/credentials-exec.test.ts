// Exec credential plugins as kubectl runs them (#23 point 10): tiny node plugins in a temp dir print
// an ExecCredential, count their runs in a file and may return an expiring token; a local HTTP
// server stands in only as a token checker (200 for the tokens it accepts, 401 otherwise), to test
// the client's refresh and retry. The real API server's side is test/e2e/credentials.test.ts.
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AcmgError } from '../../src/errors.js';
import { ApiError } from '../../src/kube/api.js';
import { Kube, type ConnectOptions } from '../../src/kube/client.js';

let root: string;
const started: number[] = []; // plugin pids, killed after the tests (a hung plugin under the old code)

const PLUGIN = `#!/usr/bin/env node
const fs = require('fs');
const dir = process.env.PLUGIN_DIR;
const n = Number(fs.existsSync(dir + '/count') ? fs.readFileSync(dir + '/count', 'utf8') : '0') + 1;
fs.writeFileSync(dir + '/count', String(n));
fs.appendFileSync(dir + '/pids', process.pid + '\\n');
fs.appendFileSync(dir + '/info', (process.env.KUBERNETES_EXEC_INFO || '') + '\\n');
const mode = process.env.PLUGIN_MODE || 'ok';
function print() {
  const ttl = Number(process.env.PLUGIN_TTL_MS || 0);
  const status = { token: 'tok-' + n };
  if (ttl) status.expirationTimestamp = new Date(Date.now() + ttl).toISOString();
  process.stdout.write(JSON.stringify({ apiVersion: process.env.PLUGIN_ANSWER_API || 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status }));
}
if (mode === 'hang') setInterval(() => {}, 1000);
else if (mode === 'read-stdin') { process.stdin.resume(); process.stdin.on('end', print); }
else if (mode === 'fail') { process.stderr.write('error: no cached credentials; run "login" first\\n'); process.exit(4); }
else print();
`;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'acmg-exec-'));
});

afterAll(() => {
  for (const pid of started)
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
});

interface Plugin {
  dir: string;
  kubeconfig: string;
  runs: () => number;
  infos: () => any[];
  pids: () => number[];
}

/** A plugin dir with its kubeconfig (user "exec-user") for the server; `env` goes to the plugin through exec.env. */
function plugin(server: string, exec: Record<string, unknown> = {}, env: Record<string, string> = {}, name = 'p'): Plugin {
  const dir = mkdtempSync(join(root, `${name}-`));
  const script = join(dir, 'plugin.cjs');
  writeFileSync(script, PLUGIN);
  chmodSync(script, 0o755);
  const kubeconfig = join(dir, 'kubeconfig.yaml');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [
        {
          name: 'exec-user',
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1',
              command: process.execPath,
              args: [script],
              interactiveMode: 'Never',
              env: Object.entries({ PLUGIN_DIR: dir, ...env }).map(([k, v]) => ({ name: k, value: v })),
              ...exec,
            },
          },
        },
      ],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'exec-user' } }],
      'current-context': 'c',
    }),
  );
  const lines = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean) : []);
  return {
    dir,
    kubeconfig,
    runs: () => (existsSync(join(dir, 'count')) ? Number(readFileSync(join(dir, 'count'), 'utf8')) : 0),
    infos: () => lines('info').map((l) => JSON.parse(l)),
    pids: () => {
      const p = lines('pids').map(Number);
      started.push(...p);
      return p;
    },
  };
}

interface Seen {
  token: string;
  status: number;
  path: string;
}

/** A token checker: 200 (a version, an empty list, or one watch event) for accepted tokens, 401 otherwise. */
async function tokenChecker(accept: (token: string) => boolean) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const ok = accept(token);
    seen.push({ token, status: ok ? 200 : 401, path: req.url ?? '' });
    if (!ok)
      return res
        .writeHead(401, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', message: 'Unauthorized', code: 401 }));
    if (req.url?.includes('watch=1')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ type: 'ADDED', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', resourceVersion: '2' } } }) + '\n');
    }
    const body = req.url === '/version' ? { major: '1', minor: '35', gitVersion: 'v1.35.0' } : { items: [], metadata: { resourceVersion: '1' } };
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const connect = (kubeconfig: string, environment: ConnectOptions['environment'] = {}) =>
  Kube.connect({ kubeconfig, requestTimeoutMs: 5000, environment: { env: {}, stdinIsTTY: false, ...environment } });

/** Settles within ms, or fails the test saying it hung (the old code waited for ever). */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
    }),
  ]);
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('exec credential plugins', () => {
  // Before: the plugin ran once per process and its token was used until the process ended.
  test('a token is used while valid and fetched again shortly before status.expirationTimestamp', async () => {
    const api = await tokenChecker((t) => t.startsWith('tok-'));
    try {
      const p = plugin(api.url, {}, { PLUGIN_TTL_MS: '3000' });
      const kube = await connect(p.kubeconfig);
      await kube.serverVersion();
      await kube.list('v1', 'ConfigMap', { namespace: 'default' });
      expect(p.runs()).toBe(1); // cached while valid
      await sleep(2800); // within a tenth of its 3 s life from the end: refreshed before it is sent
      await kube.serverVersion();
      expect(p.runs()).toBe(2);
      expect(api.seen.map((s) => s.token)).toEqual(['tok-1', 'tok-1', 'tok-2']);
      expect(api.seen.every((s) => s.status === 200)).toBe(true);
      kube.close();
    } finally {
      await api.close();
    }
  });

  // Before: the 401 was the error; the plugin was never asked again.
  test('a 401 runs the plugin again and sends the request once more; a second 401 is the error, with no loop', async () => {
    let accepted = 'tok-1';
    const api = await tokenChecker((t) => t === accepted);
    try {
      const p = plugin(api.url); // no expirationTimestamp: cached until a 401
      const kube = await connect(p.kubeconfig);
      await kube.serverVersion();
      accepted = 'tok-2'; // the server stops accepting tok-1 (revoked, rotated)
      await expect(kube.list('v1', 'ConfigMap', { namespace: 'default' })).resolves.toMatchObject({ items: [] });
      expect(p.runs()).toBe(2);
      expect(api.seen.map((s) => `${s.token}:${s.status}`)).toEqual(['tok-1:200', 'tok-1:401', 'tok-2:200']);
      accepted = 'none';
      const e = await failure(kube.serverVersion());
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).status).toBe(401);
      expect(p.runs()).toBe(3); // refreshed once
      expect(api.seen.slice(3).map((s) => `${s.token}:${s.status}`)).toEqual(['tok-2:401', 'tok-3:401']); // sent twice, not more
      kube.close();
    } finally {
      await api.close();
    }
  });

  test('a watch answered 401 is sent once more with the refreshed token', async () => {
    let accepted = 'tok-1';
    const api = await tokenChecker((t) => t === accepted);
    try {
      const p = plugin(api.url);
      const kube = await connect(p.kubeconfig);
      await kube.serverVersion();
      accepted = 'tok-2';
      const events: string[] = [];
      await kube.watch('v1', 'ConfigMap', { namespace: 'default', resourceVersion: '1' }, (type, obj) => {
        events.push(`${type} ${obj.metadata.name}`);
      });
      expect(events).toEqual(['ADDED x']);
      expect(api.seen.map((s) => `${s.token}:${s.status}`)).toEqual(['tok-1:200', 'tok-1:401', 'tok-2:200']);
      kube.close();
    } finally {
      await api.close();
    }
  });

  // Before: each request that came before the first run finished ran the plugin again (20 runs).
  test('concurrent requests share one run of the plugin', async () => {
    const api = await tokenChecker((t) => t.startsWith('tok-'));
    try {
      const p = plugin(api.url);
      const kube = await connect(p.kubeconfig);
      await Promise.all(Array.from({ length: 20 }, () => kube.serverVersion()));
      expect(p.runs()).toBe(1);
      kube.close();
    } finally {
      await api.close();
    }
  });

  // Before: stdin was an open pipe, so a plugin that reads it waited for ever.
  test('interactiveMode Never: the plugin gets no standard input (it reads end-of-file, not a hang) and is told interactive: false', async () => {
    const api = await tokenChecker((t) => t.startsWith('tok-'));
    const p = plugin(api.url, { interactiveMode: 'Never' }, { PLUGIN_MODE: 'read-stdin' });
    try {
      const kube = await connect(p.kubeconfig, { stdinIsTTY: true }); // even on a terminal
      await within(10_000, kube.serverVersion(), 'a plugin reading stdin');
      expect(p.infos()).toEqual([{ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false } }]);
      kube.close();
    } finally {
      p.pids();
      await api.close();
    }
  });

  // Before: it ran the plugin without a terminal (and waited for it).
  test('interactiveMode Always without a terminal fails at once, naming the plugin and the user, without running it', async () => {
    const api = await tokenChecker(() => true);
    try {
      const p = plugin(api.url, { interactiveMode: 'Always' });
      const kube = await connect(p.kubeconfig, { stdinIsTTY: false });
      const e = await within(10_000, failure(kube.serverVersion()), 'interactiveMode Always');
      expect(e).toBeInstanceOf(AcmgError);
      expect((e as AcmgError).code).toBe(2);
      expect((e as AcmgError).message).toMatch(/the exec plugin ".*plugin\.cjs" of kubeconfig user "exec-user" needs a terminal \(interactiveMode: Always\)/);
      expect(p.runs()).toBe(0);
      expect(api.seen).toEqual([]);
    } finally {
      await api.close();
    }
  });

  // Before: acmg waited for ever, silently.
  test('a plugin that does not finish in time is killed: exit 3 naming the command and the kubeconfig user', async () => {
    const api = await tokenChecker(() => true);
    const p = plugin(api.url, {}, { PLUGIN_MODE: 'hang' });
    try {
      const kube = await connect(p.kubeconfig, { execTimeoutMs: 1000 });
      const t0 = Date.now();
      const e = await within(10_000, failure(kube.serverVersion()), 'a hanging plugin');
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(e).toBeInstanceOf(AcmgError);
      expect((e as AcmgError).code).toBe(3);
      expect((e as AcmgError).message).toContain(
        `the exec plugin "${process.execPath} ${join(p.dir, 'plugin.cjs')}" of kubeconfig user "exec-user" did not finish within 1s`,
      );
      expect((e as AcmgError).hint).toMatch(/ACMG_EXEC_TIMEOUT/);
      await sleep(200);
      for (const pid of p.pids()) expect(() => process.kill(pid, 0)).toThrow(); // killed, not left behind
      expect(api.seen).toEqual([]);
    } finally {
      p.pids();
      await api.close();
    }
  });

  test('ACMG_EXEC_TIMEOUT sets the timeout', async () => {
    const api = await tokenChecker(() => true);
    const p = plugin(api.url, {}, { PLUGIN_MODE: 'hang' });
    try {
      const kube = await connect(p.kubeconfig, { env: { ACMG_EXEC_TIMEOUT: '700ms' } });
      const e = await within(10_000, failure(kube.serverVersion()), 'a hanging plugin');
      expect((e as AcmgError).message).toMatch(/did not finish within 0\.7s/);
    } finally {
      p.pids();
      await api.close();
    }
  });

  // Before: a plain Error with only the plugin's stderr.
  test('a plugin that fails: exit 3 with what it said, and a hint that it ran without a terminal', async () => {
    const api = await tokenChecker(() => true);
    try {
      const p = plugin(api.url, {}, { PLUGIN_MODE: 'fail' });
      const chunks: Buffer[] = [];
      const kube = await connect(p.kubeconfig, { stderr: (c) => chunks.push(c) });
      const e = await failure(kube.serverVersion());
      expect(e).toBeInstanceOf(AcmgError);
      expect((e as AcmgError).code).toBe(3);
      expect((e as AcmgError).message).toMatch(/of kubeconfig user "exec-user" failed \(exit 4\): error: no cached credentials; run "login" first/);
      expect((e as AcmgError).hint).toMatch(/without a terminal \(interactiveMode: Never, standard input not attached\)/);
      expect(Buffer.concat(chunks).toString()).toMatch(/no cached credentials/); // passed through, as client-go does
    } finally {
      await api.close();
    }
  });

  test('v1beta1 plugins work without interactiveMode (IfAvailable); v1 without it is refused, as kubectl refuses it', async () => {
    const api = await tokenChecker((t) => t.startsWith('tok-'));
    try {
      const beta = plugin(
        api.url,
        { apiVersion: 'client.authentication.k8s.io/v1beta1', interactiveMode: undefined },
        { PLUGIN_ANSWER_API: 'client.authentication.k8s.io/v1beta1' },
      );
      const kube = await connect(beta.kubeconfig);
      await expect(kube.serverVersion()).resolves.toMatchObject({ gitVersion: 'v1.35.0' });
      expect(beta.infos()[0]).toEqual({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', spec: { interactive: false } });
      const v1 = plugin(api.url, { interactiveMode: undefined });
      const e = await failure(connect(v1.kubeconfig));
      expect(e).toBeInstanceOf(AcmgError);
      expect((e as AcmgError).code).toBe(2);
      expect((e as AcmgError).message).toBe(
        'exec of kubeconfig user "exec-user": interactiveMode must be specified for client.authentication.k8s.io/v1 (Never, IfAvailable or Always)',
      );
      expect(v1.runs()).toBe(0);
    } finally {
      await api.close();
    }
  });

  // Before: any JSON with a token was taken.
  test('a plugin answering another apiVersion than the kubeconfig asks for is refused', async () => {
    const api = await tokenChecker(() => true);
    try {
      const p = plugin(api.url, {}, { PLUGIN_ANSWER_API: 'client.authentication.k8s.io/v1beta1' });
      const kube = await connect(p.kubeconfig);
      const e = await failure(kube.serverVersion());
      expect(e).toBeInstanceOf(AcmgError);
      expect((e as AcmgError).message).toMatch(
        /returned apiVersion "client.authentication.k8s.io\/v1beta1", but the kubeconfig asks for client.authentication.k8s.io\/v1$/,
      );
      expect(api.seen).toEqual([]);
    } finally {
      await api.close();
    }
  });

  // Before: spawned relative to acmg's working directory (ENOENT); kubectl resolves it against the kubeconfig's.
  test("a relative command with a path is relative to the kubeconfig file's directory, and exec.env reaches it", async () => {
    const api = await tokenChecker((t) => t.startsWith('tok-'));
    try {
      const p = plugin(api.url, { command: './plugin.cjs', args: [] });
      const kube = await connect(p.kubeconfig, { env: { PATH: process.env.PATH ?? '' } }); // for its #!/usr/bin/env node
      await expect(kube.serverVersion()).resolves.toMatchObject({ gitVersion: 'v1.35.0' });
      expect(p.runs()).toBe(1); // PLUGIN_DIR came from exec.env
    } finally {
      await api.close();
    }
  });

  test('a command that does not exist: exit 2 with the installHint', async () => {
    const api = await tokenChecker(() => true);
    try {
      const p = plugin(api.url, { command: 'acmg-no-such-plugin', args: [], installHint: 'install it with: brew install acmg-no-such-plugin' });
      const kube = await connect(p.kubeconfig, { env: { PATH: '/nonexistent' } });
      const e = await failure(kube.serverVersion());
      expect(e).toBeInstanceOf(AcmgError);
      expect((e as AcmgError).code).toBe(2);
      expect((e as AcmgError).message).toMatch(/command "acmg-no-such-plugin" not found/);
      expect((e as AcmgError).hint).toBe('install it with: brew install acmg-no-such-plugin');
    } finally {
      await api.close();
    }
  });
});
