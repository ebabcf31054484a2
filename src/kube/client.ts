// The only module that talks to the API server. client-node is imported lazily and used for
// loading the kubeconfig (and legacy auth-provider users); credentials are acmg's own
// (kube/credentials.ts: exec plugins and token files refreshed as client-go refreshes them, a 401
// answered by one refresh and one resend), and so are proxies (kube/proxy.ts) and tls-server-name.
// Requests are plain HTTPS so acmg controls content types (server-side apply), watches, and counts
// its requests.
import https from 'node:https';
import http from 'node:http';
import { AcmgError, ExitCode } from '../errors.js';
import type { KObject } from '../model/object.js';
import { ApiError, isNotFound, type DeleteOptions, type KubeApi, type ListOptions, type ListResult, type WatchOptions } from './api.js';
import { credentialSource, defaultSurroundings, impersonationHeaders, type Credential, type CredentialSource, type Surroundings } from './credentials.js';
import { kubeconfigSource, loadKubeconfig, tlsSettings, type TlsSettings } from './kubeconfig.js';
import { makeAgent, proxyFor } from './proxy.js';
import { collectionPath, objectPath, resourceFor } from './resources.js';

export interface ConnectOptions {
  kubeconfig?: string;
  context?: string;
  /** Longest wait for one API request's answer (not watches); 0: none. kubectl's --request-timeout. */
  requestTimeoutMs?: number;
  /** Told about each request and skipped kubeconfig file (the CLI shows them with -v). */
  debug?: (msg: string) => void;
  /**
   * The process's surroundings: environment variables (KUBECONFIG, proxies, ACMG_EXEC_TIMEOUT),
   * home directory, the service account's directory, whether stdin is a terminal, exec timeouts.
   * Defaults to this process's; tests set them.
   */
  environment?: Partial<Surroundings> & { home?: string; serviceAccountDir?: string };
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

class TimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms}ms`);
  }
}

interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
}

type Headers = Record<string, string | string[]>;

/** What one request is sent with. */
interface Prepared {
  agent: http.Agent;
  headers: Headers;
  /** The credential's generation, for unauthorized(). */
  generation: number;
}

/** TLS, proxy and auth settings for another transport (the port-forward WebSocket). */
export interface ConnectionOptions {
  ca?: Buffer;
  cert?: Buffer | string;
  key?: Buffer | string;
  servername?: string;
  rejectUnauthorized: boolean;
  headers: Headers;
  /** Set when a proxy is in the way: an agent (without keep-alive) that tunnels through it. */
  agent?: http.Agent;
  /** Pass to unauthorized() when the server answers 401. */
  generation: number;
}

/** Everything Kube needs to reach and authenticate to the API server, from the kubeconfig. */
interface Endpoint {
  server: string;
  contextName: string;
  userName: string;
  tls: TlsSettings;
  proxy?: URL;
  impersonation: Headers;
  source: CredentialSource;
}

export class Kube implements KubeApi {
  /** API requests sent by this process (benchmarks report it). */
  requests = 0;
  readonly server: string;
  readonly contextName: string;
  private agent?: http.Agent;
  private agentKey = '';
  private readonly retired: http.Agent[] = [];

  private constructor(
    private readonly endpoint: Endpoint,
    readonly requestTimeoutMs: number,
    private readonly debug: (msg: string) => void,
  ) {
    this.server = endpoint.server;
    this.contextName = endpoint.contextName;
  }

  static async connect(opts: ConnectOptions): Promise<Kube> {
    const environment = opts.environment ?? {};
    const surroundings = defaultSurroundings(environment);
    const source = kubeconfigSource(opts.kubeconfig, surroundings.env, environment.home);
    const debug = opts.debug ?? (() => {});
    if (source.kind === 'files') for (const f of source.skipped) debug(`KUBECONFIG lists ${f}, which does not exist: skipped (as kubectl does)`);
    const { kc, clusters, users } = await loadKubeconfig(source, { env: surroundings.env, serviceAccountDir: environment.serviceAccountDir });
    if (opts.context) {
      if (!kc.getContexts().some((c) => c.name === opts.context)) {
        throw new AcmgError(
          ExitCode.Usage,
          `context "${opts.context}" is not in the kubeconfig (contexts: ${
            kc
              .getContexts()
              .map((c) => c.name)
              .join(', ') || 'none'
          })`,
          'list them with: kubectl config get-contexts',
        );
      }
      kc.setCurrentContext(opts.context);
    }
    if (!kc.getCurrentContext())
      throw new AcmgError(ExitCode.Usage, 'the kubeconfig has no current-context', 'pass --context NAME (kubectl config get-contexts lists them)');
    const cluster = kc.getCurrentCluster();
    if (!cluster)
      throw new AcmgError(
        ExitCode.Usage,
        `context "${kc.getCurrentContext()}" names a cluster that is not in the kubeconfig`,
        'pass --kubeconfig and --context',
      );
    let server: URL;
    try {
      server = new URL(cluster.server);
      if (server.protocol !== 'https:' && server.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      throw new AcmgError(
        ExitCode.Usage,
        `cluster "${cluster.name}" has server "${cluster.server}", which is not an https:// or http:// URL`,
        'fix the server field of that cluster in the kubeconfig',
      );
    }
    const userName = kc.getContextObject(kc.getCurrentContext())?.user ?? '';
    const rawCluster = clusters.get(cluster.name) ?? {};
    const rawUser = (userName && users.get(userName)) || {};
    const tls = tlsSettings(rawCluster, rawUser, cluster.name, userName);
    const proxyUrl = typeof rawCluster['proxy-url'] === 'string' && rawCluster['proxy-url'] ? rawCluster['proxy-url'] : undefined;
    const extension = Array.isArray(rawCluster.extensions)
      ? (rawCluster.extensions as { name?: string; extension?: unknown }[]).find((x) => x?.name === 'client.authentication.k8s.io/exec')?.extension
      : undefined;
    const { source: credentials } = credentialSource(
      rawUser,
      userName,
      {
        server: cluster.server,
        ...(tls.servername ? { 'tls-server-name': tls.servername } : {}),
        ...(tls.rejectUnauthorized ? {} : { 'insecure-skip-tls-verify': true }),
        ...(tls.ca ? { 'certificate-authority-data': tls.ca.toString('base64') } : {}),
        ...(proxyUrl ? { 'proxy-url': proxyUrl } : {}),
        ...(extension !== undefined ? { config: extension } : {}),
      },
      kc,
      surroundings,
      debug,
      source.kind === 'in-cluster',
    );
    return new Kube(
      {
        server: cluster.server.replace(/\/$/, ''),
        contextName: kc.getCurrentContext(),
        userName,
        tls,
        proxy: proxyFor(server, proxyUrl, surroundings.env, cluster.name),
        impersonation: impersonationHeaders(rawUser, userName),
        source: credentials,
      },
      opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      debug,
    );
  }

  private get plainHttp(): boolean {
    return this.server.startsWith('http:');
  }

  /** The credential now (an exec plugin runs or a token file is re-read if due), and the agent for its TLS identity. */
  private async prepare(): Promise<Prepared> {
    const cred = await this.endpoint.source.current();
    const { tls, impersonation } = this.endpoint;
    // A client certificate from the kubeconfig wins; one from an exec plugin may change on refresh.
    const agentKey = tls.cert ? '' : `${cred.cert ?? ''}\n${cred.key ?? ''}`;
    if (!this.agent || this.agentKey !== agentKey) {
      if (this.agent) this.retired.push(this.agent); // in-flight requests and watches finish on it
      this.agent = makeAgent(new URL(this.server), this.endpoint.proxy, { keepAlive: true, maxSockets: 32, ...this.tlsOptions(cred) });
      this.agentKey = agentKey;
    }
    return {
      agent: this.agent,
      headers: { ...impersonation, ...(cred.authorization ? { Authorization: cred.authorization } : {}) },
      generation: cred.generation,
    };
  }

  private tlsOptions(cred: Credential) {
    const { tls } = this.endpoint;
    return {
      ca: tls.ca,
      cert: tls.cert ?? cred.cert,
      key: tls.cert ? tls.key : (cred.key ?? tls.key),
      servername: tls.servername,
      rejectUnauthorized: tls.rejectUnauthorized,
    };
  }

  /**
   * Sends with the current credential; on a 401, if the credential can be refreshed (an exec
   * plugin, a token file that changed) and is now different, sends once more (client-go refreshes
   * on a 401; a 401 means the server did nothing, so sending the same request again is safe).
   */
  private async authenticated<T>(send: (p: Prepared) => Promise<T>): Promise<T> {
    const p = await this.prepare();
    try {
      return await send(p);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) throw e;
      if (!(await this.unauthorized(p.generation))) throw e;
      this.debug(`401 Unauthorized from ${this.server}: sending again with the refreshed credentials of user "${this.endpoint.userName}"`);
      return send(await this.prepare());
    }
  }

  /** A request sent with `generation` got a 401: true if different credentials are available now. */
  async unauthorized(generation: number): Promise<boolean> {
    return this.endpoint.source.unauthorized(generation);
  }

  /** Ends every open connection (in-flight requests fail): for a controller that stops. */
  close(): void {
    this.agent?.destroy();
    for (const a of this.retired.splice(0)) a.destroy();
  }

  /** TLS, proxy and auth settings for other transports (the port-forward WebSocket), with the current credential. */
  async connectionOptions(): Promise<ConnectionOptions> {
    const cred = await this.endpoint.source.current();
    const t = this.tlsOptions(cred);
    const proxy = this.endpoint.proxy;
    return {
      ...t,
      headers: { ...this.endpoint.impersonation, ...(cred.authorization ? { Authorization: cred.authorization } : {}) },
      agent: proxy ? makeAgent(new URL(this.server), proxy, { keepAlive: false, ...t }) : undefined,
      generation: cred.generation,
    };
  }

  /** A URL on the API server (wss:// for WebSockets). */
  apiUrl(path: string, query?: RequestOptions['query'], websocket = false): URL {
    const u = this.url(path, query);
    if (websocket) u.protocol = u.protocol === 'http:' ? 'ws:' : 'wss:';
    return u;
  }

  private url(path: string, query?: RequestOptions['query']): URL {
    const u = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  async request<T = any>(method: string, path: string, ro: RequestOptions = {}): Promise<T> {
    const u = this.url(path, ro.query);
    const body = ro.body === undefined ? undefined : typeof ro.body === 'string' ? ro.body : JSON.stringify(ro.body);
    return this.authenticated((p) => this.send<T>(method, u, body, ro.contentType, p));
  }

  private send<T>(method: string, u: URL, body: string | undefined, contentType: string | undefined, p: Prepared): Promise<T> {
    this.requests++;
    this.debug(`${method} ${u.pathname}${u.search}`);
    return new Promise<T>((resolve, reject) => {
      const mod = u.protocol === 'http:' ? http : https;
      const req = mod.request(
        u,
        {
          agent: p.agent,
          method,
          // An explicit Content-Length (never chunked): an early error response must not leave
          // unread body bytes on a kept-alive connection, or the next request is garbled.
          headers: {
            ...p.headers,
            Accept: 'application/json',
            ...(body !== undefined ? { 'Content-Type': contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            let parsed: any;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            if (status >= 200 && status < 300) resolve(parsed as T);
            else
              reject(new ApiError(status, parsed?.reason ?? String(status), parsed?.message ?? (text.slice(0, 200) || `HTTP ${status}`), method, u.pathname));
          });
          res.on('error', reject);
        },
      );
      // A deadline for the whole answer (an API server that accepts and never answers must not hang acmg).
      const timer = this.requestTimeoutMs > 0 ? setTimeout(() => req.destroy(new TimeoutError(this.requestTimeoutMs)), this.requestTimeoutMs) : undefined;
      req.on('close', () => clearTimeout(timer));
      req.on('error', (e) => reject(this.networkError(e)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  networkError(e: Error): AcmgError {
    if (e instanceof TimeoutError) {
      return new AcmgError(
        ExitCode.Cluster,
        `the API server at ${this.server} (context "${this.contextName}") did not answer within ${e.ms / 1000}s`,
        'check that the cluster is healthy; a slow API server may need a longer --request-timeout (0: no limit)',
      );
    }
    // Node's messages already name the code ("connect ECONNREFUSED 127.0.0.1:6443"): add it only where they do not.
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code && !e.message.includes(code) ? `${code} ${e.message}` : e.message;
    return new AcmgError(
      ExitCode.Cluster,
      `cannot reach the API server at ${this.server} (context "${this.contextName}"): ${reason}`.replace(/\s+/g, ' ').trim(),
      'check that the cluster is up and that --kubeconfig/--context point at it',
    );
  }

  async get<T extends KObject = KObject>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', objectPath(resourceFor(apiVersion, kind), name, namespace));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async list<T extends KObject = KObject>(apiVersion: string, kind: string, opts: ListOptions = {}): Promise<ListResult<T>> {
    const r = await this.request<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>(
      'GET',
      collectionPath(resourceFor(apiVersion, kind), opts.namespace),
      { query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: opts.limit, continue: opts.continue } },
    );
    const items = (r.items ?? []).map((i) => ({ ...i, apiVersion, kind }));
    return { items, resourceVersion: r.metadata?.resourceVersion ?? '', continue: r.metadata?.continue || undefined };
  }

  /** Server-side apply with field manager acmg. */
  async apply<T extends KObject = KObject>(obj: KObject, opts: { dryRun?: boolean; force?: boolean } = {}): Promise<T> {
    const r = resourceFor(obj.apiVersion, obj.kind);
    return this.request<T>('PATCH', objectPath(r, obj.metadata.name, obj.metadata.namespace), {
      body: obj,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: 'acmg', force: opts.force ?? true, dryRun: opts.dryRun ? 'All' : undefined },
    });
  }

  async create<T extends KObject = KObject>(obj: KObject, opts: { dryRun?: boolean } = {}): Promise<T> {
    const r = resourceFor(obj.apiVersion, obj.kind);
    return this.request<T>('POST', collectionPath(r, obj.metadata.namespace), {
      body: obj,
      query: { fieldManager: 'acmg', dryRun: opts.dryRun ? 'All' : undefined },
    });
  }

  /** PUT with the object's resourceVersion: fails with 409 if someone changed it meanwhile. */
  async replace<T extends KObject = KObject>(obj: KObject, opts: { dryRun?: boolean } = {}): Promise<T> {
    const r = resourceFor(obj.apiVersion, obj.kind);
    return this.request<T>('PUT', objectPath(r, obj.metadata.name, obj.metadata.namespace), {
      body: obj,
      query: { fieldManager: 'acmg', dryRun: opts.dryRun ? 'All' : undefined },
    });
  }

  async mergePatch<T extends KObject = KObject>(apiVersion: string, kind: string, name: string, namespace: string | undefined, patch: unknown): Promise<T> {
    return this.request<T>('PATCH', objectPath(resourceFor(apiVersion, kind), name, namespace), {
      body: patch,
      contentType: 'application/merge-patch+json',
      query: { fieldManager: 'acmg' },
    });
  }

  /** Deletes; returns false if it was already gone. */
  async delete(apiVersion: string, kind: string, name: string, namespace?: string, opts: DeleteOptions = {}): Promise<boolean> {
    try {
      await this.request('DELETE', objectPath(resourceFor(apiVersion, kind), name, namespace), {
        query: { propagationPolicy: opts.propagation ?? 'Background', dryRun: opts.dryRun ? 'All' : undefined },
        ...(opts.preconditions ? { body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: opts.preconditions } } : {}),
      });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /**
   * Watches a collection from a resourceVersion; calls onEvent for each event until it returns true
   * (done), the signal aborts, or the server ends the watch (then resolves false).
   */
  async watch(apiVersion: string, kind: string, opts: WatchOptions, onEvent: (type: string, obj: KObject) => boolean | void): Promise<boolean> {
    const u = this.url(collectionPath(resourceFor(apiVersion, kind), opts.namespace), {
      watch: 1,
      allowWatchBookmarks: true,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      resourceVersion: opts.resourceVersion,
      timeoutSeconds: opts.timeoutSeconds ?? 300,
    });
    // A 401 comes before any event: sent again once with refreshed credentials, like a request.
    return this.authenticated((p) => this.watchOnce(u, apiVersion, kind, opts, onEvent, p));
  }

  private watchOnce(
    u: URL,
    apiVersion: string,
    kind: string,
    opts: WatchOptions,
    onEvent: (type: string, obj: KObject) => boolean | void,
    p: Prepared,
  ): Promise<boolean> {
    this.requests++;
    return new Promise<boolean>((resolve, reject) => {
      const req = (this.plainHttp ? http : https).request(
        u,
        { agent: p.agent, method: 'GET', headers: { ...p.headers, Accept: 'application/json' } },
        (res) => {
          if ((res.statusCode ?? 0) >= 300) {
            res.resume();
            reject(
              new ApiError(
                res.statusCode ?? 0,
                res.statusCode === 401 ? 'Unauthorized' : 'WatchFailed',
                `watch ${u.pathname}: HTTP ${res.statusCode}`,
                'GET',
                u.pathname,
              ),
            );
            return;
          }
          let buf = '';
          let done = false;
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (done) return;
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              if (!line.trim()) continue;
              const ev = JSON.parse(line) as { type: string; object: KObject };
              if (ev.type === 'ERROR') {
                done = true;
                req.destroy();
                reject(
                  new ApiError(
                    (ev.object as any)?.code ?? 500,
                    (ev.object as any)?.reason ?? 'WatchError',
                    (ev.object as any)?.message ?? 'watch error',
                    'GET',
                    u.pathname,
                  ),
                );
                return;
              }
              if (ev.type === 'BOOKMARK') {
                const rv = ev.object?.metadata?.resourceVersion;
                if (rv) opts.onBookmark?.(rv);
                continue;
              }
              if (onEvent(ev.type, { ...ev.object, apiVersion, kind })) {
                done = true;
                req.destroy();
                resolve(true);
                return;
              }
            }
          });
          res.on('end', () => !done && resolve(false));
          res.on('error', (e) => !done && reject(e));
        },
      );
      opts.signal?.addEventListener('abort', () => {
        req.destroy();
        resolve(false);
      });
      req.on('error', (e) => reject(this.networkError(e)));
      req.end();
    });
  }

  async serverVersion(): Promise<{ gitVersion: string; major: string; minor: string }> {
    return this.request('GET', '/version');
  }
}
