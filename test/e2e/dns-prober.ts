// Queries a name every `intervalMs` through the real CoreDNS while a migration runs, recording every
// answer, so a test can prove there was never a failed or empty lookup.
import { query } from '../../src/dns/client.js';
import { dns } from './cluster.js';

export interface ProbeSample {
  at: number;
  rcode: string;
  ips: string[];
  error?: string;
}

export class DnsProber {
  readonly samples: ProbeSample[] = [];
  private running = false;
  private loop?: Promise<void>;

  constructor(
    private readonly name: string,
    private readonly intervalMs = 20,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const t = Date.now();
        try {
          const r = await query(this.name, 'A', { ...dns, timeoutMs: 1000 });
          this.samples.push({ at: t, rcode: r.rcode, ips: r.answers.filter((a) => a.type === 'A').map((a) => a.data) });
        } catch (e) {
          this.samples.push({ at: t, rcode: 'ERROR', ips: [], error: (e as Error).message });
        }
        await new Promise((res) => setTimeout(res, Math.max(0, this.intervalMs - (Date.now() - t))));
      }
    })();
  }

  async stop(): Promise<ProbeSample[]> {
    this.running = false;
    await this.loop;
    return this.samples;
  }
}

/** Samples that are not exactly one of the allowed addresses. */
export function badSamples(samples: ProbeSample[], allowed: string[]): ProbeSample[] {
  return samples.filter((s) => s.rcode !== 'NOERROR' || s.ips.length !== 1 || !allowed.includes(s.ips[0]!));
}
