// The README's first command is also an e2e test: the whole flow on the local control plane.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { acmg, DNS_NAMESERVER, doorIP, expectExit, kubectl, ROOT } from './cluster.js';

describe('npm run demo', () => {
  afterAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', '--nameserver', DNS_NAMESERVER]), 0);
    // The demo's Bookinfo sample, once acmg's purge has moved it back.
    kubectl(['delete', 'namespace', 'bookinfo', 'clients', '--ignore-not-found', '--wait=true', '--timeout=120s']);
  }, 240_000);

  test('runs precheck, install, migrate, verify-dns and status, and leaves helloworld on the gateway', async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', '--nameserver', DNS_NAMESERVER]), 0);
    // The demo deploys Bookinfo itself, as on a fresh cluster (an earlier run's pods may have lost their sidecars).
    kubectl(['delete', 'namespace', 'bookinfo', 'clients', '--ignore-not-found', '--wait=true', '--timeout=120s']);
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'demo.sh')], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    if (r.status !== 0) throw new Error(`demo failed (exit ${r.status})\n${r.stdout}\n${r.stderr}`);
    for (const step of [
      'acmg precheck',
      'acmg install --profile demo -y',
      'acmg migrate helloworld -n default --keep-service -y',
      'acmg verify-dns',
      'acmg status',
    ])
      expect(r.stdout).toContain(`==> ${step}`);
    expect(r.stdout).toMatch(/Status check results are √/);
    expect(r.stdout).toMatch(/all 4 checks passed/);
    expect(r.stdout).toMatch(/default\s+helloworld\s+keep-service\s+complete\s+switched/);
    // The route the real istiod generated for the gateway, read over xDS.
    // On default's listener, matching helloworld's names (the bare one too) by :authority.
    expect(r.stdout).toMatch(/http\.2\d{4}\s+\*\s+prefix:\/ :authority~\(\?i\)\^helloworld\(.*-> outbound\|5000\|\|helloworld\.default\.svc\.cluster\.local/);
    expect(r.stdout).toMatch(/npm run demo:down/);
    // Bookinfo's calls, traced before and after its migration: productpage's bare-name call as jason
    // reaches reviews v2 through its sidecar before, and through bookinfo's door on the gateway after.
    const section = (title: string) => r.stdout.slice(r.stdout.indexOf(`==> ${title}`)).split('\n==> ')[0]!;
    const row = (text: string, call: string) => text.split('\n').find((l) => l.startsWith(`${call} `)) ?? '';
    const beforeJason = row(section('before: Bookinfo'), 'reviews as jason');
    const afterJason = row(section('after: the same calls'), 'reviews as jason');
    expect(beforeJason).toMatch(/sidecar .*outbound\|9080\|v2\|reviews\.bookinfo\.svc\.cluster\.local/);
    expect(afterJason).toMatch(/router .*outbound\|9080\|v2\|reviews\.bookinfo\.svc\.cluster\.local/);
    expect(row(section('after: the same calls'), 'ratings')).toMatch(/timeout 2s, retries 3 x 500ms/);
    const gw = doorIP('default');
    const v = JSON.parse(expectExit(await acmg(['verify-dns', '-o', 'json', '--nameserver', DNS_NAMESERVER]), 0).stdout);
    const hello = v.results.filter((x: any) => x.written.startsWith('helloworld'));
    expect(hello.length).toBeGreaterThan(0);
    for (const x of hello) expect(x.got).toEqual([gw]);
    const bookinfo = v.results.filter((x: any) => /^(details|productpage|ratings|reviews)\b/.test(x.written));
    expect(bookinfo.length).toBeGreaterThan(0);
    for (const x of bookinfo) expect(x.got).toEqual([doorIP('bookinfo')]);
    // Running it again converges: nothing fails, nothing changes.
    const again = spawnSync('bash', [join(ROOT, 'scripts', 'demo.sh')], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(/already installed with these values/);
    expect(again.stderr).toMatch(/already migrated/);
  });
});
