// The CoreDNS engine against the real API server and the real CoreDNS, on each supported layout:
// entries answer the gateway IP (A, with matching names; AAAA without errors), removal restores the
// original answer and a byte-identical Corefile.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { query, type RecordType } from '../../src/dns/client.js';
import { Kube } from '../../src/kube/client.js';
import { restoreDns, updateDnsEntries, type DnsSettings } from '../../src/kube/dns-store.js';
import {
  DNS_NAMESERVER,
  acmg,
  acmgObjects,
  applyFiles,
  applyObjects,
  clusterDir,
  dns,
  doorIP,
  eventually,
  expectExit,
  kubeconfig,
  kubectl,
  kubectlJson,
  switchLayout,
} from './cluster.js';

const PROPAGATION_MS = 20_000;
const settings = (domain = 'auto'): DnsSettings => ({
  namespace: 'kube-system',
  configMap: 'coredns',
  customConfigMap: 'coredns-custom',
  mode: 'auto',
  clusterDomain: domain,
  ttl: 5,
});
const answerOf = async (name: string, type: RecordType = 'A') => query(name, type, dns);
/** Reloads CoreDNS has completed, as its log says. */
const corednsReloads = () => readFileSync(join(clusterDir, 'logs', 'coredns.log'), 'utf8').split('[INFO] Reloading complete').length - 1;

describe('CoreDNS engine on real CoreDNS', () => {
  let kube: Kube;
  let helloIP: string;
  let gatewayIP: string;

  beforeAll(async () => {
    kube = await Kube.connect({ kubeconfig });
    await restoreDns(kube, settings());
    applyFiles('samples/helloworld/helloworld.yaml');
    applyObjects({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'dns-engine-gw', namespace: 'istio-system' },
      spec: { selector: { app: 'none' }, ports: [{ port: 5000 }] },
    });
    helloIP = kubectlJson(['-n', 'default', 'get', 'service', 'helloworld']).spec.clusterIP;
    gatewayIP = kubectlJson(['-n', 'istio-system', 'get', 'service', 'dns-engine-gw']).spec.clusterIP;
    expect(gatewayIP).not.toBe(helloIP);
  });

  // Whatever a test left behind (a failed assertion mid-way), put DNS back the way users would.
  afterEach(async () => {
    await restoreDns(kube, settings());
  });

  afterAll(async () => {
    kubectl(['-n', 'istio-system', 'delete', 'service', 'dns-engine-gw', '--ignore-not-found']);
    switchLayout('kubeadm');
    // The next test file expects the kubeadm layout to be served, not just stored.
    await eventually(
      'CoreDNS serving the kubeadm layout again',
      PROPAGATION_MS,
      async () => (await answerOf('helloworld.default.svc.cluster.local')).answers[0]?.data === helloIP,
    );
  });

  test.each([
    ['kubeadm', 'cluster.local', 'corefile', 'hosts'],
    ['k3s', 'cluster.local', 'custom', 'server-blocks'],
    ['custom-domain', 'corp.internal', 'corefile', 'hosts'],
  ])('layout %s (domain %s): %s layout, %s mechanism', async (layoutName, domain, kind, mechanism) => {
    switchLayout(layoutName);
    const fqdn = `helloworld.default.svc.${domain}`;
    await eventually(`CoreDNS serving the ${layoutName} layout`, PROPAGATION_MS, async () => (await answerOf(fqdn)).answers[0]?.data === helloIP);
    const originalCorefile: string = kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns']).data.Corefile;

    // Two names: with the server-block mechanism they share one block (a key each).
    const other = `ghost.default.svc.${domain}`;
    const added = await updateDnsEntries(kube, settings(), (cur) => [...cur, { fqdn, ip: gatewayIP }, { fqdn: other, ip: gatewayIP }]);
    expect([added.layout.kind, added.layout.mechanism, added.layout.clusterDomain]).toEqual([kind, mechanism, domain]);
    expect(added.writes).toBe(1);
    const again = await updateDnsEntries(kube, settings(), (cur) => [...cur, { fqdn, ip: gatewayIP }, { fqdn: other, ip: gatewayIP }]);
    expect([again.changed, again.writes]).toEqual([false, 0]);

    const { ms } = await eventually('the gateway IP', PROPAGATION_MS, async () => (await answerOf(fqdn)).answers[0]?.data === gatewayIP);
    const a = await answerOf(fqdn);
    expect(a.rcode).toBe('NOERROR');
    expect(a.answers.map((x) => [x.name, x.type, x.data])).toEqual([[fqdn, 'A', gatewayIP]]);
    const aaaa = await answerOf(fqdn, 'AAAA');
    expect(aaaa.rcode).toBe('NOERROR');
    expect(aaaa.answers).toEqual([]);
    expect((await answerOf(other)).answers.map((x) => x.data)).toEqual([gatewayIP]);
    // A name below a migrated one (an SRV lookup) never fails: with hosts in the cluster block the
    // kubernetes plugin answers it as before; acmg's own server block answers NXDOMAIN.
    const below = [(await answerOf(`_http._tcp.${fqdn}`, 'SRV')).rcode, (await answerOf(`x.${other}`)).rcode];
    expect(below).toEqual(mechanism === 'server-blocks' ? ['NXDOMAIN', 'NXDOMAIN'] : [expect.stringMatching(/^(NOERROR|NXDOMAIN)$/), 'NXDOMAIN']);
    // Unrelated names resolve exactly as before.
    expect((await answerOf(`kubernetes.default.svc.${domain}`)).answers[0]?.data).toBe('10.96.0.1');
    expect((await answerOf(`dns-engine-gw.istio-system.svc.${domain}`)).answers[0]?.data).toBe(gatewayIP);
    if (kind === 'custom') {
      expect(kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns']).data.Corefile).toBe(originalCorefile);
      expect(Object.keys(kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns-custom']).data)).toEqual(['acmg.server']);
      // The reload mark (migrate's way out when CoreDNS missed a change to coredns-custom): the same
      // entries, rewritten one line lower, are a change CoreDNS reloads.
      const reloads0 = corednsReloads();
      const nudged = await updateDnsEntries(kube, settings(), (cur) => cur, { toggleMark: true });
      expect([nudged.changed, nudged.writes]).toEqual([true, 1]);
      await eventually('CoreDNS reloading the rewritten region', PROPAGATION_MS, async () => corednsReloads() > reloads0);
      expect((await answerOf(fqdn)).answers.map((x) => x.data)).toEqual([gatewayIP]);
    }
    // The original is backed up before the first change.
    expect(kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns-acmg-backup']).data.Corefile).toBe(originalCorefile);

    const removed = await updateDnsEntries(kube, settings(), (cur) => cur.filter((e) => e.fqdn !== fqdn && e.fqdn !== other));
    expect(removed.after).toEqual([]);
    await eventually('the original ClusterIP', PROPAGATION_MS, async () => (await answerOf(fqdn)).answers[0]?.data === helloIP);
    expect(kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns']).data.Corefile).toBe(originalCorefile);
    await restoreDns(kube, settings());
    expect(kubectl(['-n', 'kube-system', 'get', 'configmap', '--no-headers', '-o', 'custom-columns=N:.metadata.name'])).not.toMatch(/acmg-backup/);
    expect(ms).toBeLessThan(PROPAGATION_MS);
  });

  test.each([
    ['k3s', 'cluster.local'],
    ['custom-domain', 'corp.internal'],
  ])('the whole CLI flow on the %s layout: install, migrate, verify-dns, purge restores everything', async (layoutName, domain) => {
    switchLayout(layoutName);
    await eventually(
      `CoreDNS serving the ${layoutName} layout`,
      PROPAGATION_MS,
      async () => (await answerOf(`helloworld.default.svc.${domain}`)).answers[0]?.data === helloIP,
    );
    const corefile0: string = kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns']).data.Corefile;
    const NS = ['--nameserver', DNS_NAMESERVER];
    try {
      expectExit(await acmg(['install', '--profile', 'demo', '-y']), 0);
      expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--keep-service', '-y', ...NS]), 0);
      const gw = doorIP('default');
      const v = JSON.parse(expectExit(await acmg(['verify-dns', '-o', 'json', ...NS]), 0).stdout);
      expect(v.domain).toBe(domain);
      expect(v.results[0]).toMatchObject({ written: `helloworld.default.svc.${domain}.`, got: [gw], pass: true });
      const vs = kubectlJson(['-n', 'default', 'get', 'virtualservices.networking.istio.io', 'acmg-helloworld']);
      // The route matches the service's names in the cluster's own domain.
      expect(vs.spec.http[0].match[0].authority.regex).toContain(`(\\.${domain.replace(/\./g, '\\.')}\\.?)`);
      expect(vs.spec.http[0].route[0].destination.host).toBe(`helloworld.default.svc.${domain}`);
      if (layoutName === 'k3s') {
        // The managed Corefile is never touched; acmg writes coredns-custom, which it created.
        expect(kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns']).data.Corefile).toBe(corefile0);
        expect(Object.keys(kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns-custom']).data)).toEqual(['acmg.server']);
      }
      expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
      expect(kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns']).data.Corefile).toBe(corefile0);
      expect(kubectl(['-n', 'kube-system', 'get', 'configmap', 'coredns-custom', '--ignore-not-found', '-o', 'name']).trim()).toBe('');
      expect(acmgObjects()).toEqual([]);
      expect((await answerOf(`helloworld.default.svc.${domain}`)).answers[0]?.data).toBe(helloIP);
    } finally {
      await acmg(['uninstall', '--purge', '-y', ...NS]);
    }
  });
});
