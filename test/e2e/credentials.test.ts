// Credentials that change during a run, against the real kube-apiserver (#23 point 10). Tokens are
// real ServiceAccount tokens (`kubectl create token`, signed by the API server's service-account
// issuer); an old token is made invalid by deleting its ServiceAccount (the API server looks the
// account up on every request: service-account lookup is on by default), and each test waits
// until the API server really refuses the old token before it goes on. Then:
//   - an exec plugin whose token file is swapped: acmg runs it again on the 401 and goes on;
//   - an exec plugin whose token expires: acmg runs it again before it expires (no 401 on the way);
//   - a kubeconfig tokenFile rotated, and the in-cluster service-account token rotated as kubelet
//     rotates it (the controller's path: an informer keeps watching across the rotation);
//   - impersonation headers as the API server reads them (SelfSubjectReview);
//   - tls-server-name and proxy-url, for requests and the port-forward to CoreDNS.
import { copyFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '../../src/kube/api.js';
import { Kube } from '../../src/kube/client.js';
import { Informer } from '../../src/kube/informer.js';
import { portForwardResolver } from '../../src/kube/port-forward.js';
import { applyObjects, eventually, kubectl, kubectlJson, sleep } from './cluster.js';

const NS = 'acmg-credentials-e2e';
const GROUP = `system:serviceaccounts:${NS}`;
let root: string;
let server: string;
let apiPort: number;
let caFile: string;
let admin: { cert: string; key: string };

/** A kubeconfig for the local API server with this user (and cluster fields, e.g. tls-server-name). */
function kubeconfigWith(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(root, 'kc-'));
  const file = join(dir, 'kubeconfig.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'local', cluster: { server, 'certificate-authority': caFile, ...cluster } }],
      users: [{ name: 'e2e-user', user }],
      contexts: [{ name: 'local', context: { cluster: 'local', user: 'e2e-user' } }],
      'current-context': 'local',
    }),
  );
  return file;
}

/** A new ServiceAccount and a real token for it. */
function newToken(name: string): string {
  applyObjects({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: NS } });
  return kubectl(['-n', NS, 'create', 'token', name, '--duration', '1h']).trim();
}

/** Deletes the ServiceAccount and waits until the API server refuses its token (its authentication cache lasts seconds). */
async function revoke(name: string, token: string): Promise<void> {
  kubectl(['-n', NS, 'delete', 'serviceaccount', name, '--wait=true']);
  const probe = await Kube.connect({ kubeconfig: kubeconfigWith({ token }), environment: { env: {} } });
  await eventually(`the API server to refuse ${name}'s token`, 60_000, async () => {
    try {
      await probe.list('v1', 'ConfigMap', { namespace: NS });
      return false;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return true;
      throw e;
    }
  });
  probe.close();
}

const PLUGIN = `#!/usr/bin/env node
const fs = require('fs');
const dir = process.env.PLUGIN_DIR;
const n = Number(fs.existsSync(dir + '/count') ? fs.readFileSync(dir + '/count', 'utf8') : '0') + 1;
fs.writeFileSync(dir + '/count', String(n));
const ttl = Number(process.env.PLUGIN_TTL_MS || 0);
const status = { token: fs.readFileSync(dir + '/token', 'utf8').trim() };
if (ttl) status.expirationTimestamp = new Date(Date.now() + ttl).toISOString();
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status }));
`;

/** An exec plugin that prints the token in its dir's file `token` (swapped by the test), counting its runs. */
function execPlugin(token: string, ttlMs = 0) {
  const dir = mkdtempSync(join(root, 'plugin-'));
  writeFileSync(join(dir, 'plugin.cjs'), PLUGIN);
  chmodSync(join(dir, 'plugin.cjs'), 0o755);
  writeFileSync(join(dir, 'token'), token);
  const file = kubeconfigWith({
    exec: {
      apiVersion: 'client.authentication.k8s.io/v1',
      command: process.execPath,
      args: [join(dir, 'plugin.cjs')],
      interactiveMode: 'Never',
      env: [
        { name: 'PLUGIN_DIR', value: dir },
        { name: 'PLUGIN_TTL_MS', value: String(ttlMs) },
      ],
    },
  });
  return {
    kubeconfig: file,
    swap: (t: string) => writeFileSync(join(dir, 'token'), t),
    runs: () => (existsSync(join(dir, 'count')) ? Number(readFileSync(join(dir, 'count'), 'utf8')) : 0),
  };
}

/** What -v would show: the client's debug lines. */
function debugLog() {
  const lines: string[] = [];
  return { lines, debug: (m: string) => lines.push(m), unauthorized: () => lines.filter((l) => l.startsWith('401 Unauthorized')) };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'acmg-credentials-e2e-'));
  const view = kubectlJson(['config', 'view', '--raw', '--minify']);
  server = view.clusters[0].cluster.server;
  caFile = view.clusters[0].cluster['certificate-authority'];
  admin = { cert: view.users[0].user['client-certificate'], key: view.users[0].user['client-key'] };
  apiPort = Number(new URL(server).port);
  applyObjects([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    // Every ServiceAccount of the namespace, also those made later, may read it.
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'e2e-view', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: GROUP }],
    },
  ]);
});

afterAll(() => {
  kubectl(['delete', 'namespace', NS, '--wait=false', '--ignore-not-found']);
});

describe('credentials that change during a run, on the real API server', () => {
  // Before: the plugin ran once per process; after the swap every request failed with 401.
  test('an exec plugin whose token is replaced and the old one revoked: run again on the 401, and the run goes on', async () => {
    const first = newToken('exec-a');
    const plugin = execPlugin(first);
    const log = debugLog();
    const kube = await Kube.connect({ kubeconfig: plugin.kubeconfig, debug: log.debug, environment: { stdinIsTTY: false } });
    await kube.list('v1', 'ConfigMap', { namespace: NS });
    expect(plugin.runs()).toBe(1);
    plugin.swap(newToken('exec-b'));
    await revoke('exec-a', first);
    await expect(kube.list('v1', 'ConfigMap', { namespace: NS })).resolves.toBeDefined();
    expect(plugin.runs()).toBe(2);
    expect(log.unauthorized()).toHaveLength(1); // one 401, answered by one refresh
    // A watch after it uses the new token too.
    const rv = (await kube.list('v1', 'ConfigMap', { namespace: NS })).resourceVersion;
    await kube.watch('v1', 'ConfigMap', { namespace: NS, resourceVersion: rv, timeoutSeconds: 1 }, () => undefined);
    expect(plugin.runs()).toBe(2);
    kube.close();
  });

  // Before: used past its expirationTimestamp, and refused once the API server no longer took it.
  test('an exec token with an expirationTimestamp is fetched again before it expires, with no 401 on the way', async () => {
    const first = newToken('exec-c');
    const plugin = execPlugin(first, 8000);
    const log = debugLog();
    const kube = await Kube.connect({ kubeconfig: plugin.kubeconfig, debug: log.debug, environment: { stdinIsTTY: false } });
    const t0 = Date.now();
    await kube.list('v1', 'ConfigMap', { namespace: NS });
    plugin.swap(newToken('exec-d'));
    await revoke('exec-c', first); // the cached token is refused from now on ...
    await sleep(Math.max(0, t0 + 8500 - Date.now())); // ... and has expired by its expirationTimestamp
    await kube.list('v1', 'ConfigMap', { namespace: NS });
    expect(plugin.runs()).toBe(2);
    expect(log.unauthorized()).toEqual([]); // acmg asked the plugin again before sending, not after a 401
    kube.close();
  });

  // Before: client-node does not read kubectl's tokenFile: nothing was sent (401 from the start).
  test("a kubeconfig user's tokenFile rotated and the old token revoked: the next request reads the new one", async () => {
    const dir = mkdtempSync(join(root, 'token-file-'));
    const first = newToken('file-a');
    writeFileSync(join(dir, 'token'), first);
    const log = debugLog();
    const kube = await Kube.connect({ kubeconfig: kubeconfigWith({ tokenFile: join(dir, 'token') }), debug: log.debug });
    await kube.list('v1', 'ConfigMap', { namespace: NS });
    writeFileSync(join(dir, 'token'), newToken('file-b'));
    await revoke('file-a', first);
    await expect(kube.list('v1', 'ConfigMap', { namespace: NS })).resolves.toBeDefined();
    expect(log.lines.some((l) => /tokenFile .* changed/.test(l))).toBe(true);
    kube.close();
  });

  // Before: the in-cluster token was read once; the controller's watches failed with 401 after a rotation.
  test('in-cluster: the service-account token rotated as kubelet rotates it, and an informer keeps watching across it', async () => {
    const sa = mkdtempSync(join(root, 'serviceaccount-'));
    copyFileSync(caFile, join(sa, 'ca.crt'));
    const rotate = (token: string) => {
      writeFileSync(join(sa, '..token.tmp'), token);
      renameSync(join(sa, '..token.tmp'), join(sa, 'token'));
    };
    const first = newToken('incluster-a');
    rotate(first);
    const kube = await Kube.connect({
      environment: {
        env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(apiPort) },
        home: mkdtempSync(join(root, 'home-')), // no ~/.kube/config: in-cluster, as in the controller's pod
        serviceAccountDir: sa,
      },
    });
    const errors: string[] = [];
    const abort = new AbortController();
    const informer = new Informer(kube, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: NS,
      project: (o) => o.metadata.name,
      onChange: () => undefined,
      onError: (e) => errors.push((e as Error).message),
      onSuccess: () => undefined,
      signal: abort.signal,
      watchSeconds: 2, // the API server ends each watch after 2 s: each new one is sent with the token of the moment
    });
    const running = informer.run();
    try {
      await eventually('the informer to list', 20_000, () => informer.synced);
      rotate(newToken('incluster-b'));
      await revoke('incluster-a', first);
      kubectl(['-n', NS, 'create', 'configmap', 'after-rotation']);
      await eventually('the informer to see a ConfigMap made after the rotation', 30_000, () => informer.cache.has(`${NS}/after-rotation`));
      expect(errors.filter((m) => /401|Unauthorized/.test(m))).toEqual([]);
    } finally {
      abort.abort();
      kube.close();
      await running;
    }
  });

  // Before: only Impersonate-User was sent; the groups, uid and extra were not.
  test('as, as-uid, as-groups and as-user-extra: the API server sees the impersonated identity (SelfSubjectReview)', async () => {
    const kube = await Kube.connect({
      kubeconfig: kubeconfigWith({
        'client-certificate': admin.cert,
        'client-key': admin.key,
        as: 'jane',
        'as-uid': 'jane-uid-1',
        'as-groups': ['developers', 'auditors'],
        'as-user-extra': { 'acme.com/project': ['p1', 'p2'] },
      }),
    });
    const review = await kube.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    expect(review.status.userInfo).toMatchObject({
      username: 'jane',
      uid: 'jane-uid-1',
      groups: expect.arrayContaining(['developers', 'auditors']),
      extra: { 'acme.com/project': ['p1', 'p2'] },
    });
    kube.close();
  });

  // Before: the port-forward dropped tls-server-name, and proxy-url was ignored everywhere.
  test('tls-server-name and proxy-url: requests and the port-forward to CoreDNS through a CONNECT proxy, the certificate checked for that name', async () => {
    // A CONNECT proxy on loopback that takes every tunnel to the local API server: the server's
    // address in the kubeconfig is a name nothing resolves, so only the proxy can reach it.
    const connects: string[] = [];
    const sockets = new Set<net.Socket>();
    const proxy = http.createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      connects.push(req.url ?? '');
      const up = net.connect(apiPort, '127.0.0.1', () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) up.write(head);
        up.pipe(socket);
        socket.pipe(up);
      });
      for (const s of [socket, up]) {
        sockets.add(s);
        s.on('error', () => undefined);
      }
      socket.on('close', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    try {
      const cluster = (name: string) => ({ server: `https://acmg-api.invalid:${apiPort}`, 'tls-server-name': name, 'proxy-url': proxyUrl });
      const user = { 'client-certificate': admin.cert, 'client-key': admin.key };
      const kube = await Kube.connect({ kubeconfig: kubeconfigWith(user, cluster('kubernetes')) }); // a name in the API server's certificate
      expect((await kube.serverVersion()).gitVersion).toMatch(/^v1\./);
      const resolver = await portForwardResolver(kube, 'kube-system', 5000);
      try {
        const clusterIP = kubectlJson(['-n', 'default', 'get', 'service', 'kubernetes']).spec.clusterIP;
        const answer = await resolver.ask('kubernetes.default.svc.cluster.local', 'A');
        expect(answer.answers.map((a) => a.data)).toEqual([clusterIP]);
      } finally {
        await resolver.close();
        kube.close();
      }
      expect(connects.every((c) => c === `acmg-api.invalid:${apiPort}`)).toBe(true);
      expect(connects.length).toBeGreaterThanOrEqual(2); // requests, and the port-forward's WebSocket
      // A name the certificate does not have is refused: the check is real.
      const wrong = await Kube.connect({ kubeconfig: kubeconfigWith(user, cluster('not-in-the-certificate.example')) });
      await expect(wrong.serverVersion()).rejects.toThrow(/not-in-the-certificate\.example/);
      wrong.close();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});
