// acmg version on the local control plane (#26 point 4): the server part read through the real API
// server, from istiod's and CoreDNS's real Deployments and acmg's own install record, and the skew
// warning when the installed acmg is not this client's version.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corednsVersionOf, istiodVersionOf } from '../../src/ops/version-info.js';
import { DNS_NAMESERVER, ROOT, acmg, expectExit, kubectl, kubectlJson } from './cluster.js';

const CLIENT: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
const NS = ['--nameserver', DNS_NAMESERVER];

describe('acmg version on the local control plane', () => {
  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
  });

  afterAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
  });

  test('without acmg: Kubernetes, istiod and CoreDNS as the cluster has them, and "not installed"', async () => {
    const v = JSON.parse(expectExit(await acmg(['version', '-o', 'json']), 0).stdout);
    expect(v.clientVersion).toEqual({ version: CLIENT });
    expect(v.serverVersion.kubernetes.gitVersion).toBe(kubectlJson(['version']).serverVersion.gitVersion);
    expect(v.serverVersion.acmg).toEqual({ installed: false, namespace: 'istio-system' });
    // What istiod's and CoreDNS's Deployments say, as kubectl reads them.
    const istiods = kubectlJson(['-n', 'istio-system', 'get', 'deployments', '-l', 'app=istiod']).items;
    expect(istiods.length).toBeGreaterThan(0);
    expect(v.serverVersion.istiod).toEqual({
      namespace: 'istio-system',
      deployments: istiods.map(istiodVersionOf).sort((a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name)),
    });
    const coredns = kubectlJson(['-n', 'kube-system', 'get', 'deployment', 'coredns']);
    expect(v.serverVersion.coredns).toEqual({ namespace: 'kube-system', deployments: [corednsVersionOf(coredns)] });
    // hack/manifests/coredns.yaml runs registry.k8s.io/coredns/coredns:<COREDNS_VERSION>.
    expect(v.serverVersion.coredns.deployments[0].version).toMatch(/^v\d+\.\d+\.\d+$/);

    const text = expectExit(await acmg(['version']), 0);
    expect(text.stdout).toMatch(new RegExp(`^Client Version: ${CLIENT.replace(/\./g, '\\.')}\nInstalled Version: not installed`));
    expect(text.stdout).toMatch(/\nCoreDNS Version: v\d+\.\d+\.\d+ \(kube-system\/coredns\)\n/);
    expect(text.stderr).not.toMatch(/version skew/);
  });

  test('with acmg installed by this client: its version and profile, no skew warning; --short; --client', async () => {
    expectExit(await acmg(['install', '--profile', 'minimal', '-y']), 0);
    const v = JSON.parse(expectExit(await acmg(['version', '-o', 'json']), 0).stdout);
    expect(v.serverVersion.acmg).toEqual({ installed: true, namespace: 'istio-system', version: CLIENT, profile: 'minimal', revision: 'default' });
    const text = expectExit(await acmg(['version']), 0);
    expect(text.stdout).toContain(`Installed Version: ${CLIENT} (namespace istio-system, profile minimal)`);
    expect(text.stderr).not.toMatch(/version skew/);
    const short = expectExit(await acmg(['version', '--short']), 0);
    expect(short.stdout.split('\n')[1]).toBe(`Installed Version: ${CLIENT}`);
    expect(short.stdout).not.toContain('(');
    expect(expectExit(await acmg(['version', '--client']), 0).stdout).toBe(`Client Version: ${CLIENT}\n`);
  });

  test('an install record written by another acmg version: the skew warning on stderr, stdout as before', async () => {
    // As an older client would have recorded it.
    const cm = kubectlJson(['-n', 'istio-system', 'get', 'configmap', 'acmg-state']);
    const install = { ...JSON.parse(cm.data.install), version: '0.0.1' };
    kubectl([
      '-n',
      'istio-system',
      'patch',
      'configmap',
      'acmg-state',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ data: { install: JSON.stringify(install) } }),
    ]);
    const r = expectExit(await acmg(['version']), 0);
    expect(r.stdout).toContain('Installed Version: 0.0.1 (namespace istio-system, profile minimal)');
    expect(r.stderr).toContain(`warning: version skew: the installed acmg is 0.0.1 (namespace istio-system), this client is ${CLIENT}`);
    const json = expectExit(await acmg(['version', '-o', 'json']), 0);
    expect(JSON.parse(json.stdout).serverVersion.acmg.version).toBe('0.0.1');
    expect(json.stderr).toMatch(/version skew/);
  });
});
