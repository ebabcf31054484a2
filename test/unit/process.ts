// Helpers for tests that run the built CLI as a process: execa for the process, a stub TCP "API
// server" that counts connections (to prove a command failed before any network call, or to hang).
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';

export const ROOT = process.cwd();
export const ACMG = join(ROOT, 'bin', 'acmg.js');

export function ensureBuilt(): void {
  if (!existsSync(join(ROOT, 'dist', 'cli.cjs'))) spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The CLI with a clean environment (no colour settings leaking in from the test runner). */
export async function runCli(args: string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  const t0 = Date.now();
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, CI: undefined, TERM: undefined, ...opts.env };
  const r = await execa(process.execPath, [ACMG, ...args], {
    env,
    extendEnv: false,
    input: opts.input ?? '',
    reject: false,
    timeout: opts.timeoutMs ?? 30_000,
    maxBuffer: 16 * 1024 * 1024,
    stripFinalNewline: false,
  });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr), ms: Date.now() - t0 };
}

/**
 * A pseudo-terminal from util-linux `script` around the CLI. Without an outer terminal its size
 * is 0x0, like `docker exec -t` and some CI runners; `cols` sets a real width first.
 */
export function inTerminal(args: string[], opts: { env?: Record<string, string>; cols?: number; timeoutMs?: number } = {}) {
  const quoted = [process.execPath, ACMG, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const cmd = `${opts.cols ? `stty cols ${opts.cols}; ` : ''}exec ${quoted}`;
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, CI: undefined, TERM: 'xterm', ...opts.env };
  return execa('script', ['-qec', cmd, '/dev/null'], {
    env,
    extendEnv: false,
    reject: false,
    timeout: opts.timeoutMs ?? 30_000,
    maxBuffer: 64 * 1024 * 1024,
    stdin: 'ignore',
  });
}

/** A TCP server that accepts connections and never answers; counts them. */
export async function silentServer(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    n++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => n,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A kubeconfig whose one cluster is at `server` (no credentials: enough to make requests). */
export function kubeconfigFor(server: string, name = 'stub', dir = mkdtempSync(join(tmpdir(), 'acmg-kc-'))): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: ${name}
  cluster: { server: "${server}", insecure-skip-tls-verify: true }
users:
- name: ${name}
  user: { token: test }
contexts:
- name: ${name}
  context: { cluster: ${name}, user: ${name} }
current-context: ${name}
`,
  );
  return file;
}
