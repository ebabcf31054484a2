// The one way e2e tests reach the local control plane (hack/), which global-setup.mjs starts (or
// reuses): its coordinates, kubectl, and polling helpers.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

export const ROOT = process.cwd();
export const HACK = join(ROOT, 'hack');

function readVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(HACK, 'versions.env'), 'utf8').split('\n')) {
    const m = line.match(/^([A-Z_]+)=(.*)$/);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** hack/versions.env, read once. */
const V = readVersions();

const cacheDir = process.env.ACMG_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? tmpdir(), '.cache'), 'acmg');
export const clusterDir = process.env.ACMG_CLUSTER_DIR ?? join(process.env.TMPDIR ?? '/tmp', 'acmg-cluster');
export const kubeconfig = join(clusterDir, 'kubeconfig');
export const dnsPort = Number(process.env.ACMG_DNS_PORT ?? 10053);
export const dns = { host: '127.0.0.1', port: dnsPort };
export const kubectlBin = join(cacheDir, 'bin', `kubectl-${V.KUBERNETES_VERSION}`, 'kubectl');

// The Istio binaries, keyed as hack/lib.sh keys them (ISTIO_KEY, XDS_PROBE_KEY).
const istioKey = `${V.ISTIO_RELEASE}-${V.ISTIO_VERSION!.split('-').pop()}`;
const probeKey = `${istioKey}-${createHash('sha256')
  .update(readFileSync(join(HACK, 'xds-probe', 'main.go')))
  .digest('hex')
  .slice(0, 8)}`;
export const istioctlBin = join(cacheDir, 'bin', `istioctl-${istioKey}`, 'istioctl');
export const xdsProbeBin = join(cacheDir, 'bin', `xds-probe-${probeKey}`, 'xds-probe');
// hack/traffic-trace, keyed as hack/build.sh keys it (TRAFFIC_TRACE_KEY).
const traceKey = `${istioKey}-${createHash('sha256')
  .update(readFileSync(join(HACK, 'traffic-trace', 'main.go')))
  .digest('hex')
  .slice(0, 8)}`;
export const trafficTraceBin = join(cacheDir, 'bin', `traffic-trace-${traceKey}`, 'traffic-trace');
export const istioRelease = V.ISTIO_RELEASE!;
export const istiodXdsPort = Number(process.env.ACMG_ISTIOD_XDS_PORT ?? 15010);
export const istiodMonitoringPort = Number(process.env.ACMG_ISTIOD_MONITORING_PORT ?? 15014);

/** Switches the local cluster's CoreDNS layout (hack/cluster-layout.sh); returns once CoreDNS has loaded it. */
export const switchLayout = (name: string) => execFileSync('bash', [join(HACK, 'cluster-layout.sh'), name], { stdio: 'ignore' });

/** kubectl against the local cluster; throws with stderr on failure. */
export function kubectl(args: string[], input?: string): string {
  try {
    // Istio's real CRDs alone are several MB of JSON: well past execFileSync's 1 MiB default.
    return execFileSync(kubectlBin, ['--kubeconfig', kubeconfig, ...args], {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

export function kubectlJson<T = any>(args: string[]): T {
  return JSON.parse(kubectl([...args, '-o', 'json'])) as T;
}

/** How a test applies: server-side (the default) or client-side, and the flags it adds. */
export interface ApplyOptions {
  fieldManager?: string;
  forceConflicts?: boolean;
  /** --dry-run=server: admitted and validated, nothing written. */
  dryRun?: boolean;
  /** Plain `kubectl apply` (client-side, last-applied annotation) instead of --server-side. */
  clientSide?: boolean;
}

function applyArgs(sources: string[], o: ApplyOptions): string[] {
  return [
    'apply',
    ...(o.clientSide ? [] : ['--server-side']),
    ...(o.dryRun ? ['--dry-run=server'] : []),
    ...(o.forceConflicts ? ['--force-conflicts'] : []),
    ...(o.fieldManager ? [`--field-manager=${o.fieldManager}`] : []),
    ...sources.flatMap((s) => ['-f', s]),
  ];
}

/** `kubectl apply --server-side -f -` of one object, or of several as one v1 List; throws with stderr on failure. */
export const applyObjects = (objects: object | object[], opts: ApplyOptions = {}): string =>
  kubectl(applyArgs(['-'], opts), JSON.stringify(Array.isArray(objects) ? { apiVersion: 'v1', kind: 'List', items: objects } : objects));

/** `kubectl apply --server-side -f FILE...`: paths from the repository root (kubectl runs in ROOT), or absolute. */
export const applyFiles = (files: string | string[], opts: ApplyOptions = {}): string => kubectl(applyArgs(([] as string[]).concat(files), opts));

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value or the deadline passes; returns the value and the time taken. */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  intervalMs = 250,
): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return { value: v as T, ms: Date.now() - t0 };
    } catch (e) {
      last = e;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const ACMG_BIN = join(ROOT, 'bin', 'acmg.js');

/**
 * Under jest's 180 s test timeout: a command still running then is killed, so the test fails with
 * what it printed (its progress says what it waited for) instead of a bare timeout, and it cannot
 * go on changing the cluster under the next test.
 */
export const ACMG_TIMEOUT_MS = 150_000;

/** Runs the built CLI as a user would (no TTY), against the local cluster. */
export function acmg(args: string[], env: Record<string, string> = {}, timeoutMs = ACMG_TIMEOUT_MS): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ACMG_BIN, ...args], {
      env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      stderr += `\n[e2e] acmg ${args.join(' ')}: still running after ${timeoutMs / 1000} s, killed\n`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** The last lines of the harness's logs that DNS failures come from (CI shows no files, only output). */
export function harnessLogTails(lines = 15): string {
  return ['coredns-sync', 'coredns']
    .map((name) => {
      const path = join(clusterDir, 'logs', `${name}.log`);
      if (!existsSync(path)) return `--- ${path}: none`;
      return `--- last ${lines} lines of ${path}\n${readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')}`;
    })
    .join('\n');
}

/** Fails with the command's output (and the harness's DNS logs) when the exit code is not the expected one. */
export function expectExit(r: RunResult, code: number): RunResult {
  if (r.code !== code) throw new Error(`expected exit ${code}, got ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n${harnessLogTails()}`);
  return r;
}

/** Every object labelled as acmg's, as "Kind namespace/name" lines (kinds the server does not serve are skipped). */
export function acmgObjects(): string[] {
  const served = new Set(kubectl(['api-resources', '-o', 'name']).split('\n'));
  const kinds = [
    'serviceaccounts',
    'services',
    'deployments.apps',
    'configmaps',
    'poddisruptionbudgets.policy',
    'horizontalpodautoscalers.autoscaling',
    'gateways.networking.istio.io',
    'virtualservices.networking.istio.io',
    'destinationrules.networking.istio.io',
    'gateways.gateway.networking.k8s.io',
    'httproutes.gateway.networking.k8s.io',
    'tcproutes.gateway.networking.k8s.io',
    'roles.rbac.authorization.k8s.io',
    'rolebindings.rbac.authorization.k8s.io',
    'clusterroles.rbac.authorization.k8s.io',
    'clusterrolebindings.rbac.authorization.k8s.io',
  ].filter((k) => served.has(k));
  const out = kubectl([
    'get',
    kinds.join(','),
    '-A',
    '-l',
    'app.kubernetes.io/managed-by=acmg',
    '-o',
    'jsonpath={range .items[*]}{.kind} {.metadata.namespace}/{.metadata.name}{"\\n"}{end}',
  ]);
  return out.split('\n').filter(Boolean).sort();
}

export const corefile = (): string => kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns']).data.Corefile;

export const DNS_NAMESERVER = `127.0.0.1:${dnsPort}`;

/** What a migrated namespace's names answer: its door on the gateway, the ClusterIP of Service acmg-<namespace>. */
export const doorIP = (namespace: string, installNamespace = 'istio-system'): string =>
  kubectlJson(['-n', installNamespace, 'get', 'service', `acmg-${namespace}`]).spec.clusterIP;

/** istioctl analyze -A: the messages (code, level, origin) that name acmg's objects or the services it migrates. */
export function istioctlAnalyze(): { code: string; level: string; origin: string; message: string }[] {
  let out: string;
  try {
    out = execFileSync(istioctlBin, ['--kubeconfig', kubeconfig, 'analyze', '-A', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // analyze exits non-zero when it finds errors (79) or warnings; its JSON is on stdout either way.
    out = (e as { stdout?: string }).stdout ?? '';
    if (!out.trim().startsWith('[')) throw e;
  }
  return (JSON.parse(out || '[]') as any[]).map((m) => ({ code: m.code, level: m.level, origin: m.origin, message: m.message }));
}

/** A kubeconfig that authenticates as a ServiceAccount (a TokenRequest token), for the same API server. */
export function serviceAccountKubeconfig(namespace: string, name: string): string {
  const token = kubectl(['-n', namespace, 'create', 'token', name, '--duration=1h']).trim();
  const admin = kubectlJson(['config', 'view', '--raw', '--minify']);
  const cluster = admin.clusters[0];
  const file = join(mkdtempSync(join(tmpdir(), 'acmg-sa-')), 'kubeconfig');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [cluster],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: cluster.name, user: name, namespace } }],
      'current-context': name,
    }),
  );
  return file;
}

/** Runs acmg and kills it with SIGKILL as soon as its stderr shows `title` (a task starting); true if it was killed (not finished on its own). */
export async function acmgKilledAt(args: string[], title: RegExp): Promise<boolean> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'acmg.js'), ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.stderr!.on('data', (d) => {
    stderr += d;
    if (title.test(stderr)) child.kill('SIGKILL');
  });
  await exited;
  return child.signalCode === 'SIGKILL';
}
