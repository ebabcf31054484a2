// What a user sees when the cluster refuses or cannot be reached: the built CLI against a stub API
// server (plain HTTP, as behind kubectl proxy) that answers 401 or 403, or a port nothing listens on.
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kube } from '../../src/kube/client.js';
import { AcmgError } from '../../src/errors.js';
import { ensureBuilt, kubeconfigFor, runCli } from './process.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'acmg-cluster-errors-'));
});

/** An API server that knows the version and answers access reviews "no"; every other request gets `status`. */
async function refusingServer(status: 401 | 403): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const send = (code: number, body: unknown) => res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    req.resume();
    if (status === 401) return send(401, { kind: 'Status', status: 'Failure', reason: 'Unauthorized', message: 'Unauthorized', code: 401 });
    if (req.url === '/version') return send(200, { major: '1', minor: '35', gitVersion: 'v1.35.4' });
    if (req.method === 'POST' && req.url?.includes('selfsubjectaccessreviews'))
      return send(201, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', status: { allowed: false } });
    send(403, { kind: 'Status', status: 'Failure', reason: 'Forbidden', message: `the stub forbids ${req.method} ${req.url}`, code: 403 });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

test('connection refused names the error code once', async () => {
  const kube = await Kube.connect({ kubeconfig: kubeconfigFor('https://127.0.0.1:1', 'down', dir) }); // nothing listens on port 1
  const e = await kube.serverVersion().then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(AcmgError);
  const message = (e as AcmgError).message;
  expect(message).toBe('cannot reach the API server at https://127.0.0.1:1 (context "down"): connect ECONNREFUSED 127.0.0.1:1');
  expect(message.match(/ECONNREFUSED/g)).toHaveLength(1);
});

test('precheck under a 403 on reads: failures with a permission hint, skipped records, nothing "will be created"', async () => {
  const api = await refusingServer(403);
  try {
    const r = await runCli(['precheck', '--kubeconfig', kubeconfigFor(api.url, 'forbidden', dir)]);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/will be created/);
    expect(r.stdout).not.toMatch(/√ no name collisions/);
    expect(r.stdout).not.toMatch(/pick other names/);
    expect(r.stdout).toMatch(/× namespace istio-system exists: permission denied \(403\)/);
    expect(r.stdout).toMatch(/hint: you may not get namespaces \(cluster-wide\).*kubectl auth can-i get namespaces/);
    expect(r.stdout).toMatch(/○ istiod, its injector and its validation: skipped: needs Istio networking CRDs installed/);
    const json = JSON.parse((await runCli(['precheck', '-o', 'json', '--kubeconfig', kubeconfigFor(api.url, 'forbidden', dir)])).stdout);
    expect(json.passed).toBe(false);
    expect(json.results.filter((x: any) => x.status === 'skipped').map((x: any) => x.check)).toEqual([
      'istiod, its injector and its validation',
      "only acmg's Istio Gateway selects the gateway pods",
    ]);
  } finally {
    await api.close();
  }
});

test('a 401: precheck and install word it as status does (credentials), and install never prints a passed precheck', async () => {
  const api = await refusingServer(401);
  try {
    const kc = kubeconfigFor(api.url, 'expired', dir);
    const status = await runCli(['status', '--kubeconfig', kc]);
    expect(status.code).toBe(3);
    expect(status.stderr).toMatch(/rejected the credentials \(401\)/);
    const pre = await runCli(['precheck', '--kubeconfig', kc]);
    expect(pre.code).toBe(3);
    expect(pre.stdout).toMatch(/× API server reachable: the API server rejected the credentials \(401\) for GET \/version/);
    expect(pre.stdout).toMatch(/hint: refresh your kubeconfig credentials/);
    expect(pre.stdout).not.toMatch(/cluster is up/);
    const install = await runCli(['install', '-y', '--kubeconfig', kc]);
    expect(install.code).toBe(3);
    expect(install.stderr).not.toMatch(/✔ precheck/);
    expect(install.stderr).toMatch(/✖ precheck/);
    expect(install.stderr).toMatch(/precheck failed: API server reachable: the API server rejected the credentials \(401\)/);
  } finally {
    await api.close();
  }
});

test('install under a 403: precheck is reported failed, then what failed', async () => {
  const api = await refusingServer(403);
  try {
    const r = await runCli(['install', '-y', '--kubeconfig', kubeconfigFor(api.url, 'forbidden', dir)]);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/✔ precheck/);
    expect(r.stderr.indexOf('✖ precheck')).toBeGreaterThanOrEqual(0);
    expect(r.stderr.indexOf('✖ precheck')).toBeLessThan(r.stderr.indexOf('precheck failed:'));
  } finally {
    await api.close();
  }
});

test("no hint meant for acmg's own developers reaches users", async () => {
  const r = await runCli(['status'], { env: { KUBECONFIG: '', HOME: '/nonexistent-home' } });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/no kubeconfig found/);
  expect(r.stderr).not.toMatch(/npm run|cluster:up/);
  expect(r.stderr).toMatch(/hint: .*--kubeconfig/);
});
