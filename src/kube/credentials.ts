// Credentials as kubectl (client-go) handles them, for every request rather than once per process:
//   - token / tokenFile: a tokenFile (and the in-cluster service-account token, which kubelet
//     rotates about hourly) is re-read when the file changes (looked at once a second), at least
//     every minute (client-go's period), and at once after a 401; a read that fails keeps the
//     last good token.
//   - exec plugins (client.authentication.k8s.io/v1 and v1beta1): run once and cached until
//     shortly before status.expirationTimestamp (a minute, or a tenth of a shorter lifetime), and
//     again after a 401; concurrent requests share one run. interactiveMode is honoured (Never:
//     stdin is not attached; Always without a terminal: refused, naming the plugin), and a run that
//     does not finish in time is killed with an error naming the command and the kubeconfig user.
//   - username/password: basic auth. Legacy auth-provider entries (oidc, gcp, azure) are still
//     delegated to client-node, asked on every request so its own refresh takes effect.
//   - as, as-uid, as-groups, as-user-extra: the Impersonate-* headers.
// The caller (kube/client.ts) sends the request, and on a 401 asks unauthorized(generation): true
// means different credentials are available and the request may be sent once more.
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { AcmgError, ExitCode, usageError } from '../errors.js';
import { parseDuration } from '../input/duration.js';
import { clip } from '../input/safe-yaml.js';

/** What the credentials depend on outside the kubeconfig; tests replace parts of it. */
export interface Surroundings {
  env: NodeJS.ProcessEnv;
  /** Whether acmg's standard input is a terminal (an exec plugin may then prompt). */
  stdinIsTTY: boolean;
  /** Longest run of an exec plugin without a terminal (ACMG_EXEC_TIMEOUT, default 60s). */
  execTimeoutMs: number;
  /** ... and with one, where a person may be typing (ACMG_EXEC_TIMEOUT, default 5m). */
  interactiveExecTimeoutMs: number;
  /** A token file is re-read at least this often (client-go: a minute). */
  tokenFileReloadMs: number;
  now: () => number;
  /** Where an exec plugin's standard error goes (client-go passes it through). */
  stderr: (chunk: Buffer) => void;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
export const DEFAULT_INTERACTIVE_EXEC_TIMEOUT_MS = 300_000;

export function defaultSurroundings(over: Partial<Surroundings> = {}): Surroundings {
  const env = over.env ?? process.env;
  const fromEnv = env.ACMG_EXEC_TIMEOUT ? parseDuration(env.ACMG_EXEC_TIMEOUT, 'ACMG_EXEC_TIMEOUT') : undefined;
  return {
    env,
    stdinIsTTY: over.stdinIsTTY ?? Boolean(process.stdin.isTTY),
    execTimeoutMs: over.execTimeoutMs ?? fromEnv ?? DEFAULT_EXEC_TIMEOUT_MS,
    interactiveExecTimeoutMs: over.interactiveExecTimeoutMs ?? fromEnv ?? DEFAULT_INTERACTIVE_EXEC_TIMEOUT_MS,
    tokenFileReloadMs: over.tokenFileReloadMs ?? 60_000,
    now: over.now ?? Date.now,
    stderr: over.stderr ?? ((c) => process.stderr.write(c)),
  };
}

/** What a request carries: an Authorization header (if any), and a client certificate from an exec plugin. */
export interface Credential {
  authorization?: string;
  cert?: string;
  key?: string;
  /** Changes whenever the credential does. */
  generation: number;
}

/** Where a user's credential comes from. */
export interface CredentialSource {
  current(): Promise<Credential>;
  /** A request sent with `generation` got a 401: true if a different credential is available now. */
  unauthorized(generation: number): Promise<boolean>;
}

const none: CredentialSource = { current: async () => ({ generation: 0 }), unauthorized: async () => false };

function fixed(authorization: string): CredentialSource {
  return { current: async () => ({ authorization, generation: 0 }), unauthorized: async () => false };
}

const STAT_INTERVAL_MS = 1000;

/** A bearer token in a file, re-read when it changes, periodically and after a 401 (client-go's cached file token source). */
export class TokenFileSource implements CredentialSource {
  private token = '';
  private generation = 0;
  private readAt = -Infinity;
  private checkedAt = -Infinity;
  private signature = '';

  constructor(
    readonly path: string,
    private readonly what: string,
    private readonly s: Surroundings,
    private readonly debug: (msg: string) => void,
    /** kubeconfig `token`, used only while the file cannot be read (as client-go) */
    private readonly fallback?: string,
  ) {}

  private stat(): string {
    try {
      const st = statSync(this.path);
      return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch {
      return 'missing';
    }
  }

  private reload(why: string): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8').trim();
      if (!text) throw new Error('the file is empty');
    } catch (e) {
      const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
      if (this.token) {
        this.debug(`cannot re-read ${this.what} (${reason}): keeping the token read before`);
        this.readAt = this.s.now();
        return;
      }
      if (this.fallback) {
        this.token = this.fallback;
        this.readAt = this.s.now();
        return;
      }
      throw usageError(`cannot read ${this.what}: ${reason}`, 'fix the path in the kubeconfig, or check that the token is mounted');
    }
    this.readAt = this.checkedAt = this.s.now();
    this.signature = this.stat();
    if (text !== this.token) {
      if (this.token) this.debug(`${this.what} changed (${why}): using the new token`);
      this.token = text;
      this.generation++;
    }
  }

  async current(): Promise<Credential> {
    const now = this.s.now();
    if (!this.token) this.reload('first read');
    else if (now - this.readAt >= this.s.tokenFileReloadMs) this.reload('periodic re-read');
    else if (now - this.checkedAt >= STAT_INTERVAL_MS) {
      // A stat at most once a second (a migration sends thousands of requests); a 401 looks at once.
      this.checkedAt = now;
      if (this.stat() !== this.signature) this.reload('file changed');
    }
    return { authorization: `Bearer ${this.token}`, generation: this.generation };
  }

  async unauthorized(generation: number): Promise<boolean> {
    if (generation !== this.generation) return true;
    this.reload('401 Unauthorized');
    return generation !== this.generation;
  }
}

export interface ExecConfig {
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
  apiVersion: string;
  installHint?: string;
  provideClusterInfo?: boolean;
  interactiveMode?: 'Never' | 'IfAvailable' | 'Always';
}

export const EXEC_API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];

/** The cluster as an exec plugin with provideClusterInfo sees it (ExecCredential spec.cluster). */
export interface ExecClusterInfo {
  server: string;
  'tls-server-name'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'certificate-authority-data'?: string;
  'proxy-url'?: string;
  config?: unknown;
}

/** Checks a kubeconfig user's exec entry as client-go does (exit 2 naming the user). */
export function execConfig(raw: unknown, user: string): ExecConfig {
  const where = `exec of kubeconfig user "${user}"`;
  const hint = 'see the exec section of the Kubernetes client authentication docs; kubectl refuses it too';
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw usageError(`${where} is not a mapping`, hint);
  const e = raw as Record<string, unknown>;
  if (typeof e.command !== 'string' || !e.command) throw usageError(`${where} has no command`, hint);
  if (typeof e.apiVersion !== 'string' || !e.apiVersion) throw usageError(`${where} has no apiVersion (${EXEC_API_VERSIONS.join(' or ')})`, hint);
  if (!EXEC_API_VERSIONS.includes(e.apiVersion))
    throw usageError(`${where} has apiVersion "${clip(e.apiVersion, 80)}": acmg and kubectl support ${EXEC_API_VERSIONS.join(' and ')}`, hint);
  if (e.args !== undefined && e.args !== null && (!Array.isArray(e.args) || e.args.some((a) => typeof a !== 'string')))
    throw usageError(`${where}: args must be a list of strings`, hint);
  if (
    e.env !== undefined &&
    e.env !== null &&
    (!Array.isArray(e.env) || e.env.some((x) => !x || typeof x !== 'object' || typeof x.name !== 'string' || typeof x.value !== 'string'))
  )
    throw usageError(`${where}: env must be a list of {name, value} strings`, hint);
  let mode = e.interactiveMode;
  if (mode === undefined || mode === null || mode === '') {
    // client-go: optional (IfAvailable) for v1beta1, required for v1.
    if (e.apiVersion === 'client.authentication.k8s.io/v1')
      throw usageError(`${where}: interactiveMode must be specified for ${e.apiVersion} (Never, IfAvailable or Always)`, hint);
    mode = 'IfAvailable';
  }
  if (mode !== 'Never' && mode !== 'IfAvailable' && mode !== 'Always')
    throw usageError(`${where}: interactiveMode "${clip(String(mode), 40)}" is not Never, IfAvailable or Always`, hint);
  return {
    command: e.command,
    args: (e.args as string[] | undefined) ?? [],
    env: (e.env as ExecConfig['env']) ?? [],
    apiVersion: e.apiVersion,
    installHint: typeof e.installHint === 'string' ? e.installHint : undefined,
    provideClusterInfo: e.provideClusterInfo === true,
    interactiveMode: mode,
  };
}

const STDOUT_LIMIT = 1024 * 1024;
const STDERR_KEPT = 2048;

/** An exec credential plugin (client-go's exec authenticator), cached until shortly before it expires. */
export class ExecSource implements CredentialSource {
  private cached?: { cred: Credential; expiresAt?: number; refreshAt?: number; key: string };
  private running?: Promise<Credential>;
  private generation = 0;
  /** Runs of the plugin (tests and -v). */
  runs = 0;

  constructor(
    private readonly exec: ExecConfig,
    private readonly user: string,
    private readonly cluster: ExecClusterInfo,
    private readonly s: Surroundings,
    private readonly debug: (msg: string) => void,
  ) {}

  /** The command as shown in messages. */
  get commandLine(): string {
    return clip([this.exec.command, ...(this.exec.args ?? [])].join(' '), 160);
  }

  private get what(): string {
    return `the exec plugin "${this.commandLine}" of kubeconfig user "${this.user}"`;
  }

  async current(): Promise<Credential> {
    const c = this.cached;
    if (c && (c.refreshAt === undefined || this.s.now() < c.refreshAt)) return c.cred;
    try {
      return await this.refresh(c ? 'its credential expires' : 'first use');
    } catch (e) {
      // Still valid for a moment: use it, and try the plugin again on the next request.
      if (c && c.expiresAt !== undefined && this.s.now() < c.expiresAt) {
        this.debug(`${this.what} failed to refresh (${(e as Error).message}): using its credential until it expires`);
        return c.cred;
      }
      throw e;
    }
  }

  async unauthorized(generation: number): Promise<boolean> {
    if (this.running) await this.running.catch(() => undefined);
    if (this.cached && this.cached.cred.generation !== generation) return true;
    await this.refresh('401 Unauthorized');
    return this.cached!.cred.generation !== generation;
  }

  private refresh(why: string): Promise<Credential> {
    if (!this.running) {
      this.debug(`running ${this.what} (${why})`);
      this.running = this.run().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private interactive(): boolean {
    const mode = this.exec.interactiveMode ?? 'IfAvailable';
    if (mode === 'Never') return false;
    if (this.s.stdinIsTTY) return true;
    if (mode === 'Always')
      throw new AcmgError(
        ExitCode.Usage,
        `${this.what} needs a terminal (interactiveMode: Always), and acmg's standard input is not one`,
        'run acmg in a terminal, log in with the plugin first if it caches its credentials, or use a kubeconfig user that needs no prompt in CI',
      );
    return false;
  }

  private async run(): Promise<Credential> {
    const interactive = this.interactive();
    const timeoutMs = interactive ? this.s.interactiveExecTimeoutMs : this.s.execTimeoutMs;
    const info = {
      apiVersion: this.exec.apiVersion,
      kind: 'ExecCredential',
      spec: { interactive, ...(this.exec.provideClusterInfo ? { cluster: this.cluster } : {}) },
    };
    const env: NodeJS.ProcessEnv = { ...this.s.env };
    for (const { name, value } of this.exec.env ?? []) env[name] = value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify(info);
    this.runs++;
    const stdout = await new Promise<string>((resolve, reject) => {
      // Without a terminal: no stdin (a prompt reads end-of-file instead of waiting for ever), and
      // a process group of its own, so a timeout kills whatever it started too.
      const child = spawn(this.exec.command, this.exec.args ?? [], {
        env,
        stdio: [interactive ? 'inherit' : 'ignore', 'pipe', 'pipe'],
        detached: !interactive,
      });
      let out = '';
      let err = Buffer.alloc(0);
      let settled = false;
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        process.removeListener('exit', kill);
        f();
      };
      const kill = () => {
        try {
          if (!interactive && child.pid) process.kill(-child.pid, 'SIGKILL');
          else child.kill('SIGKILL');
        } catch {
          // already gone
        }
      };
      // In a process group of its own it does not get acmg's Ctrl-C: acmg ending takes it along.
      process.once('exit', kill);
      const timer = setTimeout(() => {
        kill();
        finish(() =>
          reject(
            new AcmgError(
              ExitCode.Cluster,
              `${this.what} did not finish within ${timeoutMs / 1000}s${stderrTail(err) ? `; it said: ${stderrTail(err)}` : ''}`,
              interactive
                ? 'it may be waiting for you (a login, an MFA code, a browser): answer it, or set ACMG_EXEC_TIMEOUT for a longer wait'
                : `it ran without a terminal (interactiveMode: ${this.exec.interactiveMode}); it may be waiting for input or a browser login: run "${this.exec.command}" by hand in a terminal to see, log in first, or set ACMG_EXEC_TIMEOUT for a longer wait`,
            ),
          ),
        );
      }, timeoutMs);
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => {
        out += d;
        if (out.length > STDOUT_LIMIT) {
          kill();
          finish(() => reject(new AcmgError(ExitCode.Cluster, `${this.what} printed more than ${STDOUT_LIMIT} bytes: that is not an ExecCredential`)));
        }
      });
      child.stderr!.on('data', (d: Buffer) => {
        this.s.stderr(d);
        err = Buffer.concat([err, d]).subarray(-STDERR_KEPT);
      });
      child.on('error', (e) => {
        const code = (e as NodeJS.ErrnoException).code;
        finish(() =>
          reject(
            code === 'ENOENT'
              ? new AcmgError(
                  ExitCode.Usage,
                  `${this.what}: command "${this.exec.command}" not found`,
                  this.exec.installHint?.trim() || 'install it, or fix exec.command in the kubeconfig',
                )
              : new AcmgError(ExitCode.Cluster, `${this.what} could not be started: ${e.message}`),
          ),
        );
      });
      child.on('close', (code, signal) => {
        if (code === 0) return finish(() => resolve(out));
        const said = stderrTail(err);
        finish(() =>
          reject(
            new AcmgError(
              ExitCode.Cluster,
              `${this.what} failed (${signal ? `killed by ${signal}` : `exit ${code}`})${said ? `: ${said}` : ''}`,
              interactive
                ? 'run it by hand to see why; kubectl would fail the same way'
                : `it ran without a terminal (interactiveMode: ${this.exec.interactiveMode}, standard input not attached); if it needs to ask you something, run acmg in a terminal, or log in with it first`,
            ),
          ),
        );
      });
    });
    return this.accept(stdout);
  }

  private accept(stdout: string): Credential {
    const bad = (why: string) =>
      new AcmgError(ExitCode.Cluster, `${this.what} returned ${why}`, 'run it by hand: it must print an ExecCredential (JSON) on standard output');
    let obj: any;
    try {
      obj = JSON.parse(stdout);
    } catch {
      throw bad(`no JSON (${clip(stdout.trim() || 'nothing', 80)})`);
    }
    if (!obj || typeof obj !== 'object' || obj.kind !== 'ExecCredential') throw bad('something that is not an ExecCredential');
    if (obj.apiVersion !== this.exec.apiVersion)
      throw bad(`apiVersion "${clip(String(obj.apiVersion), 60)}", but the kubeconfig asks for ${this.exec.apiVersion}`);
    const st = obj.status;
    if (!st || typeof st !== 'object') throw bad('an ExecCredential without status');
    const token = typeof st.token === 'string' && st.token ? st.token : undefined;
    const cert = typeof st.clientCertificateData === 'string' && st.clientCertificateData ? st.clientCertificateData : undefined;
    const key = typeof st.clientKeyData === 'string' && st.clientKeyData ? st.clientKeyData : undefined;
    if (Boolean(cert) !== Boolean(key)) throw bad('clientCertificateData without clientKeyData, or the other way round');
    if (!token && !cert) throw bad('neither a token nor a client certificate');
    let expiresAt: number | undefined;
    if (st.expirationTimestamp !== undefined && st.expirationTimestamp !== null && st.expirationTimestamp !== '') {
      expiresAt = Date.parse(String(st.expirationTimestamp));
      if (!Number.isFinite(expiresAt)) throw bad(`expirationTimestamp "${clip(String(st.expirationTimestamp), 60)}", which is not a time (RFC 3339)`);
    }
    const now = this.s.now();
    // Refresh a minute before it expires, or a tenth of its life before for a short-lived token.
    const refreshAt = expiresAt === undefined ? undefined : expiresAt - Math.max(0, Math.min(60_000, (expiresAt - now) / 10));
    const identity = `${token ?? ''}\n${cert ?? ''}\n${key ?? ''}`;
    if (!this.cached || this.cached.key !== identity) this.generation++;
    const cred: Credential = { authorization: token ? `Bearer ${token}` : undefined, cert, key, generation: this.generation };
    this.cached = { cred, expiresAt, refreshAt, key: identity };
    if (expiresAt !== undefined) this.debug(`${this.what}: credential valid until ${new Date(expiresAt).toISOString()}`);
    return cred;
  }
}

function stderrTail(b: Buffer): string {
  const lines = b.toString('utf8').trim().split('\n').filter(Boolean);
  return clip(lines.slice(-3).join(' / '), 300);
}

/** Legacy auth-provider users (oidc, gcp, azure): client-node applies them; asked per request. */
function authProvider(kc: KubeConfig): CredentialSource {
  let last = '';
  let generation = 0;
  return {
    async current() {
      const o: { headers?: Record<string, string> } = { headers: {} };
      await (kc as unknown as { applyAuthorizationHeader(o: unknown): Promise<void> }).applyAuthorizationHeader(o);
      const authorization = o.headers?.Authorization ?? o.headers?.authorization;
      if ((authorization ?? '') !== last) {
        last = authorization ?? '';
        generation++;
      }
      return { authorization, generation };
    },
    unauthorized: async () => false,
  };
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * The credential source of a kubeconfig user entry (the raw mapping, paths already absolute).
 * Precedence as client-go's: tokenFile (token only as its fallback), token, basic auth, exec, auth-provider.
 */
export function credentialSource(
  user: Record<string, unknown>,
  userName: string,
  cluster: ExecClusterInfo,
  kc: KubeConfig,
  s: Surroundings,
  debug: (msg: string) => void,
  inCluster = false,
): { source: CredentialSource; exec?: ExecSource; tokenFile?: TokenFileSource } {
  const token = str(user.token);
  const tokenFile = str(user.tokenFile) ?? str(user['token-file']);
  if (tokenFile) {
    const what = inCluster ? `the in-cluster service-account token "${tokenFile}"` : `the tokenFile "${tokenFile}" of kubeconfig user "${userName}"`;
    const t = new TokenFileSource(tokenFile, what, s, debug, token);
    return { source: t, tokenFile: t };
  }
  if (token) return { source: fixed(`Bearer ${token}`) };
  const username = str(user.username);
  if (username) return { source: fixed(`Basic ${Buffer.from(`${username}:${typeof user.password === 'string' ? user.password : ''}`).toString('base64')}`) };
  if (user.exec) {
    const e = new ExecSource(execConfig(user.exec, userName), userName, cluster, s, debug);
    return { source: e, exec: e };
  }
  if (user['auth-provider']) return { source: authProvider(kc) };
  return { source: none };
}

/** client-go's escaping of an Impersonate-Extra- key: bytes that are not legal in a header name, and %, as %XX. */
export function headerKeyEscape(key: string): string {
  let out = '';
  for (const b of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9!#$&'*+\-.^_`|~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The Impersonate-* headers of a user entry (as, as-uid, as-groups, as-user-extra), checked as kubectl checks --as. */
export function impersonationHeaders(user: Record<string, unknown>, userName: string): Record<string, string | string[]> {
  const where = `kubeconfig user "${userName}"`;
  const as = user.as;
  const uid = user['as-uid'];
  const groups = user['as-groups'];
  const extra = user['as-user-extra'];
  if (as !== undefined && as !== null && typeof as !== 'string') throw usageError(`${where}: as must be a string`);
  if (uid !== undefined && uid !== null && typeof uid !== 'string') throw usageError(`${where}: as-uid must be a string`);
  if (groups !== undefined && groups !== null && (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string')))
    throw usageError(`${where}: as-groups must be a list of strings`);
  if (
    extra !== undefined &&
    extra !== null &&
    (typeof extra !== 'object' ||
      Array.isArray(extra) ||
      Object.values(extra).some((v) => !Array.isArray(v) || (v as unknown[]).some((x) => typeof x !== 'string')))
  )
    throw usageError(`${where}: as-user-extra must map each key to a list of strings`);
  const h: Record<string, string | string[]> = {};
  const groupList = (groups as string[] | undefined) ?? [];
  const extraMap = (extra as Record<string, string[]> | undefined) ?? {};
  if (!as) {
    if (uid || groupList.length || Object.keys(extraMap).length)
      throw usageError(
        `${where}: as-uid, as-groups or as-user-extra without as (the user to impersonate)`,
        'add as: USER, as kubectl requires --as with --as-group',
      );
    return h;
  }
  h['Impersonate-User'] = as;
  if (uid) h['Impersonate-Uid'] = uid;
  if (groupList.length) h['Impersonate-Group'] = groupList;
  for (const [k, vs] of Object.entries(extraMap)) if (vs.length) h[`Impersonate-Extra-${headerKeyEscape(k)}`] = vs;
  return h;
}
