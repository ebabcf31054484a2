// The sync --watch controller as a process while its API server cannot be reached: it retries with
// backoff, counts each error in its metrics, reports not ready and then not live, and stops on
// SIGTERM. (The e2e test controller-recovery.test.ts lets the real API server come back.)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ensureBuilt, kubeconfigFor } from './process.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'acmg-controller-health-'));
});

describe('sync --watch with an unreachable API server', () => {
  test('retries with backoff, counts the errors, fails liveness after --unhealthy-after, stops on SIGTERM', async () => {
    const kc = kubeconfigFor('https://127.0.0.1:1', 'down', dir); // nothing listens on port 1
    const child = execa(process.execPath, ['bin/acmg.js', 'sync', '--watch', '--kubeconfig', kc, '--health-port', '0', '--unhealthy-after', '2s'], {
      reject: false,
      all: true,
    });
    let log = '';
    child.all!.on('data', (d) => (log += d));
    const until = async (what: string, ms: number, fn: () => Promise<boolean> | boolean) => {
      const t0 = Date.now();
      while (!(await fn())) {
        if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; log:\n${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await until('the health port', 10_000, () => /on :\d+/.test(log));
      const port = Number(/on :(\d+)/.exec(log)![1]);
      const get = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        return { status: res.status, text: await res.text() };
      };
      expect((await get('/healthz')).status).toBe(200);
      expect((await get('/readyz')).status).toBe(503);
      // Backoff 1s, 2s: three failed attempts within ~4s, each counted.
      await until('3 counted errors', 10_000, async () => Number(/acmg_sync_errors_total (\d+)/.exec((await get('/metrics')).text)?.[1]) >= 3);
      // Every sample has its # HELP and # TYPE (Prometheus text format 0.0.4).
      const lines = (await get('/metrics')).text.trimEnd().split('\n');
      const samples = lines.filter((l) => !l.startsWith('#'));
      expect(samples.length).toBeGreaterThanOrEqual(11);
      for (const sample of samples) {
        const name = sample.split(' ')[0]!;
        expect(lines).toContain(`# TYPE ${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}`);
        expect(lines.some((l) => l.startsWith(`# HELP ${name} `))).toBe(true);
      }
      expect(log).toMatch(/retry in 1s/);
      expect(log).toMatch(/retry in 2s/);
      await until('/healthz to fail', 10_000, async () => (await get('/healthz')).status === 503);
      const sent = Date.now();
      child.kill('SIGTERM');
      const r = await child;
      expect(Date.now() - sent).toBeLessThan(5000);
      expect(r.exitCode).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
