// Usage acmg can judge without a cluster (a missing -y, no services named, a bad --nameserver,
// --junit or --request-timeout) fails with exit 2 before any network call: a stub TCP server
// stands in for the API server and counts the connections, which must not change.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, kubeconfigFor, runCli, silentServer } from './process.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'acmg-offline-'));
});

const writeFileAt = (name: string) => {
  const f = join(dir, name);
  writeFileSync(f, '');
  return f;
};

describe('bad usage fails with exit 2 before any network call', () => {
  let api: Awaited<ReturnType<typeof silentServer>>;
  let kc: string;
  beforeAll(async () => {
    api = await silentServer();
    kc = kubeconfigFor(`https://127.0.0.1:${api.port}`, 'counting', dir);
  });
  afterAll(() => api.close());

  test.each([
    [['install'], /refusing without confirmation/],
    [['migrate', 'helloworld', '-n', 'default', '--keep-service'], /refusing without confirmation/],
    [['rollback', '--all'], /refusing without confirmation/],
    [['uninstall', '--purge'], /refusing without confirmation/],
    [['migrate', '--keep-service', '-y'], /say which services to migrate/],
    [['migrate', 'a', '-n', 'x', '--keep-service', '-y', '--nameserver', 'no:port:here'], /invalid --nameserver/],
    [['verify-dns', '--nameserver', '300.1.1.1:99999'], /invalid --nameserver/],
    [['verify-dns', '--junit', '/nonexistent-dir/report.xml'], /--junit "\/nonexistent-dir\/report.xml": the directory \/nonexistent-dir does not exist/],
    [['status', '--request-timeout', 'soon'], /invalid --request-timeout "soon"/],
  ])('acmg %j', async (args, message) => {
    const before = api.connections();
    const r = await runCli([
      ...args,
      '--kubeconfig',
      kc,
      '--request-timeout',
      args.includes('--request-timeout') ? args[args.indexOf('--request-timeout') + 1]! : '2s',
    ]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expect(api.connections()).toBe(before);
  });

  test.each([
    ['whose parent is a file', () => join(writeFileAt('plain-file'), 'r.xml'), /a part of the path is not a directory/],
    ['that is a directory', () => dir, /is a directory; pass a file name/],
  ])('a --junit path %s', async (_name, path, message) => {
    const before = api.connections();
    const r = await runCli(['verify-dns', '--junit', path(), '--kubeconfig', kc]);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringMatching(message) });
    expect(api.connections()).toBe(before);
  });
});
