// Token files as client-go reads them (#23 point 10): the kubeconfig user's tokenFile and the
// in-cluster service-account token (kubelet rotates bound tokens about hourly) are re-read when
// they change, periodically, and after a 401. A local server stands in only as a token checker
// (200 for the tokens it accepts, 401 otherwise); the real API server's side is
// test/e2e/credentials.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AcmgError } from '../../src/errors.js';
import { ApiError } from '../../src/kube/api.js';
import { Kube } from '../../src/kube/client.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'acmg-token-file-'));
});

interface Seen {
  token: string;
  status: number;
}

/** A token checker over HTTP, or HTTPS with `tls`. */
async function tokenChecker(accept: (token: string) => boolean, tls?: { key: Buffer; cert: Buffer }) {
  const seen: Seen[] = [];
  const handler: http.RequestListener = (req, res) => {
    req.resume();
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const ok = accept(token);
    seen.push({ token, status: ok ? 200 : 401 });
    if (!ok)
      return res
        .writeHead(401, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', message: 'Unauthorized', code: 401 }));
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ major: '1', minor: '35', gitVersion: 'v1.35.0' }));
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const shown = (seen: Seen[]) => seen.map((s) => `${s.token}:${s.status}`);

/** A clock the test moves (token files are re-checked at most once a second, re-read at least once a minute). */
function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function kubeconfigWithTokenFile(server: string, tokenFile: string, dir: string): string {
  const file = join(dir, 'kubeconfig.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server } }],
      users: [{ name: 'file-user', user: { tokenFile } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'file-user' } }],
      'current-context': 'c',
    }),
  );
  return file;
}

describe('tokenFile of a kubeconfig user', () => {
  // Before: client-node does not know kubectl's tokenFile: no token was sent at all (401).
  test('is sent, and a token written to it later is used by the next request (the change is seen)', async () => {
    let accepted = new Set(['file-token-1']);
    const api = await tokenChecker((t) => accepted.has(t));
    try {
      const dir = mkdtempSync(join(root, 'tf-'));
      writeFileSync(join(dir, 'token'), 'file-token-1\n');
      const c = clock();
      // A relative tokenFile is relative to the kubeconfig's directory, as kubectl resolves it.
      const kube = await Kube.connect({ kubeconfig: kubeconfigWithTokenFile(api.url, 'token', dir), environment: { env: {}, now: c.now } });
      await kube.serverVersion();
      writeFileSync(join(dir, 'token'), 'file-token-2\n');
      accepted = new Set(['file-token-2']);
      c.advance(1500);
      await kube.serverVersion();
      expect(shown(api.seen)).toEqual(['file-token-1:200', 'file-token-2:200']); // no 401 on the way
      kube.close();
    } finally {
      await api.close();
    }
  });

  test('after a 401 it is read again at once and the request sent once more; an unchanged token is not sent again', async () => {
    let accepted = new Set(['file-token-1']);
    const api = await tokenChecker((t) => accepted.has(t));
    try {
      const dir = mkdtempSync(join(root, 'tf-'));
      writeFileSync(join(dir, 'token'), 'file-token-1');
      const c = clock(); // the clock stands still: only the 401 makes it look again
      const kube = await Kube.connect({ kubeconfig: kubeconfigWithTokenFile(api.url, join(dir, 'token'), dir), environment: { env: {}, now: c.now } });
      await kube.serverVersion();
      writeFileSync(join(dir, 'token'), 'file-token-2');
      accepted = new Set(['file-token-2']);
      await kube.serverVersion();
      expect(shown(api.seen)).toEqual(['file-token-1:200', 'file-token-1:401', 'file-token-2:200']);
      accepted = new Set();
      const e = await kube.serverVersion().then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(ApiError);
      expect(shown(api.seen).slice(3)).toEqual(['file-token-2:401']); // the same token: no second send
      kube.close();
    } finally {
      await api.close();
    }
  });

  test('is re-read at least once a minute, and a file that cannot be read keeps the last good token', async () => {
    const api = await tokenChecker((t) => t.startsWith('file-token-'));
    try {
      const dir = mkdtempSync(join(root, 'tf-'));
      writeFileSync(join(dir, 'token'), 'file-token-1');
      const c = clock();
      const kube = await Kube.connect({ kubeconfig: kubeconfigWithTokenFile(api.url, join(dir, 'token'), dir), environment: { env: {}, now: c.now } });
      await kube.serverVersion();
      renameSync(join(dir, 'token'), join(dir, 'gone'));
      c.advance(61_000);
      await kube.serverVersion(); // re-read failed: the token read before
      writeFileSync(join(dir, 'token'), 'file-token-3');
      c.advance(61_000);
      await kube.serverVersion();
      expect(shown(api.seen)).toEqual(['file-token-1:200', 'file-token-1:200', 'file-token-3:200']);
      kube.close();
    } finally {
      await api.close();
    }
  });

  test('a tokenFile that does not exist at the start: exit 2 naming it and the user', async () => {
    const dir = mkdtempSync(join(root, 'tf-'));
    const kube = await Kube.connect({ kubeconfig: kubeconfigWithTokenFile('http://127.0.0.1:1', join(dir, 'missing'), dir), environment: { env: {} } });
    const e = await kube.serverVersion().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(AcmgError);
    expect((e as AcmgError).code).toBe(2);
    expect((e as AcmgError).message).toBe(`cannot read the tokenFile "${join(dir, 'missing')}" of kubeconfig user "file-user": no such file`);
  });
});

describe('in-cluster service account', () => {
  let pki: { ca: Buffer; key: Buffer; cert: Buffer };
  beforeAll(() => {
    // A CA and a serving certificate for 127.0.0.1, as the in-cluster client checks the server with the mounted ca.crt.
    const d = mkdtempSync(join(root, 'pki-'));
    const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: 'pipe' });
    ossl(['req', '-x509', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-subj', '/CN=test-ca', '-days', '2', '-out', 'ca.crt']);
    ossl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-subj', '/CN=kube-apiserver', '-out', 'srv.csr']);
    writeFileSync(join(d, 'srv.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    ossl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'srv.ext', '-out', 'srv.crt']);
    pki = { ca: readFileSync(join(d, 'ca.crt')), key: readFileSync(join(d, 'srv.key')), cert: readFileSync(join(d, 'srv.crt')) };
  });

  /** The token as kubelet writes a projected volume: a new file swapped in by rename. */
  const rotate = (sa: string, token: string) => {
    writeFileSync(join(sa, '.token.tmp'), token);
    renameSync(join(sa, '.token.tmp'), join(sa, 'token'));
  };

  // Before: read once (client-node re-reads every minute, but acmg applied it once per process).
  test('the rotated token is used by the next requests: on its change, and after a 401 at once', async () => {
    let accepted = new Set(['sa-token-1']);
    const api = await tokenChecker((t) => accepted.has(t), pki);
    try {
      const sa = mkdtempSync(join(root, 'sa-'));
      writeFileSync(join(sa, 'ca.crt'), pki.ca);
      rotate(sa, 'sa-token-1');
      const c = clock();
      const kube = await Kube.connect({
        environment: {
          env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) },
          home: mkdtempSync(join(root, 'home-')), // no ~/.kube/config: in-cluster
          serviceAccountDir: sa,
          now: c.now,
        },
      });
      expect(kube.server).toBe(`https://127.0.0.1:${api.port}`);
      await kube.serverVersion();
      rotate(sa, 'sa-token-2');
      accepted = new Set(['sa-token-1', 'sa-token-2']); // both valid for a while, as after a real rotation
      c.advance(1500);
      await kube.serverVersion();
      rotate(sa, 'sa-token-3');
      accepted = new Set(['sa-token-3']); // the old one revoked at once
      await kube.serverVersion();
      expect(shown(api.seen)).toEqual(['sa-token-1:200', 'sa-token-2:200', 'sa-token-2:401', 'sa-token-3:200']);
      kube.close();
    } finally {
      await api.close();
    }
  });
});
