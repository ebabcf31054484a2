// How requests reach the API server, as kubectl sends them (#23 point 10): impersonation headers
// (as, as-uid, as-groups, as-user-extra), HTTP CONNECT proxies (the cluster's proxy-url,
// HTTPS_PROXY / NO_PROXY), and tls-server-name (SNI and the certificate check), for requests and
// for the port-forward WebSocket. Local servers stand in only to record what arrives (headers, SNI,
// CONNECT lines); the real API server's side is test/e2e/credentials.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { AcmgError } from '../../src/errors.js';
import { Kube, type ConnectOptions } from '../../src/kube/client.js';
import { portForwardResolver } from '../../src/kube/port-forward.js';

let root: string;
let pki: { ca: Buffer; key: Buffer; cert: Buffer };

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'acmg-transport-'));
  // A CA and a serving certificate for the name "kubernetes" only (no IP address): a client that
  // checks it against 127.0.0.1 fails; one that checks tls-server-name passes.
  const d = mkdtempSync(join(root, 'pki-'));
  const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: 'pipe' });
  ossl(['req', '-x509', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-subj', '/CN=test-ca', '-days', '2', '-out', 'ca.crt']);
  ossl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-subj', '/CN=kube-apiserver', '-out', 'srv.csr']);
  writeFileSync(join(d, 'srv.ext'), 'subjectAltName=DNS:kubernetes\nextendedKeyUsage=serverAuth\n');
  ossl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'srv.ext', '-out', 'srv.crt']);
  pki = { ca: readFileSync(join(d, 'ca.crt')), key: readFileSync(join(d, 'srv.key')), cert: readFileSync(join(d, 'srv.crt')) };
});

interface Seen {
  path: string;
  headers: Record<string, string[]>;
  sni?: string | false | null;
  token: string;
}

const DNS_POD = {
  items: [{ metadata: { name: 'coredns-1' }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }],
  metadata: { resourceVersion: '1' },
};

/**
 * Records each request (headers, SNI); answers /version, the CoreDNS pod list, and the
 * port-forward upgrade for the tokens `acceptUpgrade` takes (the DNS query it gets is recorded,
 * then the stream is closed).
 */
async function recorder(opts: { tls?: boolean; acceptUpgrade?: (token: string) => boolean } = {}) {
  const seen: Seen[] = [];
  const upgrades: { token: string; status: number; sni?: string | false | null; protocol?: string; message?: Buffer }[] = [];
  const handler: http.RequestListener = (req, res) => {
    req.resume();
    seen.push({
      path: req.url ?? '',
      headers: req.headersDistinct as Record<string, string[]>,
      sni: (req.socket as TLSSocket).servername,
      token: (req.headers.authorization ?? '').replace(/^Bearer /, ''),
    });
    const body = req.url === '/version' ? { major: '1', minor: '35', gitVersion: 'v1.35.0' } : DNS_POD;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  };
  const server = opts.tls ? https.createServer({ key: pki.key, cert: pki.cert }, handler) : http.createServer(handler);
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const sni = (socket as TLSSocket).servername;
    if (!(opts.acceptUpgrade ?? (() => true))(token)) {
      upgrades.push({ token, status: 401, sni });
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const u = { token, status: 101, sni, protocol: ws.protocol, message: undefined as Buffer | undefined };
      upgrades.push(u);
      ws.once('message', (data: Buffer) => {
        u.message = data;
        ws.close();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    seen,
    upgrades,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** An HTTP CONNECT proxy that tunnels every target to `port` on 127.0.0.1 and records the CONNECT lines. */
async function connectProxy(port: number, refuse?: string) {
  const connects: { target: string; auth?: string }[] = [];
  const sockets = new Set<net.Socket>();
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    connects.push({ target: req.url ?? '', auth: req.headers['proxy-authorization'] });
    sockets.add(socket);
    socket.on('error', () => undefined);
    if (refuse) {
      socket.end(`HTTP/1.1 ${refuse}\r\n\r\n`);
      return;
    }
    const up = net.connect(port, '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    sockets.add(up);
    up.on('error', () => socket.destroy());
    socket.on('close', () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`,
    connects,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => r());
      }),
  };
}

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown> = { token: 'static-token' }): string {
  const dir = mkdtempSync(join(root, 'kc-'));
  const file = join(dir, 'kubeconfig.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    }),
  );
  return file;
}

const connect = (file: string, environment: ConnectOptions['environment'] = {}) =>
  Kube.connect({ kubeconfig: file, requestTimeoutMs: 5000, environment: { env: {}, stdinIsTTY: false, ...environment } });

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('impersonation', () => {
  // Before: only Impersonate-User (client-node knows `as` alone).
  test('as, as-uid, as-groups and as-user-extra become the Impersonate-* headers', async () => {
    const api = await recorder();
    try {
      const kube = await connect(
        kubeconfig(
          { server: api.url },
          {
            token: 'admin-token',
            as: 'jane',
            'as-uid': 'uid-1234',
            'as-groups': ['developers', 'system:authenticated'],
            'as-user-extra': { scopes: ['view', 'development'], 'acme.com/project': ['p1'] },
          },
        ),
      );
      await kube.serverVersion();
      const h = api.seen[0]!.headers;
      expect(h['authorization']).toEqual(['Bearer admin-token']);
      expect(h['impersonate-user']).toEqual(['jane']);
      expect(h['impersonate-uid']).toEqual(['uid-1234']);
      expect(h['impersonate-group']).toEqual(['developers', 'system:authenticated']); // one header each, as client-go sends them
      expect(h['impersonate-extra-scopes']).toEqual(['view', 'development']);
      expect(h['impersonate-extra-acme.com%2fproject']).toEqual(['p1']); // the key %-escaped (client-go's headerKeyEscape)
      kube.close();
    } finally {
      await api.close();
    }
  });

  test('as-groups without as is refused (exit 2), as kubectl refuses --as-group without --as', async () => {
    const e = await failure(connect(kubeconfig({ server: 'http://127.0.0.1:1' }, { token: 't', 'as-groups': ['admins'] })));
    expect(e).toBeInstanceOf(AcmgError);
    expect((e as AcmgError).code).toBe(2);
    expect((e as AcmgError).message).toBe('kubeconfig user "u": as-uid, as-groups or as-user-extra without as (the user to impersonate)');
  });
});

describe('tls-server-name', () => {
  // Before: dropped; the certificate was checked against 127.0.0.1 and refused.
  test('is the name sent in SNI and checked against the certificate', async () => {
    const api = await recorder({ tls: true });
    try {
      const ca = pki.ca.toString('base64');
      const kube = await connect(kubeconfig({ server: api.url, 'certificate-authority-data': ca, 'tls-server-name': 'kubernetes' }));
      await expect(kube.serverVersion()).resolves.toMatchObject({ gitVersion: 'v1.35.0' });
      expect(api.seen[0]!.sni).toBe('kubernetes');
      kube.close();
      // Without it the same certificate does not match the address: the check is real.
      const plain = await connect(kubeconfig({ server: api.url, 'certificate-authority-data': ca }));
      const e = await failure(plain.serverVersion());
      expect((e as Error).message).toMatch(/cannot reach the API server .*(altnames|IP: 127\.0\.0\.1 is not in the cert)/);
    } finally {
      await api.close();
    }
  });

  // Before: the port-forward's WebSocket dropped tls-server-name (and refused the certificate).
  test('is used by the port-forward too, and a 401 on its handshake re-reads the token once', async () => {
    const api = await recorder({ tls: true, acceptUpgrade: (t) => t === 'pf-token-2' });
    try {
      const dir = mkdtempSync(join(root, 'pf-'));
      writeFileSync(join(dir, 'token'), 'pf-token-1');
      const kube = await connect(
        kubeconfig(
          { server: api.url, 'certificate-authority-data': pki.ca.toString('base64'), 'tls-server-name': 'kubernetes' },
          { tokenFile: join(dir, 'token') },
        ),
        { now: () => 1_000_000 }, // a clock that stands still: only the 401 makes acmg read the file again
      );
      await kube.serverVersion(); // reads pf-token-1
      const resolver = await portForwardResolver(kube, 'kube-system', 3000);
      writeFileSync(join(dir, 'token'), 'pf-token-2'); // rotated; the old one no longer opens a port-forward
      const e = await failure(resolver.ask('kubernetes.default.svc.cluster.local', 'A'));
      expect((e as Error).message).toMatch(/port-forward stream closed/); // the stub closes after the query
      expect(api.upgrades.map((u) => `${u.token}:${u.status}:${u.sni}`)).toEqual(['pf-token-1:401:kubernetes', 'pf-token-2:101:kubernetes']);
      expect(api.upgrades[1]!.protocol).toBe('v4.channel.k8s.io');
      expect(api.upgrades[1]!.message?.[0]).toBe(0); // the DNS query on data channel 0
      await resolver.close();
      kube.close();
    } finally {
      await api.close();
    }
  });
});

describe('proxies', () => {
  // Before: proxy-url was ignored, and api.acmg.test was looked up in DNS directly.
  test('proxy-url: requests go through the HTTP CONNECT proxy, with Proxy-Authorization from its URL, and TLS to the server inside', async () => {
    const api = await recorder({ tls: true });
    const proxy = await connectProxy(api.port);
    try {
      const withAuth = proxy.url.replace('http://', 'http://ops:p%40ss@');
      const kube = await connect(
        kubeconfig({
          server: 'https://api.acmg.test:6443',
          'certificate-authority-data': pki.ca.toString('base64'),
          'tls-server-name': 'kubernetes',
          'proxy-url': withAuth,
        }),
        { env: { NO_PROXY: '*' } }, // NO_PROXY does not apply to the kubeconfig's proxy-url
      );
      await kube.serverVersion();
      await kube.list('v1', 'Pod', { namespace: 'kube-system' });
      expect(proxy.connects[0]).toEqual({ target: 'api.acmg.test:6443', auth: `Basic ${Buffer.from('ops:p@ss').toString('base64')}` });
      expect(proxy.connects).toHaveLength(1); // one tunnel, kept alive for the second request
      expect(api.seen.map((s) => s.sni)).toEqual(['kubernetes', 'kubernetes']);
      kube.close();
    } finally {
      await proxy.close();
      await api.close();
    }
  });

  test('HTTPS_PROXY from the environment is used; loopback servers are never proxied (as Go decides)', async () => {
    const api = await recorder({ tls: true });
    const proxy = await connectProxy(api.port);
    try {
      const ca = pki.ca.toString('base64');
      const viaProxy = await connect(kubeconfig({ server: 'https://api.acmg.test:6443', 'certificate-authority-data': ca, 'tls-server-name': 'kubernetes' }), {
        env: { HTTPS_PROXY: proxy.url, NO_PROXY: 'other.example,10.0.0.0/8' },
      });
      await viaProxy.serverVersion();
      expect(proxy.connects.map((c) => c.target)).toEqual(['api.acmg.test:6443']);
      viaProxy.close();
      const direct = await connect(kubeconfig({ server: api.url, 'certificate-authority-data': ca, 'tls-server-name': 'kubernetes' }), {
        env: { https_proxy: proxy.url },
      });
      await direct.serverVersion();
      expect(proxy.connects).toHaveLength(1);
      direct.close();
    } finally {
      await proxy.close();
      await api.close();
    }
  });

  test('the port-forward goes through the proxy too', async () => {
    const api = await recorder({ tls: true });
    const proxy = await connectProxy(api.port);
    try {
      const kube = await connect(
        kubeconfig({
          server: 'https://api.acmg.test:6443',
          'certificate-authority-data': pki.ca.toString('base64'),
          'tls-server-name': 'kubernetes',
          'proxy-url': proxy.url,
        }),
      );
      const resolver = await portForwardResolver(kube, 'kube-system', 3000);
      await failure(resolver.ask('kubernetes.default.svc.cluster.local', 'A'));
      expect(api.upgrades.map((u) => `${u.status}:${u.sni}`)).toEqual(['101:kubernetes']);
      expect(proxy.connects.map((c) => c.target)).toEqual(['api.acmg.test:6443', 'api.acmg.test:6443']); // the pod list, then the WebSocket
      await resolver.close();
      kube.close();
    } finally {
      await proxy.close();
      await api.close();
    }
  });

  test('a proxy that refuses the tunnel: exit 3 naming the proxy (not its password) and its answer', async () => {
    const proxy = await connectProxy(1, '407 Proxy Authentication Required');
    try {
      const kube = await connect(
        kubeconfig({ server: 'https://api.acmg.test:6443', 'insecure-skip-tls-verify': true, 'proxy-url': proxy.url.replace('http://', 'http://ops:secret@') }),
      );
      const e = await failure(kube.serverVersion());
      expect(e).toBeInstanceOf(AcmgError);
      expect((e as AcmgError).code).toBe(3);
      expect((e as AcmgError).message).toBe(
        `cannot reach the API server at https://api.acmg.test:6443 (context "c"): proxy ${proxy.url.replace('http://', 'http://ops:***@')} refused CONNECT api.acmg.test:6443: HTTP 407 Proxy Authentication Required`,
      );
    } finally {
      await proxy.close();
    }
  });

  test('a SOCKS proxy-url is refused (exit 2): acmg tunnels through HTTP CONNECT proxies only', async () => {
    const e = await failure(connect(kubeconfig({ server: 'https://api.acmg.test:6443', 'proxy-url': 'socks5://127.0.0.1:1080' })));
    expect(e).toBeInstanceOf(AcmgError);
    expect((e as AcmgError).code).toBe(2);
    expect((e as AcmgError).message).toMatch(/proxy-url of cluster "c" "socks5:\/\/127.0.0.1:1080": acmg supports HTTP CONNECT proxies only/);
  });
});
