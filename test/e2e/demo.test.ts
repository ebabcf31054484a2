// The README's first command is also an e2e test: the whole flow on the local control plane.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DNS_NAMESERVER, ROOT, acmg, expectExit, kubectlJson } from './cluster.js';

describe('npm run demo', () => {
  afterAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', '--nameserver', DNS_NAMESERVER]), 0);
  });

  test('runs precheck, install, migrate, verify-dns and status, and leaves helloworld on the gateway', async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', '--nameserver', DNS_NAMESERVER]), 0);
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
    expect(r.stdout).toMatch(/http\.5000\s+helloworld\.default\.svc\.cluster\.local\s+-> outbound\|5000\|\|helloworld\.default\.svc\.cluster\.local/);
    expect(r.stdout).toMatch(/npm run demo:down/);
    const gw = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-gateway']).spec.clusterIP;
    const v = JSON.parse(expectExit(await acmg(['verify-dns', '-o', 'json', '--nameserver', DNS_NAMESERVER]), 0).stdout);
    expect(v.results[0].got).toEqual([gw]);
    // Running it again converges: nothing fails, nothing changes.
    const again = spawnSync('bash', [join(ROOT, 'scripts', 'demo.sh')], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(/already installed with these values/);
    expect(again.stderr).toMatch(/already migrated/);
  });
});
