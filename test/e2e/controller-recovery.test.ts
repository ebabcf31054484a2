// Issue #13 item 2 with the real API server: a controller started while the API server cannot be
// reached retries, and once it can be reached (a TCP proxy to the real one opens) it loads the
// install, becomes ready and reconciles; SIGTERM then stops it at once.
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { DNS_NAMESERVER, ROOT, acmg, eventually, expectExit, kubeconfig } from './cluster.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A TCP proxy from `port` to the API server, opened on demand. */
function proxyTo(port: number, target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const u = net.connect(target.port, target.host);
    for (const s of [c, u]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    c.pipe(u).pipe(c);
  });
  return {
    open: () => new Promise<void>((r) => server.listen(port, '127.0.0.1', r)),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('sync --watch recovers when the API server comes back', () => {
  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', '--nameserver', DNS_NAMESERVER]), 0);
    expectExit(await acmg(['install', '--profile', 'minimal', '-y']), 0);
  });
  afterAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', '--nameserver', DNS_NAMESERVER]), 0);
  });

  test('errors counted while down, ready and reconciling once up, SIGTERM stops it', async () => {
    const real = new URL(/server: (\S+)/.exec(readFileSync(kubeconfig, 'utf8'))![1]!);
    const port = await freePort();
    const kc = join(mkdtempSync(join(tmpdir(), 'acmg-recover-')), 'kubeconfig');
    // Same credentials and CA; the server's certificate names 127.0.0.1, whatever the port.
    writeFileSync(kc, readFileSync(kubeconfig, 'utf8').replace(real.origin, `https://127.0.0.1:${port}`));
    const proxy = proxyTo(port, { host: real.hostname, port: Number(real.port) });
    const child = execa(
      process.execPath,
      [join(ROOT, 'bin', 'acmg.js'), 'sync', '--watch', '--kubeconfig', kc, '--health-port', '0', '--request-timeout', '2s'],
      { reject: false, all: true, env: { NO_COLOR: '1' } },
    );
    let log = '';
    child.all!.on('data', (d) => (log += d));
    try {
      const { value } = await eventually('health port', 10_000, () => /on :(\d+)/.exec(log)?.[1]);
      const base = `http://127.0.0.1:${value}`;
      const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(`${base}/metrics`)).text())?.[1]);
      await eventually('2 failed attempts while the API server is away', 15_000, async () => (await metric('acmg_sync_errors_total')) >= 2);
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      expect(await metric('acmg_sync_reconciles_total')).toBe(0);

      await proxy.open();
      // The next retry (backoff at most 4s by now) reaches the API server.
      await eventually('ready after the API server came back', 30_000, async () => (await fetch(`${base}/readyz`)).status === 200);
      expect(await metric('acmg_sync_reconciles_total')).toBeGreaterThanOrEqual(1);
      expect(await metric('acmg_sync_api_failing_seconds')).toBe(0);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);

      const sent = Date.now();
      child.kill('SIGTERM');
      const r = await child;
      expect(r.exitCode).toBe(0);
      expect(Date.now() - sent).toBeLessThan(5000);
    } finally {
      child.kill('SIGKILL');
      await proxy.close();
    }
  });
});
