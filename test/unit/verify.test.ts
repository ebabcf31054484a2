import { parseHostPort } from '../../src/dns/client.js';
import { judge, lookupsFor, searchCandidates, toJUnit, type Answer } from '../../src/plan/verify.js';
import { parseDuration } from '../../src/input/duration.js';

const target = { namespace: 'default', service: 'helloworld', migrated: true, expected: '10.96.0.50' };
const ok = (q: string, ips = ['10.96.0.50']): Answer => ({ question: q, rcode: 'NOERROR', names: ips.map(() => q), ips });
const nx = (q: string): Answer => ({ question: q, rcode: 'NXDOMAIN', names: [], ips: [] });

describe('verify-dns planning and judging', () => {
  test('search path candidates follow ndots:5 like a pod resolver', () => {
    expect(searchCandidates('helloworld', 'default', 'cluster.local')).toEqual([
      'helloworld.default.svc.cluster.local',
      'helloworld.svc.cluster.local',
      'helloworld.cluster.local',
      'helloworld',
    ]);
    expect(searchCandidates('a.b.c.d.e.f', 'x', 'd')[0]).toBe('a.b.c.d.e.f');
    expect(searchCandidates('abs.', 'x', 'd')).toEqual(['abs']);
  });

  test('four forms per service, with the real cluster domain', () => {
    const ls = lookupsFor(target, 'corp.internal');
    expect(ls.map((l) => l.written)).toEqual(['helloworld.default.svc.corp.internal.', 'helloworld', 'helloworld.default', 'helloworld.default.svc']);
    expect(ls[2]!.candidates[0]).toBe('helloworld.default.acmg-verify-elsewhere.svc.corp.internal');
    expect(ls[2]!.candidates[1]).toBe('helloworld.default.svc.corp.internal');
  });

  test('judging: pass, wrong IP, owner-name mismatch, SERVFAIL, AAAA failure, all NXDOMAIN', () => {
    const [fqdn, , other] = lookupsFor(target, 'cluster.local');
    expect(judge(fqdn!, [ok(fqdn!.candidates[0]!)], { ...ok(fqdn!.candidates[0]!, []), rcode: 'NOERROR' }).pass).toBe(true);
    expect(judge(other!, [nx(other!.candidates[0]!), ok(other!.candidates[1]!)]).answeredBy).toBe('helloworld.default.svc.cluster.local');
    expect(judge(fqdn!, [ok(fqdn!.candidates[0]!, ['10.1.1.1'])]).why).toBe('expected the gateway 10.96.0.50, got 10.1.1.1');
    expect(judge(fqdn!, [{ ...ok(fqdn!.candidates[0]!), names: ['other.example'] }]).why).toMatch(/owner name other.example does not match/);
    expect(judge(fqdn!, [{ ...nx('x'), question: fqdn!.candidates[0]!, rcode: 'SERVFAIL' }]).why).toMatch(/^SERVFAIL/);
    expect(judge(fqdn!, [ok(fqdn!.candidates[0]!)], { ...nx('x'), rcode: 'SERVFAIL' }).why).toMatch(/AAAA .* fails with SERVFAIL/);
    expect(judge(other!, other!.candidates.map(nx)).why).toMatch(/^NXDOMAIN for every search candidate/);
  });

  test('JUnit XML escapes and counts failures', () => {
    const fail = judge(lookupsFor(target, 'cluster.local')[0]!, [ok('helloworld.default.svc.cluster.local', ['10.0.0.1'])]);
    const x = toJUnit([fail], 1.5);
    expect(x).toMatch(/<testsuite name="acmg verify-dns" tests="1" failures="1" time="1.500">/);
    expect(x).toContain('<failure message="expected the gateway 10.96.0.50, got 10.0.0.1">');
  });

  test('--nameserver and durations are validated', () => {
    expect(parseHostPort('127.0.0.1:10053')).toEqual({ host: '127.0.0.1', port: 10053 });
    expect(parseHostPort('[::1]:53')).toEqual({ host: '::1', port: 53 });
    expect(parseHostPort('kube-dns.kube-system')).toEqual({ host: 'kube-dns.kube-system', port: 53 });
    for (const bad of ['not a host', '1.2.3.4:0', '1.2.3.4:99999', 'a:b']) expect(() => parseHostPort(bad)).toThrow(/is not HOST:PORT/);
    expect(parseDuration('1m30s', '--wait')).toBe(90_000);
    expect(parseDuration('500ms', '--wait')).toBe(500);
    expect(() => parseDuration('forever', '--wait')).toThrow(/invalid --wait "forever"/);
  });
});
