// The one way e2e tests reach the local control plane (hack/), which global-setup.mjs starts (or
// reuses): its coordinates, kubectl, and polling helpers.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

export const ROOT = process.cwd();
export const HACK = join(ROOT, 'hack');

function versions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(HACK, 'versions.env'), 'utf8').split('\n')) {
    const m = line.match(/^([A-Z_]+)=(.*)$/);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

const cacheDir = process.env.ACMG_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? tmpdir(), '.cache'), 'acmg');
export const clusterDir = process.env.ACMG_CLUSTER_DIR ?? join(process.env.TMPDIR ?? '/tmp', 'acmg-cluster');
export const kubeconfig = join(clusterDir, 'kubeconfig');
export const dnsPort = Number(process.env.ACMG_DNS_PORT ?? 10053);
export const dns = { host: '127.0.0.1', port: dnsPort };
export const kubectlBin = join(cacheDir, 'bin', `kubectl-${versions().KUBERNETES_VERSION}`, 'kubectl');

/** kubectl against the local cluster; throws with stderr on failure. */
export function kubectl(args: string[], input?: string): string {
  try {
    return execFileSync(kubectlBin, ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

export function kubectlJson<T = any>(args: string[]): T {
  return JSON.parse(kubectl([...args, '-o', 'json'])) as T;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value or the deadline passes; returns the value and the time taken. */
export async function eventually<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined | false> | T | undefined | false, intervalMs = 250): Promise<{ value: T; ms: number }> {
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
