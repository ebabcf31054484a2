// SIGTERM, SIGHUP and SIGINT stop acmg at once, with 128 + the signal's number, even while it waits
// on an API server that never answers (a stub TCP server) behind a spinner on a 0-column terminal.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ensureBuilt, inTerminal, kubeconfigFor, silentServer } from './process.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'acmg-signals-'));
});

describe('a signal stops a waiting command within 3 s', () => {
  test.each([
    ['SIGTERM', 143],
    ['SIGHUP', 129],
    ['SIGINT', 130],
  ] as const)('%s stops a command waiting on a silent API server (spinner on a 0-column TTY)', async (signal, code) => {
    const api = await silentServer();
    try {
      const kc = kubeconfigFor(`https://127.0.0.1:${api.port}`, 'sig', dir);
      const child = inTerminal(['install', '-y', '--kubeconfig', kc, '--request-timeout', '0'], { timeoutMs: 20_000 });
      // Wait until acmg is waiting on the API server, then signal acmg itself (script's child).
      const t0 = Date.now();
      while (api.connections() === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
      expect(api.connections()).toBeGreaterThan(0);
      const { stdout: pid } = await execa('pgrep', ['-P', String(child.pid)]);
      const sent = Date.now();
      process.kill(Number(pid.trim()), signal);
      const r = await child;
      expect(Date.now() - sent).toBeLessThan(3000);
      expect(r.exitCode).toBe(code);
      expect(String(r.stdout)).toContain(`interrupted (${signal})`);
    } finally {
      await api.close();
    }
  });
});
