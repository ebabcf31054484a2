// Issue #8 proof, against the real CoreDNS: verify-dns passes after migrate (direct nameserver and
// the API server's port-forward), fails with exit 1 naming the service and the wrong answer after a
// manual corruption, passes under --wait once a delayed fix lands, and exits 3 for a dead nameserver.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { query } from '../../src/dns/client.js';
import { DNS_NAMESERVER, acmg, applyFiles, corefile, dns, doorIP, eventually, expectExit, kubectl, sleep } from './cluster.js';

const NS = ['--nameserver', DNS_NAMESERVER];
const FQDN = 'helloworld.default.svc.cluster.local';
const setCorefile = (text: string) =>
  kubectl(['-n', 'kube-system', 'patch', 'configmap', 'coredns', '--type', 'merge', '-p', JSON.stringify({ data: { Corefile: text } })]);

describe('acmg verify-dns on the local control plane', () => {
  let gatewayIP: string;

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    applyFiles('samples/helloworld/helloworld.yaml');
    expectExit(await acmg(['install', '--profile', 'demo', '-y']), 0);
    expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...NS]), 0);
    gatewayIP = doorIP('default');
  });

  afterAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
  });

  test('passes through the direct nameserver and through the port-forward, with JSON and JUnit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acmg-junit-'));
    const direct = expectExit(await acmg(['verify-dns', '-o', 'json', '--junit', join(dir, 'report.xml'), ...NS]), 0);
    const body = JSON.parse(direct.stdout);
    expect(body.passed).toBe(true);
    expect(body.results.map((r: any) => r.form)).toEqual(['fqdn', 'short, same namespace', 'name.namespace, other namespace', 'name.namespace.svc']);
    for (const r of body.results) expect(r).toMatchObject({ expected: gatewayIP, got: [gatewayIP], pass: true, answeredBy: FQDN });
    expect(body.results[0].aaaaRcode).toBe('NOERROR');
    expect(readFileSync(join(dir, 'report.xml'), 'utf8')).toMatch(/<testsuite name="acmg verify-dns" tests="4" failures="0"/);

    const viaApi = expectExit(await acmg(['verify-dns']), 0);
    expect(viaApi.stderr).toMatch(/via port-forward to kube-system\//);
    expect(viaApi.stdout).toMatch(/all 4 checks passed/);
    // A named service acmg has not migrated is checked against its own ClusterIP.
    const own = JSON.parse(expectExit(await acmg(['verify-dns', 'kube-dns', '-n', 'kube-system', '-o', 'json', ...NS]), 0).stdout);
    expect(own.results[0]).toMatchObject({ migrated: false, expected: '10.96.0.10', pass: true });
  });

  test('a corrupted entry fails with exit 1 naming the service and the wrong answer; --wait passes once the fix lands', async () => {
    const good = corefile();
    expect(good).toContain(`${gatewayIP} ${FQDN}`);
    setCorefile(good.replace(`${gatewayIP} ${FQDN}`, `10.96.99.99 ${FQDN}`));
    try {
      await eventually('the corrupted answer is served', 30_000, async () => (await query(FQDN, 'A', dns)).answers[0]?.data === '10.96.99.99');
      const dir = mkdtempSync(join(tmpdir(), 'acmg-junit-'));
      const bad = expectExit(await acmg(['verify-dns', '--junit', join(dir, 'r.xml'), ...NS]), 1);
      expect(bad.stdout).toMatch(/default\/helloworld .*10\.96\.99\.99.*FAIL: expected the gateway .*, got 10\.96\.99\.99/);
      expect(bad.stdout).toMatch(/4 of 4 checks failed/);
      expect(readFileSync(join(dir, 'r.xml'), 'utf8')).toMatch(/failures="4"/);
      const status = JSON.parse(expectExit(await acmg(['status', '-o', 'json']), 0).stdout);
      expect(status.services[0].dns).toBe('stale');
      expect(status.dns.tampered.length).toBe(1);

      // The fix lands 3 s after verify-dns --wait starts; it keeps retrying and passes.
      const waiting = acmg(['verify-dns', '--wait', '90s', ...NS]);
      await sleep(3000);
      setCorefile(good);
      const r = expectExit(await waiting, 0);
      expect(r.stdout).toMatch(/all 4 checks passed/);
    } finally {
      setCorefile(good);
    }
  });

  test('a nameserver that does not answer exits 3 within the timeout', async () => {
    const t0 = Date.now();
    const r = expectExit(await acmg(['verify-dns', '--nameserver', '127.0.0.1:1']), 3);
    expect(r.stderr).toMatch(/cannot reach the nameserver/);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expectExit(await acmg(['verify-dns', '--nameserver', 'not a host']), 2);
    expectExit(await acmg(['verify-dns', 'helloworld', '-n', 'default', '--wait', 'forever']), 2);
  });
});
