// Finds and merges kubeconfig files the way kubectl does: --kubeconfig alone if given; else every
// file in $KUBECONFIG (missing ones skipped, the first to define a name or current-context wins);
// else ~/.kube/config; else the in-cluster service account. Each file is read within a size limit
// and through the bounded YAML loader before client-node sees it.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
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

/** Loads the source into a client-node KubeConfig (merge rules as kubectl's). */
export async function loadKubeconfig(source: KubeconfigSource): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (source.kind === 'in-cluster') {
    kc.loadFromCluster();
    return kc;
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
  }
  kc.loadFromOptions(merged);
  return kc;
}
