// The only module that talks to the API server. client-node is imported lazily and used for one
// thing: loading the kubeconfig and its auth (certs, tokens, exec plugins). Requests are plain
// HTTPS so acmg controls content types (server-side apply), watches, and counts its requests.
import https from 'node:https';
import http from 'node:http';
import { AcmgError, ExitCode } from '../errors.js';
import type { KObject } from '../model/object.js';
import { ApiError, isNotFound, type KubeApi, type ListOptions, type ListResult, type WatchOptions } from './api.js';
import { kubeconfigSource, loadKubeconfig } from './kubeconfig.js';
import { collectionPath, objectPath, resourceFor } from './resources.js';

export interface ConnectOptions {
  kubeconfig?: string;
  context?: string;
  /** Longest wait for one API request's answer (not watches); 0: none. kubectl's --request-timeout. */
  requestTimeoutMs?: number;
  /** Told about each request and skipped kubeconfig file (the CLI shows them with -v). */
  debug?: (msg: string) => void;
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

export class Kube implements KubeApi {
  /** API requests sent by this process (benchmarks report it). */
  requests = 0;
  private agentOptions: https.RequestOptions = {};
  private agent?: http.Agent;

  private constructor(
    readonly server: string,
    readonly contextName: string,
    private readonly applyAuth: (o: https.RequestOptions) => Promise<void>,
    readonly requestTimeoutMs: number,
    private readonly debug: (msg: string) => void,
  ) {}

  static async connect(opts: ConnectOptions): Promise<Kube> {
    const source = kubeconfigSource(opts.kubeconfig);
    const debug = opts.debug ?? (() => {});
    if (source.kind === 'files') for (const f of source.skipped) debug(`KUBECONFIG lists ${f}, which does not exist: skipped (as kubectl does)`);
    const kc = await loadKubeconfig(source);
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
    return new Kube(
      cluster.server.replace(/\/$/, ''),
      kc.getCurrentContext(),
      (o) => kc.applyToHTTPSOptions(o),
      opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      debug,
    );
  }

  private get plainHttp(): boolean {
    return this.server.startsWith('http:');
  }

  private async options(): Promise<https.RequestOptions> {
    if (!this.agent) {
      const o: https.RequestOptions = {};
      await this.applyAuth(o);
      this.agentOptions = o;
      // http:// (kubectl proxy, a local apiserver): no TLS settings, a plain agent.
      this.agent = this.plainHttp
        ? new http.Agent({ keepAlive: true, maxSockets: 32 })
        : new https.Agent({ keepAlive: true, maxSockets: 32, ca: o.ca, cert: o.cert, key: o.key, rejectUnauthorized: o.rejectUnauthorized });
    }
    return { ...this.agentOptions, agent: this.agent };
  }

  /** Ends every open connection (in-flight requests fail): for a controller that stops. */
  close(): void {
    this.agent?.destroy();
  }

  /** TLS and auth settings for other transports (the port-forward WebSocket). */
  async connectionOptions(): Promise<https.RequestOptions> {
    const { agent, ...rest } = await this.options();
    void agent;
    return rest;
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
    const base = await this.options();
    const u = this.url(path, ro.query);
    const body = ro.body === undefined ? undefined : typeof ro.body === 'string' ? ro.body : JSON.stringify(ro.body);
    this.requests++;
    this.debug(`${method} ${u.pathname}${u.search}`);
    return new Promise<T>((resolve, reject) => {
      const mod = u.protocol === 'http:' ? http : https;
      const req = mod.request(
        u,
        {
          ...base,
          method,
          // An explicit Content-Length (never chunked): an early error response must not leave
          // unread body bytes on a kept-alive connection, or the next request is garbled.
          headers: {
            ...(base.headers ?? {}),
            Accept: 'application/json',
            ...(body !== undefined ? { 'Content-Type': ro.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}),
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
  async delete(
    apiVersion: string,
    kind: string,
    name: string,
    namespace?: string,
    opts: { dryRun?: boolean; propagation?: 'Foreground' | 'Background' } = {},
  ): Promise<boolean> {
    try {
      await this.request('DELETE', objectPath(resourceFor(apiVersion, kind), name, namespace), {
        query: { propagationPolicy: opts.propagation ?? 'Background', dryRun: opts.dryRun ? 'All' : undefined },
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
    const base = await this.options();
    const u = this.url(collectionPath(resourceFor(apiVersion, kind), opts.namespace), {
      watch: 1,
      allowWatchBookmarks: true,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      resourceVersion: opts.resourceVersion,
      timeoutSeconds: opts.timeoutSeconds ?? 300,
    });
    this.requests++;
    return new Promise<boolean>((resolve, reject) => {
      const req = (this.plainHttp ? http : https).request(
        u,
        { ...base, method: 'GET', headers: { ...(base.headers ?? {}), Accept: 'application/json' } },
        (res) => {
          if ((res.statusCode ?? 0) >= 300) {
            res.resume();
            reject(new ApiError(res.statusCode ?? 0, 'WatchFailed', `watch ${u.pathname}: HTTP ${res.statusCode}`, 'GET', u.pathname));
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
