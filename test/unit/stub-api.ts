// A stub API server (plain HTTP, as behind kubectl proxy) for tests that run the built CLI: it
// answers GETs of the paths it is given (an object, or a list's items) and 404 for every other
// path, and records each request. Enough for the read-only commands (version, live completion).
import http from 'node:http';

export interface StubApi {
  url: string;
  /** "GET /path?query" of every request, in order. */
  requests: string[];
  close: () => Promise<void>;
}

/** `objects`: path -> object; `lists`: collection path -> items (any label selector gets them all). */
export async function stubApi(objects: Record<string, unknown>, lists: Record<string, unknown[]> = {}): Promise<StubApi> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    requests.push(`${req.method} ${req.url}`);
    const send = (code: number, body: unknown) => res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    const path = new URL(req.url ?? '/', 'http://stub').pathname;
    if (req.method === 'GET' && path === '/version' && !('/version' in objects)) return send(200, { major: '1', minor: '35', gitVersion: 'v1.35.4' });
    if (req.method === 'GET' && path in objects) return send(200, objects[path]);
    if (req.method === 'GET' && path in lists) return send(200, { kind: 'List', metadata: { resourceVersion: '1' }, items: lists[path] });
    send(404, { kind: 'Status', status: 'Failure', reason: 'NotFound', message: `the stub has no ${path}`, code: 404 });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** acmg's install record ConfigMap, as install writes it (only the fields readers use). */
export function stateConfigMap(opts: {
  namespace?: string;
  version: string;
  profile?: string;
  revision?: string;
  migrations?: Record<string, unknown>;
  objects?: unknown[];
}) {
  const namespace = opts.namespace ?? 'istio-system';
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'acmg-state', namespace, labels: { 'app.kubernetes.io/managed-by': 'acmg', 'app.kubernetes.io/component': 'state' } },
    data: {
      install: JSON.stringify({
        version: opts.version,
        profile: opts.profile ?? 'acmg',
        values: {
          namespace,
          revision: opts.revision ?? '',
          dns: { namespace: 'kube-system', configMap: 'coredns', customConfigMap: 'coredns-custom', mode: 'auto', clusterDomain: 'auto', ttl: 5 },
        },
        clusterDomain: 'cluster.local',
        objects: opts.objects ?? [],
        installedAt: '2026-01-01T00:00:00.000Z',
      }),
      ...(opts.migrations ? { migrations: JSON.stringify(opts.migrations) } : {}),
    },
  };
}

export const deployment = (namespace: string, name: string, container: string, image: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace, labels },
  spec: { template: { metadata: { labels }, spec: { containers: [{ name: container, image }] } } },
});
