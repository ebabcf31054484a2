// The kubeconfig and the connection to the API server work as kubectl's do: --request-timeout
// bounds a request, http:// servers (kubectl proxy) get plain HTTP, and KUBECONFIG lists merge as
// kubectl merges them. Stub servers stand in for the API server.
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, kubeconfigFor, runCli, silentServer } from './process.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'acmg-kubeconfig-'));
});

describe('kubeconfig like kubectl', () => {
  // It waited 60 s.
  test('--request-timeout bounds a request to an API server that never answers', async () => {
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
