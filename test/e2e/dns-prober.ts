// Queries a name every `intervalMs` through the real CoreDNS while a migration runs, recording every
// answer, so a test can prove there was never a failed or empty lookup. The queries run in a child
// process (dns-probe-child.ts, bundled once by esbuild): in the test's own process, a synchronous
// kubectl call that blocks the event loop for longer than the query timeout made a timely answer
// count as a timeout, because Node runs expired timers before it reads sockets.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { ROOT, dns } from './cluster.js';

export interface ProbeSample {
  at: number;
  /** 2 when the first query got no answer within 1 s and was asked again. */
  attempts: number;
  rcode: string;
  ips: string[];
  error?: string;
}

let bundle: string | undefined;
function probeBundle(): string {
  if (!bundle) {
    const out = buildSync({
      entryPoints: [join(ROOT, 'test/e2e/dns-probe-child.ts')],
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      write: false,
      logLevel: 'error',
    });
    // Inside node_modules so that Node finds the packages left out of the bundle (dns-packet);
    // one file, replaced whole (rename), so a run never starts a half-written one.
    const dir = join(ROOT, 'node_modules', '.cache', 'acmg-e2e');
    mkdirSync(dir, { recursive: true });
    bundle = join(dir, 'dns-probe.mjs');
    writeFileSync(`${bundle}.${process.pid}`, out.outputFiles[0]!.contents);
    renameSync(`${bundle}.${process.pid}`, bundle);
  }
  return bundle;
}

export class DnsProber {
  readonly samples: ProbeSample[] = [];
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private exitCode?: number | null;
  private waiters: { after: number; resolve: (s: ProbeSample) => void; reject: (e: Error) => void }[] = [];

  constructor(
    private readonly name: string,
    private readonly intervalMs = 20,
  ) {}

  start(): void {
    const child = spawn(process.execPath, [probeBundle(), this.name, dns.host, String(dns.port), String(this.intervalMs)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.child = child;
    this.exited = new Promise((res) =>
      child.on('close', (code) => {
        this.exitCode = code;
        for (const w of this.waiters) w.reject(new Error(`the DNS prober for ${this.name} exited (${code}) before answering`));
        this.waiters = [];
        res();
      }),
    );
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) this.add(JSON.parse(line) as ProbeSample);
    });
  }

  private add(sample: ProbeSample): void {
    this.samples.push(sample);
    this.waiters = this.waiters.filter((w) => (sample.at >= w.after ? (w.resolve(sample), false) : true));
  }

  /** The first sample whose query started after this call: the answer DNS gives now. */
  next(): Promise<ProbeSample> {
    if (this.exitCode !== undefined) return Promise.reject(new Error(`the DNS prober for ${this.name} has exited (${this.exitCode})`));
    return new Promise((resolve, reject) => this.waiters.push({ after: Date.now(), resolve, reject }));
  }

  async stop(): Promise<ProbeSample[]> {
    this.child?.stdin!.end();
    await this.exited;
    return this.samples;
  }
}

/**
 * Samples that are not exactly one of the allowed addresses, or needed a second attempt. A retry is
 * allowed only where CoreDNS processes are swapped (`retries: true`, a rolling restart): a query
 * already queued on the old process's socket when it exits is lost, as one sent to a terminating
 * pod is, and a resolver asks again. A reload within one process must never lose one.
 */
export function badSamples(samples: ProbeSample[], allowed: string[], { retries = false } = {}): ProbeSample[] {
  return samples.filter((s) => s.rcode !== 'NOERROR' || s.ips.length !== 1 || !allowed.includes(s.ips[0]!) || (!retries && s.attempts > 1));
}
