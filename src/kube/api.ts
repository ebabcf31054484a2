// What acmg's use cases need from the API server: the seam between them and the real client
// (kube/client.ts), as helm's actions take a kube.Interface. Unit tests drive the use cases through
// an in-memory implementation; the e2e tests drive them through the real API server.
import { AcmgError, ExitCode } from '../errors.js';
import type { KObject } from '../model/object.js';

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** At most this many items (the server then returns a continue token). */
  limit?: number;
  /** The token of the previous page. */
  continue?: string;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
  /** Set when more pages follow. */
  continue?: string;
}

export interface WatchOptions extends Omit<ListOptions, 'limit' | 'continue'> {
  resourceVersion?: string;
  timeoutSeconds?: number;
  signal?: AbortSignal;
  /** Called with each BOOKMARK's resourceVersion (to resume a watch from there). */
  onBookmark?: (resourceVersion: string) => void;
}

export interface DeleteOptions {
  dryRun?: boolean;
  propagation?: 'Foreground' | 'Background';
  /** Delete only this object as it was read: a 409 if it was changed or made again meanwhile. */
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface KubeApi {
  /** The API server's address, for messages. */
  readonly server: string;
  /** Requests sent so far (benchmarks report it). */
  readonly requests: number;
  serverVersion(): Promise<{ gitVersion: string; major: string; minor: string }>;
  get<T extends KObject = KObject>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T | undefined>;
  list<T extends KObject = KObject>(apiVersion: string, kind: string, opts?: ListOptions): Promise<ListResult<T>>;
  /** Server-side apply (field manager acmg). */
  apply<T extends KObject = KObject>(obj: KObject, opts?: { dryRun?: boolean; force?: boolean }): Promise<T>;
  create<T extends KObject = KObject>(obj: KObject, opts?: { dryRun?: boolean }): Promise<T>;
  /** PUT guarded by the object's resourceVersion: 409 if it changed meanwhile. */
  replace<T extends KObject = KObject>(obj: KObject, opts?: { dryRun?: boolean }): Promise<T>;
  mergePatch<T extends KObject = KObject>(apiVersion: string, kind: string, name: string, namespace: string | undefined, patch: unknown): Promise<T>;
  /** false if it was already gone. */
  delete(apiVersion: string, kind: string, name: string, namespace?: string, opts?: DeleteOptions): Promise<boolean>;
  /** Calls onEvent per event until it returns true (resolves true), the signal aborts or the watch ends (false). */
  watch(apiVersion: string, kind: string, opts: WatchOptions, onEvent: (type: string, obj: KObject) => boolean | void): Promise<boolean>;
  /** Ends open connections (a controller that stops). */
  close(): void;
}

/** An error status from the API server. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: ${message}`);
    this.name = 'ApiError';
  }
}

export const isNotFound = (e: unknown) => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof ApiError && e.status === 409;

/**
 * listPages for a kind whose CRD may not be installed (the Gateway API routes, Istio's security
 * policies), at the first of `apiVersions` the API server serves (an older Gateway API serves its
 * routes only at an alpha version): none where it serves none (404). Returns the version listed.
 */
export async function listPagesIfServed<T extends KObject = KObject>(
  kube: KubeApi,
  apiVersions: string | readonly string[],
  kind: string,
  opts: Omit<ListOptions, 'limit' | 'continue'>,
  onItem: (item: T) => void,
): Promise<string | undefined> {
  for (const apiVersion of typeof apiVersions === 'string' ? [apiVersions] : apiVersions)
    try {
      await listPages(kube, apiVersion, kind, opts, onItem);
      return apiVersion;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  return undefined;
}

/**
 * The first of `apiVersions` at which the API server serves a kind (one item asked for), if any (a
 * watch is opened there). An error other than 404 counts as served: the watch reports it.
 */
export async function servedVersion(kube: KubeApi, apiVersions: readonly string[], kind: string): Promise<string | undefined> {
  for (const apiVersion of apiVersions)
    try {
      await kube.list(apiVersion, kind, { limit: 1 });
      return apiVersion;
    } catch (e) {
      if (!isNotFound(e)) return apiVersion;
    }
  return undefined;
}

/**
 * Lists a collection page by page, handing each item to onItem, so no single response or array holds
 * every object (a list of 10,000 VirtualServices is tens of megabytes of JSON). Returns the
 * resourceVersion of the first page: the list's snapshot, from which a watch sees every later change.
 * If a continue token expires mid-way (410), the list restarts: onItem must tolerate seeing an item twice.
 */
export async function listPages<T extends KObject = KObject>(
  kube: KubeApi,
  apiVersion: string,
  kind: string,
  opts: Omit<ListOptions, 'limit' | 'continue'>,
  onItem: (item: T) => void,
  pageSize = 500,
): Promise<string> {
  for (let restarts = 0; ; restarts++) {
    let token: string | undefined;
    let resourceVersion = '';
    try {
      do {
        const page = await kube.list<T>(apiVersion, kind, { ...opts, limit: pageSize, continue: token });
        resourceVersion ||= page.resourceVersion;
        for (const item of page.items) onItem(item);
        token = page.continue || undefined;
      } while (token);
      return resourceVersion;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 410 && token && restarts < 3)) throw e;
    }
  }
}

/** Retries fn on 409 Conflict (optimistic concurrency): fn must re-read what it modifies. */
export async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!isConflict(e) || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** i) * (0.5 + Math.random())));
    }
  }
}

/**
 * What a request asked for, as RBAC and `kubectl auth can-i` name it, from its method and path
 * (/api/v1/namespaces/NS/configmaps/NAME, /apis/GROUP/VERSION/RESOURCE/NAME).
 */
export function accessOf(method: string, path: string): { verb: string; resource: string; namespace?: string } | undefined {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const rest = parts[0] === 'api' ? parts.slice(2) : parts[0] === 'apis' ? parts.slice(3) : undefined;
  const group = parts[0] === 'apis' ? parts[1] : '';
  if (!rest?.length) return undefined;
  const namespaced = rest[0] === 'namespaces' && rest.length >= 3;
  const [namespace, resource, name] = namespaced ? [rest[1], rest[2]!, rest[3]] : [undefined, rest[0]!, rest[1]];
  const verb = { GET: name ? 'get' : 'list', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: name ? 'delete' : 'deletecollection' }[method];
  if (!verb) return undefined;
  return { verb, resource: group ? `${resource}.${group}` : resource, ...(namespace ? { namespace } : {}) };
}

/**
 * A 403 from authorization (RBAC: "User ... cannot create resource ..."), not from an admission
 * plugin that answers 403 too (Priority: "no PriorityClass ...", PodSecurity, ResourceQuota).
 */
export const permissionDenied = (e: unknown): boolean =>
  e instanceof ApiError && e.status === 403 && (/ cannot /.test(e.message) || !/ is forbidden: /.test(e.message));

/** The hint for a 403: what was refused, and how to ask the API server what you may do. */
export function permissionHint(e: ApiError): string {
  const a = accessOf(e.method, e.path);
  if (!a) return 'ask a cluster admin for the permission; kubectl auth can-i --list shows what you may do';
  const where = a.namespace ? ` in ${a.namespace}` : ' (cluster-wide)';
  return `you may not ${a.verb} ${a.resource}${where}: ask a cluster admin to grant it (check with: kubectl auth can-i ${a.verb} ${a.resource}${a.namespace ? ` -n ${a.namespace}` : ''})`;
}

/** Turns API errors into user-facing errors with exit code 3, with a hint where one helps. */
export function explainApiError(e: unknown): unknown {
  if (!(e instanceof ApiError)) return e;
  if (/admission webhook .* denied the request|ValidatingAdmissionPolicy .* denied request/.test(e.message))
    return new AcmgError(
      ExitCode.Cluster,
      `the API server refused ${e.method} ${e.path}: ${e.message}`,
      'an admission webhook or policy of the cluster refused the change; its message says why',
    );
  if (e.status === 401)
    return new AcmgError(ExitCode.Cluster, `the API server rejected the credentials (401) for ${e.method} ${e.path}`, 'refresh your kubeconfig credentials');
  if (e.status === 403 && !permissionDenied(e))
    return new AcmgError(
      ExitCode.Cluster,
      `the API server refused ${e.method} ${e.path}: ${e.message}`,
      'an admission plugin of the cluster refused it; its message says why',
    );
  if (e.status === 403)
    return new AcmgError(
      ExitCode.Cluster,
      `permission denied (403): ${e.message}`,
      `${permissionHint(e)}; \`acmg precheck\` lists every permission acmg needs`,
    );
  return new AcmgError(ExitCode.Cluster, `API error ${e.status} ${e.reason} on ${e.method} ${e.path}: ${e.message}`);
}
