// Finds and merges kubeconfig files the way kubectl does: --kubeconfig alone if given; else every
// file in $KUBECONFIG (missing ones skipped, the first to define a name or current-context wins);
// else ~/.kube/config; else the in-cluster service account. Each file is read within a size limit
// and through the bounded YAML loader before client-node sees it. Besides client-node's view, the
// raw cluster and user entries are kept: credentials (kube/credentials.ts) read fields client-node
// drops (tokenFile, as-groups, as-uid, as-user-extra) or applies once (exec, the in-cluster token).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import net from 'node:net';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { AcmgError, ExitCode, usageError } from '../errors.js';
import { INPUT_LIMITS, readBounded } from '../input/read-bounded.js';
import { clip, loadAllBounded } from '../input/safe-yaml.js';

export type KubeconfigSource = { kind: 'files'; files: string[]; skipped: string[] } | { kind: 'in-cluster' };

const HINT = "pass --kubeconfig PATH or set KUBECONFIG to your cluster's kubeconfig (the file kubectl uses; kubectl config view shows it)";

/** Which files to read (pure but for existsSync), in kubectl's order of precedence. */
export function kubeconfigSource(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, home = homedir()): KubeconfigSource {
  if (flag) {
    if (!existsSync(flag)) throw usageError(`--kubeconfig "${clip(flag)}": no such file`, HINT);
    return { kind: 'files', files: [resolve(flag)], skipped: [] };
  }
  if (env.KUBECONFIG) {
    const listed = [
      ...new Set(
        env.KUBECONFIG.split(delimiter)
          .filter(Boolean)
          .map((f) => resolve(f)),
      ),
    ];
    const files = listed.filter((f) => existsSync(f));
    if (files.length === 0) throw usageError(`no kubeconfig found: none of the files in KUBECONFIG exists (${clip(listed.join(delimiter))})`, HINT);
    return { kind: 'files', files, skipped: listed.filter((f) => !files.includes(f)) };
  }
  const def = join(home, '.kube', 'config');
  if (existsSync(def)) return { kind: 'files', files: [def], skipped: [] };
  if (env.KUBERNETES_SERVICE_HOST) return { kind: 'in-cluster' };
  // client-node would fall back to http://localhost:8080 and fail with a confusing TLS message.
  throw usageError('no kubeconfig found: KUBECONFIG is not set and ~/.kube/config does not exist', HINT);
}

/** A cluster or user entry as written (the raw mapping), its paths made absolute. */
export type RawEntry = Record<string, unknown>;

export interface LoadedKubeconfig {
  /** client-node's view: contexts, current-context, and legacy auth-provider users. */
  kc: KubeConfig;
  /** Each cluster's and user's own mapping, first file wins (client-node drops fields kubectl reads: tokenFile, as-groups, ...). */
  clusters: Map<string, RawEntry>;
  users: Map<string, RawEntry>;
}

/** Where the in-cluster service account's files are (the Kubernetes default). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const absolute = (dir: string, p: unknown) => (typeof p === 'string' && p !== '' ? (isAbsolute(p) ? p : join(dir, p)) : p);

/** Relative certificate, token and exec-command paths are relative to the file that names them (kubectl's ResolveLocalPaths). */
function resolvePaths(kind: 'cluster' | 'user', entry: RawEntry, dir: string): RawEntry {
  const e: RawEntry = { ...entry };
  if (kind === 'cluster') e['certificate-authority'] = absolute(dir, e['certificate-authority']);
  else {
    for (const k of ['client-certificate', 'client-key', 'tokenFile', 'token-file']) if (k in e) e[k] = absolute(dir, e[k]);
    const exec = e.exec as Record<string, unknown> | undefined;
    // Only a command with a path separator; a bare name is looked up in PATH.
    if (exec && typeof exec === 'object' && typeof exec.command === 'string' && exec.command.includes('/'))
      e.exec = { ...exec, command: absolute(dir, exec.command) };
  }
  return e;
}

/** The in-cluster service account as a kubeconfig (client-go's InClusterConfig). */
function inCluster(env: NodeJS.ProcessEnv, saDir: string) {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw usageError('in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT', HINT);
  const server = `https://${net.isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  return {
    cluster: { server, 'certificate-authority': join(saDir, 'ca.crt') } as RawEntry,
    user: { tokenFile: join(saDir, 'token') } as RawEntry,
  };
}

/** Loads the source: client-node's KubeConfig (merge rules as kubectl's) and the raw entries. */
export async function loadKubeconfig(source: KubeconfigSource, opts: { env?: NodeJS.ProcessEnv; serviceAccountDir?: string } = {}): Promise<LoadedKubeconfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  const clusters = new Map<string, RawEntry>();
  const users = new Map<string, RawEntry>();
  if (source.kind === 'in-cluster') {
    const ic = inCluster(opts.env ?? process.env, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
    clusters.set('inCluster', ic.cluster);
    users.set('inClusterUser', ic.user);
    kc.loadFromOptions({
      clusters: [{ name: 'inCluster', server: ic.cluster.server as string, caFile: ic.cluster['certificate-authority'] as string, skipTLSVerify: false }],
      users: [{ name: 'inClusterUser' }],
      contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser' }],
      currentContext: 'inClusterContext',
    });
    return { kc, clusters, users };
  }
  const merged = { clusters: [] as KubeConfig['clusters'], users: [] as KubeConfig['users'], contexts: [] as KubeConfig['contexts'], currentContext: '' };
  for (const file of source.files) {
    const what = `kubeconfig "${file}"`;
    const text = readBounded(file, INPUT_LIMITS.kubeconfigBytes, 'kubeconfig');
    const docs = loadAllBounded(text, what);
    if (docs.length === 0 || docs[0] === null) continue; // an empty file, as kubectl allows
    if (typeof docs[0] !== 'object' || Array.isArray(docs[0]))
      throw usageError(`${what} is not a kubeconfig (expected a mapping with clusters, users and contexts)`, HINT);
    const one = new KubeConfig();
    try {
      one.loadFromString(text);
      // Relative certificate and token paths are relative to the file that names them.
      (one as unknown as { makePathsAbsolute(dir: string): void }).makePathsAbsolute(dirname(file));
    } catch (e) {
      throw new AcmgError(ExitCode.Usage, `cannot load ${what}: ${clip((e as Error).message)}`, HINT);
    }
    const firstWins = <T extends { name: string }>(into: T[], from: T[]) => {
      for (const x of from ?? []) if (!into.some((y) => y.name === x.name)) into.push(x);
    };
    firstWins(merged.clusters, one.clusters);
    firstWins(merged.users, one.users);
    firstWins(merged.contexts, one.contexts);
    if (!merged.currentContext && one.currentContext) merged.currentContext = one.currentContext;
    const doc = docs[0] as Record<string, unknown>;
    const raw = (list: unknown, field: 'cluster' | 'user', into: Map<string, RawEntry>) => {
      if (!Array.isArray(list)) return;
      for (const item of list) {
        const name = item && typeof item === 'object' ? (item as Record<string, unknown>).name : undefined;
        const body = item && typeof item === 'object' ? (item as Record<string, unknown>)[field] : undefined;
        if (typeof name !== 'string' || into.has(name)) continue;
        into.set(name, resolvePaths(field, body && typeof body === 'object' && !Array.isArray(body) ? (body as RawEntry) : {}, dirname(file)));
      }
    };
    raw(doc.clusters, 'cluster', clusters);
    raw(doc.users, 'user', users);
  }
  kc.loadFromOptions(merged);
  return { kc, clusters, users };
}

/** TLS settings of a cluster and user entry (read once, as kubectl reads them). */
export interface TlsSettings {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** tls-server-name: the name sent in SNI and checked against the server's certificate. */
  servername?: string;
  rejectUnauthorized: boolean;
}

function fileOrData(entry: RawEntry, fileKey: string, dataKey: string, owner: string): Buffer | undefined {
  const file = entry[fileKey];
  if (typeof file === 'string' && file) {
    try {
      return readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw usageError(`${owner}: cannot read ${fileKey} "${file}": ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, HINT);
    }
  }
  const data = entry[dataKey];
  if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
  return undefined;
}

export function tlsSettings(cluster: RawEntry, user: RawEntry, clusterName: string, userName: string): TlsSettings {
  const c = `cluster "${clusterName}"`;
  const u = `kubeconfig user "${userName}"`;
  const servername = cluster['tls-server-name'];
  if (servername !== undefined && servername !== null && typeof servername !== 'string') throw usageError(`${c}: tls-server-name must be a string`, HINT);
  return {
    ca: fileOrData(cluster, 'certificate-authority', 'certificate-authority-data', c),
    cert: fileOrData(user, 'client-certificate', 'client-certificate-data', u),
    key: fileOrData(user, 'client-key', 'client-key-data', u),
    servername: servername || undefined,
    rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
  };
}
