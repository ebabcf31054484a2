// Issue #7 proof: approach 1 and 2 on helloworld, each rolled back, with a DNS prober every 20 ms:
// zero failed or empty answers, every answer the old ClusterIP or the gateway's. A failure injected
// after the DNS step rolls back fully. Bad input changes nothing. Concurrent runs both land.
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import {
  DNS_NAMESERVER,
  ROOT,
  acmg,
  acmgObjects,
  applyFiles,
  applyObjects,
  corefile,
  doorIP,
  eventually,
  expectExit,
  kubeconfig,
  kubectl,
  kubectlJson,
} from './cluster.js';
import { DnsProber, badSamples } from './dns-prober.js';

const FQDN = 'helloworld.default.svc.cluster.local';
const NS = ['--nameserver', DNS_NAMESERVER];
/** acmg's migrations as stored: shards (one ConfigMap per namespace) and any written before sharding. */
const stateConfigMaps = () => kubectlJson(['-n', 'istio-system', 'get', 'configmap', '-l', 'app.kubernetes.io/managed-by=acmg', '-o', 'json']).items as any[];
const state = () =>
  Object.assign(
    {},
    ...stateConfigMaps()
      .filter((c) => c.metadata.name === 'acmg-state' || c.metadata.labels['app.kubernetes.io/component'] === 'state-shard')
      .map((c) => JSON.parse(c.data?.migrations ?? '{}')),
  );
const injection = (ns: string) => kubectlJson(['get', 'namespace', ns]).metadata.labels?.['istio-injection'];
/** A namespace's door on the gateway: its Service's ports, and its Gateway's servers (listener ports). */
const doorPorts = (ns: string) =>
  kubectlJson(['-n', 'istio-system', 'get', 'service', `acmg-${ns}`])
    .spec.ports.map((p: any) => [p.port, p.targetPort])
    .sort((a: number[], b: number[]) => a[0]! - b[0]!);
const doorServers = (ns: string) =>
  kubectlJson(['-n', 'istio-system', 'get', 'gateways.networking.istio.io', `acmg-${ns}`])
    .spec.servers.map((s: any) => [s.port.number, s.hosts])
    .sort((a: any[], b: any[]) => a[0] - b[0]);
const exists = (args: string[]) => kubectl(['get', ...args, '--ignore-not-found', '-o', 'name']).trim() !== '';

describe('acmg migrate and rollback on the local control plane', () => {
  let helloIP: string;
  let originalCorefile: string;

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    applyFiles(['samples/helloworld/helloworld.yaml', 'test/e2e/fixtures/shop.yaml']);
    kubectl(['label', 'namespace', 'default', 'istio-injection=enabled', '--overwrite']);
    originalCorefile = corefile();
    expectExit(await acmg(['install', '-y']), 0);
    helloIP = kubectlJson(['-n', 'default', 'get', 'service', 'helloworld']).spec.clusterIP;
  });

  afterAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    expect(corefile()).toBe(originalCorefile);
  });

  test('bad input exits 2 and changes nothing', async () => {
    const before = corefile();
    const cases: [string[], RegExp][] = [
      [['migrate', 'helloworld', '-n', 'default', '-y'], /choose an approach: --keep-service \(approach 1\) or --replace-service/],
      [['migrate', 'helloworld', '-n', 'default', '--keep-service', '--replace-service', '-y'], /not both/],
      [['migrate', 'nope', '-n', 'default', '--keep-service', '-y'], /service "nope" not found in namespace "default"/],
      [['migrate', 'x', '-n', 'no-such-ns', '--keep-service', '-y'], /namespace "no-such-ns" does not exist/],
      [['migrate', 'kube-dns', '-n', 'kube-system', '--keep-service', '-y'], /namespace "kube-system" cannot be migrated: it is a system namespace/],
      [['migrate', 'syslog', 'db-headless', 'reviews', '-n', 'shop', '--keep-service', '-y'], /shop\/syslog port 514 \(syslog\): UDP is not supported/],
      [['migrate', 'helloworld', '-n', 'default', '--keep-service', '--dns-timeout', 'soon', '-y'], /invalid --dns-timeout "soon"/],
    ];
    for (const [args, msg] of cases) {
      const r = expectExit(await acmg([...args, ...NS]), 2);
      expect(r.stderr).toMatch(msg);
    }
    // All problems of a run are reported at once, before any change.
    const multi = await acmg(['migrate', 'syslog', 'db-headless', '-n', 'shop', '--keep-service', '-y', ...NS]);
    expect(multi.stderr).toMatch(/syslog port 514/);
    expect(multi.stderr).toMatch(/db-headless is headless/);
    expect(state()).toEqual({});
    expect(corefile()).toBe(before);
    expect(exists(['virtualservices.networking.istio.io', '-A'])).toBe(false);
  });

  test('a malformed Corefile: exit 2 naming the line, nothing written', async () => {
    const good = corefile();
    const broken = good.replace('    loadbalance\n}', '    loadbalance\n');
    kubectl(['-n', 'kube-system', 'patch', 'configmap', 'coredns', '--type', 'merge', '-p', JSON.stringify({ data: { Corefile: broken } })]);
    try {
      const r = expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...NS]), 2);
      expect(r.stderr).toMatch(/the Corefile is malformed: line 1: unbalanced braces/);
      expect(corefile()).toBe(broken);
      expect(exists(['-n', 'default', 'virtualservices.networking.istio.io'])).toBe(false);
    } finally {
      kubectl(['-n', 'kube-system', 'patch', 'configmap', 'coredns', '--type', 'merge', '-p', JSON.stringify({ data: { Corefile: good } })]);
    }
    expect(state()).toEqual({});
  });

  test('--dry-run prints the ordered plan and changes nothing', async () => {
    const r = expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--replace-service', '--dry-run', ...NS]), 0);
    const lines = r.stdout.split('\n').filter((l) => /^\s+\d+\./.test(l));
    expect(lines.map((l) => l.replace(/^\s+\d+\. /, '').split(' ')[0])).toEqual(['open', 'create', 'create', 'switch', 'label', 'delete']);
    expect(state()).toEqual({});
  });

  test.each(['keep-service', 'replace-service'])('approach --%s and rollback: no failed lookup, answers only old IP or gateway', async (approach) => {
    const prober = new DnsProber(FQDN, 20);
    prober.start();
    let door = '';
    try {
      const m = expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', `--${approach}`, '-y', ...NS]), 0);
      expect(m.stderr).toMatch(/migrated 1 service\(s\) onto the gateway/);
      // DNS answers default's door on the gateway (acmg waited for it), routes and labels are in place.
      door = doorIP('default');
      expect((await prober.next()).ips).toEqual([door]);
      expect(injection('default')).toBe('disabled');
      const vs = kubectlJson(['-n', 'default', 'get', 'virtualservices.networking.istio.io', 'acmg-helloworld']);
      expect(vs.spec.gateways).toEqual(['istio-system/acmg-default']);
      expect(vs.spec.hosts).toEqual(['*']);
      expect(vs.spec.http[0].match[0].authority.regex).toMatch(/^\(\?i\)\^helloworld\(/);
      const [[port, listener]] = doorPorts('default');
      expect(port).toBe(5000);
      expect(doorServers('default')).toEqual([[listener, ['default/*']]]);
      expect(vs.spec.http[0].match[0].port).toBe(listener);
      const rec = state()['default/helloworld'];
      expect(rec).toMatchObject({ approach, phase: 'complete', previousInjection: 'enabled' });
      if (approach === 'replace-service') {
        expect(exists(['-n', 'default', 'service', 'helloworld'])).toBe(false);
        expect(exists(['-n', 'default', 'service', 'helloworld-acmg'])).toBe(true);
        expect(vs.spec.http[0].route[0].destination.host).toBe('helloworld-acmg.default.svc.cluster.local');
        expect(rec.journal).toEqual(['gateway-ports', 'replacement-service', 'route', 'dns', 'injection-label', 'delete-original']);
      } else {
        expect(vs.spec.http[0].route[0].destination.host).toBe(FQDN);
        expect(rec.journal).toEqual(['gateway-ports', 'route', 'dns', 'injection-label']);
      }
      const again = expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', `--${approach}`, '-y', ...NS]), 0);
      expect(again.stderr).toMatch(/already migrated/);

      expectExit(await acmg(['rollback', 'helloworld', '-n', 'default', '-y', ...NS]), 0);
      expect((await prober.next()).ips).toEqual([helloIP]);
    } finally {
      await prober.stop();
    }
    expect(prober.samples.length).toBeGreaterThan(50);
    expect(badSamples(prober.samples, [helloIP, door])).toEqual([]);
    expect(prober.samples.some((s) => s.ips[0] === door)).toBe(true);
    // Everything back: the Service with its ClusterIP, the label, no routes, ports closed.
    expect(kubectlJson(['-n', 'default', 'get', 'service', 'helloworld']).spec.clusterIP).toBe(helloIP);
    expect(injection('default')).toBe('enabled');
    expect(exists(['-n', 'default', 'virtualservices.networking.istio.io'])).toBe(false);
    expect(exists(['-n', 'default', 'service', 'helloworld-acmg'])).toBe(false);
    expect(exists(['-n', 'istio-system', 'service', 'acmg-default'])).toBe(false);
    expect(exists(['-n', 'istio-system', 'gateways.networking.istio.io', 'acmg-default'])).toBe(false);
    expect(state()).toEqual({});
    expect(corefile()).toBe(originalCorefile);
  });

  test('a real failure after the DNS step (an admission policy refuses the relabel) rolls the whole run back', async () => {
    // The API server itself refuses the step after DNS: a ValidatingAdmissionPolicy (CEL) that
    // denies disabling sidecar injection on namespace default.
    const policy = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'ValidatingAdmissionPolicy',
          metadata: { name: 'acmg-test-deny-relabel' },
          spec: {
            failurePolicy: 'Fail',
            matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['namespaces'] }] },
            validations: [
              {
                expression:
                  "!(object.metadata.name == 'default' && has(object.metadata.labels) && object.metadata.labels.exists(k, k == 'istio-injection' && object.metadata.labels[k] == 'disabled'))",
                message: 'test policy: namespace default may not disable sidecar injection',
              },
            ],
          },
        },
        {
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'ValidatingAdmissionPolicyBinding',
          metadata: { name: 'acmg-test-deny-relabel' },
          spec: { policyName: 'acmg-test-deny-relabel', validationActions: ['Deny'] },
        },
      ],
    };
    applyObjects(policy, { clientSide: true });
    try {
      await eventually('the policy enforced', 30_000, () => {
        try {
          kubectl(['label', 'namespace', 'default', 'istio-injection=disabled', '--overwrite', '--dry-run=server']);
          return false;
        } catch (e) {
          return /test policy/.test((e as Error).message);
        }
      });
      const r = expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...NS]), 3);
      expect(r.stderr).toMatch(/migration failed and was rolled back: .*test policy: namespace default may not disable sidecar injection/);
      expect(r.stderr).toMatch(/roll back this run/);
    } finally {
      kubectl(['delete', 'validatingadmissionpolicybinding', 'acmg-test-deny-relabel', '--ignore-not-found']);
      kubectl(['delete', 'validatingadmissionpolicy', 'acmg-test-deny-relabel', '--ignore-not-found']);
    }
    expect(state()).toEqual({});
    expect(injection('default')).toBe('enabled');
    expect(exists(['-n', 'default', 'virtualservices.networking.istio.io'])).toBe(false);
    expect(exists(['-n', 'istio-system', 'service', 'acmg-default'])).toBe(false);
    expect(corefile()).toBe(originalCorefile);
    await eventually('DNS back on the service', 20_000, async () => {
      const v = await acmg(['verify-dns', 'helloworld', '-n', 'default', ...NS]);
      return v.code === 0;
    });
  });

  test('a damaged acmg region (its end marker deleted by hand): rollback refuses with exit 2 and writes nothing, the Corefile stays loadable; repaired, it finishes', async () => {
    expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...NS]), 0);
    const good = corefile();
    const broken = good
      .split('\n')
      .filter((l) => !l.includes('# acmg:end'))
      .join('\n');
    const setCorefile = (text: string) =>
      kubectl(['-n', 'kube-system', 'patch', 'configmap', 'coredns', '--type', 'merge', '-p', JSON.stringify({ data: { Corefile: text } })]);
    setCorefile(broken);
    try {
      for (const args of [
        ['rollback', 'helloworld', '-n', 'default', '-y'],
        ['uninstall', '--purge', '-y'],
      ]) {
        const r = expectExit(await acmg([...args, ...NS]), 2);
        expect(r.stderr).toMatch(/has no "# acmg:end" marker/);
        expect(corefile()).toBe(broken); // nothing written: not even acmg's "remove to the end"
        expect(injection('default')).toBe('disabled'); // refused before anything changed
      }
    } finally {
      setCorefile(good);
    }
    expectExit(await acmg(['rollback', 'helloworld', '-n', 'default', '-y', ...NS]), 0);
    expect(corefile()).toBe(originalCorefile);
  });

  test('kill -9 mid-run leaves a journal: migrate again converges, rollback undoes an interrupted run', async () => {
    /** Starts a migration and kills it once its journal shows the DNS write (it is then waiting for DNS). */
    const interrupted = async (approach: string) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'acmg.js'), 'migrate', 'helloworld', '-n', 'default', `--${approach}`, '-y', ...NS], {
        env: { ...process.env, KUBECONFIG: kubeconfig },
        stdio: 'ignore',
      });
      const exited = new Promise((r) => child.once('exit', r));
      await eventually('the DNS step journaled', 30_000, () => (state()['default/helloworld']?.journal ?? []).includes('dns'), 20);
      child.kill('SIGKILL');
      await exited;
      const rec = state()['default/helloworld'];
      expect(rec.phase).toBe('in-progress');
      expect(rec.journal).not.toContain('injection-label');
      expect(injection('default')).toBe('enabled');
    };
    await interrupted('keep-service');
    expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...NS]), 0);
    expect(state()['default/helloworld']).toMatchObject({ phase: 'complete', journal: ['gateway-ports', 'route', 'dns', 'injection-label'] });
    expect(injection('default')).toBe('disabled');
    expectExit(await acmg(['rollback', 'helloworld', '-n', 'default', '-y', ...NS]), 0);

    await interrupted('replace-service');
    expectExit(await acmg(['rollback', 'helloworld', '-n', 'default', '-y', ...NS]), 0);
    expect(state()).toEqual({});
    expect(kubectlJson(['-n', 'default', 'get', 'service', 'helloworld']).spec.clusterIP).toBe(helloIP);
    expect(exists(['-n', 'default', 'service', 'helloworld-acmg'])).toBe(false);
    expect(exists(['-n', 'default', 'virtualservices.networking.istio.io'])).toBe(false);
    expect(corefile()).toBe(originalCorefile);
  });

  test('state written before sharding (migrations inside acmg-state) is read, and moved forward by the next change', async () => {
    expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...NS]), 0);
    // Rewrite the state as acmg 0.1 kept it: every migration in the one ConfigMap, no shards.
    const shard = kubectlJson(['-n', 'istio-system', 'get', 'configmap', 'acmg-state-default']);
    const main = kubectlJson(['-n', 'istio-system', 'get', 'configmap', 'acmg-state']);
    kubectl(['-n', 'istio-system', 'delete', 'configmap', 'acmg-state-default']);
    applyObjects(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'acmg-state', namespace: 'istio-system' },
        data: { ...main.data, migrations: shard.data.migrations },
      },
      { forceConflicts: true },
    );
    const status = JSON.parse(expectExit(await acmg(['status', '-o', 'json']), 0).stdout);
    expect(status.services.map((x: any) => `${x.namespace}/${x.service}`)).toEqual(['default/helloworld']);
    expectExit(await acmg(['migrate', 'reviews', '-n', 'shop', '--keep-service', '-y', ...NS]), 0);
    expect(kubectlJson(['-n', 'istio-system', 'get', 'configmap', 'acmg-state']).data.migrations).toBeUndefined();
    expect(Object.keys(state()).sort()).toEqual(['default/helloworld', 'shop/reviews']);
    expectExit(await acmg(['rollback', '--all', '-y', ...NS]), 0);
    expect(state()).toEqual({});
  });

  test('two migrate runs at the same time on different services both land', async () => {
    const [a, b] = await Promise.all([
      acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...NS]),
      acmg(['migrate', 'reviews', 'ratings', '-n', 'shop', '--keep-service', '--restart', '-y', ...NS]),
    ]);
    expectExit(a, 0);
    expectExit(b, 0);
    expect(Object.keys(state()).sort()).toEqual(['default/helloworld', 'shop/ratings', 'shop/reviews']);
    // One shard of acmg's state per namespace, each with only its namespace's migrations.
    const shards = stateConfigMaps().filter((c) => c.metadata.labels['app.kubernetes.io/component'] === 'state-shard');
    expect(shards.map((c) => [c.metadata.name, Object.keys(JSON.parse(c.data.migrations)).sort()])).toEqual([
      ['acmg-state-default', ['default/helloworld']],
      ['acmg-state-shop', ['shop/ratings', 'shop/reviews']],
    ]);
    // --restart rolled the namespace's Deployments (and waited for them).
    const reviews = kubectlJson(['-n', 'shop', 'get', 'deployment', 'reviews']);
    expect(reviews.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']).toBeTruthy();
    expect(reviews.status.updatedReplicas).toBe(1);
    expect(state()['shop/reviews'].journal).toContain('restart');
    // Each namespace has its door, on listener ports no other namespace has (handed out under one resourceVersion).
    const listeners = [...doorPorts('default'), ...doorPorts('shop')];
    expect(listeners.map(([p]: number[]) => p)).toEqual([5000, 9080, 9090]);
    expect(new Set(listeners.map(([, l]: number[]) => l)).size).toBe(3);
    expect(doorServers('shop').map(([l]: any[]) => l)).toEqual(
      doorPorts('shop')
        .map(([, l]: number[]) => l)
        .sort((a: number, b: number) => a - b),
    );
    const status = JSON.parse(expectExit(await acmg(['status', '-o', 'json']), 0).stdout);
    expect(status.dns.entries).toBe(3);
    expect(status.services.map((s: any) => s.dns)).toEqual(['switched', 'switched', 'switched']);
    const v = expectExit(await acmg(['verify-dns', '-o', 'json', ...NS]), 0);
    expect(JSON.parse(v.stdout).results).toHaveLength(12);
    expectExit(await acmg(['rollback', '--all', '-y', ...NS]), 0);
    expect(state()).toEqual({});
    expect(injection('shop')).toBe('enabled');
    // With nothing migrated, a plain uninstall leaves nothing of acmg's behind either (DNS backup included).
    expectExit(await acmg(['uninstall', '-y']), 0);
    expect(acmgObjects()).toEqual([]);
    expect(corefile()).toBe(originalCorefile);
    expectExit(await acmg(['install', '-y']), 0);
  });
});
