// What acmg writes to a terminal, run as a process in a pseudo-terminal without a cluster: the
// spinner ends with the command however wide the terminal (0 columns, as under `docker exec -t`,
// once made it loop forever), and colour or cursor codes appear only where the environment allows.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, inTerminal, kubeconfigFor, silentServer } from './process.js';

const ESC = '\x1b[';
let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'acmg-terminal-'));
});

describe('the spinner while an API server does not answer', () => {
  // It looped forever on a 0-column terminal.
  test('a TTY with 0 columns: install ends with the request timeout, writing little', async () => {
    const api = await silentServer();
    try {
      const kc = kubeconfigFor(`https://127.0.0.1:${api.port}`, 'zero-cols', dir);
      const r = await inTerminal(['install', '-y', '--kubeconfig', kc, '--request-timeout', '2s'], { timeoutMs: 20_000 });
      expect(r.timedOut).toBe(false);
      expect(r.exitCode).toBe(3);
      expect(String(r.stdout).length).toBeLessThan(20_000);
      expect(String(r.stdout)).toMatch(/did not answer within 2s/);
      expect(api.connections()).toBeGreaterThan(0);
    } finally {
      await api.close();
    }
  });

  test('a TTY 80 columns wide: the spinner runs and the command still ends', async () => {
    const api = await silentServer();
    try {
      const kc = kubeconfigFor(`https://127.0.0.1:${api.port}`, 'wide', dir);
      const r = await inTerminal(['install', '-y', '--kubeconfig', kc, '--request-timeout', '2s'], { cols: 80, timeoutMs: 20_000 });
      expect(r.exitCode).toBe(3);
      expect(String(r.stdout)).toContain('precheck and plan'); // the spinner's text
      expect(String(r.stdout).length).toBeLessThan(50_000);
    } finally {
      await api.close();
    }
  });
});

describe('colour and cursor codes only where the environment allows them', () => {
  test.each<Record<string, string>>([{ TERM: 'dumb' }, { CI: 'true' }, { FORCE_COLOR: '0' }, { NO_COLOR: '1' }])(
    '%j on a terminal: no colour or cursor codes',
    async (env) => {
      const r = await inTerminal(['profile', 'diff', 'minimal', 'ha'], { env, cols: 80 });
      expect(r.exitCode).toBe(1);
      expect(String(r.stdout)).toContain('+++ profile ha');
      expect(String(r.stdout)).not.toContain(ESC);
    },
  );

  test('a terminal without those settings gets colour (the control)', async () => {
    const r = await inTerminal(['profile', 'diff', 'minimal', 'ha'], { cols: 80 });
    expect(String(r.stdout)).toContain(ESC);
  });
});
