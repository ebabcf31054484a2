// On a coredns-custom layout (k3s: acmg's region is an imported file) acmg sync and the controller
// ask DNS after each write and, halfway through --dns-timeout, repair a write CoreDNS has not
// loaded. CoreDNS's own miss (a change landing while it reloads) is a race no test can schedule;
// here the write is held back from CoreDNS by pausing the harness's ConfigMap-to-file sync (what the
// kubelet does in a real cluster) until the repair's write is in the ConfigMap. CoreDNS, the API
// server and acmg are real.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { query } from '../../src/dns/client.js';
import { RELOAD_MARK } from '../../src/coredns/region.js';
import { Controller, applyVs, vsDoc as syncVsDoc } from './controller-process.js';
import { DNS_NAMESERVER, acmg, applyFiles, clusterDir, dns, eventually, expectExit, kubectl, kubectlJson, switchLayout } from './cluster.js';

const NS = ['--nameserver', DNS_NAMESERVER];
const answer = async (name: string) => (await query(name, 'A', dns)).answers[0]?.data;
const region = (): string => kubectlJson(['-n', 'kube-system', 'get', 'configmap', 'coredns-custom']).data?.['acmg.server'] ?? '';
const syncPid = () => Number(readFileSync(join(clusterDir, 'pids', 'coredns-sync.pid'), 'utf8'));

/** Runs fn with the ConfigMap-to-file sync paused: CoreDNS sees no change to coredns-custom meanwhile. */
async function withSyncPaused<T>(fn: (resume: () => void) => Promise<T>): Promise<T> {
  const pid = syncPid();
  process.kill(pid, 'SIGSTOP');
  const resume = () => process.kill(pid, 'SIGCONT');
  try {
    return await fn(resume);
  } finally {
    resume();
  }
}

const vsDoc = (name: string, dest: string) => syncVsDoc(name, dest, { test: 'sync-custom' });
const deleteVses = () => kubectl(['-n', 'shop', 'delete', 'virtualservices.networking.istio.io', '-l', 'acmg-test=sync-custom', '--ignore-not-found']);

describe('acmg sync on a coredns-custom layout: DNS checked after a write, a missed write repaired', () => {
  const controller = new Controller();
  let gatewayIP: string;

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    switchLayout('k3s');
    applyFiles('test/e2e/fixtures/shop.yaml');
    deleteVses();
    expectExit(await acmg(['install', '--profile', 'minimal', '-y']), 0);
    gatewayIP = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-gateway']).spec.clusterIP;
  });

  afterAll(async () => {
    await controller.kill('SIGTERM');
    deleteVses();
    await acmg(['uninstall', '--purge', '-y', ...NS]);
    switchLayout('kubeadm');
  });

  test('acmg sync (once) waits for DNS to answer; a write CoreDNS has not loaded by halfway is rewritten once', async () => {
    applyVs([vsDoc('once', 'reviews')]);
    const ok = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS, '--dns-timeout', '30s']), 0).stdout);
    expect(ok).toMatchObject({ dnsWrites: 1, dnsCheck: { names: 1, repaired: false, unconfirmed: 0 } });
    expect(await answer('reviews.shop.svc.cluster.local')).toBe(gatewayIP);

    applyVs([vsDoc('two', 'ratings')]);
    const r = await withSyncPaused(async (resume) => {
      const run = acmg(['sync', ...NS, '--dns-timeout', '16s']);
      const marked = region().includes(RELOAD_MARK);
      // The repair flips the region's reload mark, 8 s in; only then does CoreDNS get to see the file.
      await eventually('the repair write', 30_000, () => region() !== '' && region().includes(RELOAD_MARK) !== marked);
      resume();
      return run;
    });
    expectExit(r, 0);
    expect(r.stdout).toBe(
      `+ ratings.shop.svc.cluster.local -> ${gatewayIP}\n(2 CoreDNS writes, one of them repairing the first, which CoreDNS had not loaded)\n`,
    );
    expect(await answer('ratings.shop.svc.cluster.local')).toBe(gatewayIP);
    deleteVses();
    expectExit(await acmg(['sync', ...NS]), 0);
  });

  test('the controller repairs a write CoreDNS missed, beside its reconciles, and counts it', async () => {
    await controller.start([...NS, '--dns-timeout', '16s']);
    applyVs([vsDoc('first', 'reviews')]);
    await eventually('reviews on the gateway', 30_000, async () => (await answer('reviews.shop.svc.cluster.local')) === gatewayIP);
    await eventually('the first write', 30_000, async () => (await controller.metric('acmg_sync_dns_writes_total')) === 1);
    expect(await controller.metric('acmg_sync_dns_repairs_total')).toBe(0);

    await withSyncPaused(async (resume) => {
      const marked = region().includes(RELOAD_MARK);
      applyVs([vsDoc('second', 'ratings')]);
      await eventually('the repair write', 30_000, () => region().includes('ratings.shop.svc.cluster.local') && region().includes(RELOAD_MARK) !== marked);
      resume();
    });
    await eventually('ratings on the gateway', 30_000, async () => (await answer('ratings.shop.svc.cluster.local')) === gatewayIP);
    await eventually('the repair counted', 30_000, async () => (await controller.metric('acmg_sync_dns_repairs_total')) === 1);
    expect(await controller.metric('acmg_sync_dns_writes_total')).toBe(3);
    expect(await controller.metric('acmg_sync_dns_unconfirmed_total')).toBe(0);
    expect(controller.log).toMatch(/CoreDNS had not loaded the write; rewrote acmg's region, and DNS now answers it \(1 name checked\)/);
  });
});
