import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseCorefile, serverBlocks } from '../../src/coredns/corefile.js';
import { addEntries, readEntries, removeEntries, setEntries, type DnsConfig } from '../../src/coredns/engine.js';
import { detectLayout, LayoutError } from '../../src/coredns/layout.js';
import { sortEntries, type DnsEntry } from '../../src/coredns/region.js';
import { expectGolden } from './golden.js';

const corefile = (f: string) => readFileSync(join(process.cwd(), 'test', 'fixtures', 'corefiles', `${f}.Corefile`), 'utf8');
const opts = { ttl: 5 };
const GW = '10.96.200.1';
const entry = (name: string, ns = 'default', domain = 'cluster.local'): DnsEntry => ({ fqdn: `${name}.${ns}.svc.${domain}`, ip: GW });
const layoutOf = (cfg: DnsConfig, mode: 'auto' | 'corefile' | 'custom' = 'auto') =>
  detectLayout({ corefile: cfg.corefile, custom: cfg.custom, mode, clusterDomain: 'auto' });

describe('layout detection', () => {
  test.each([
    ['kubeadm', 'corefile', 'hosts', 'cluster.local'],
    ['kind', 'corefile', 'hosts', 'cluster.local'],
    ['eks', 'corefile', 'hosts', 'cluster.local'],
    ['minikube', 'corefile', 'server-blocks', 'cluster.local'],
    ['k3s', 'custom', 'server-blocks', 'cluster.local'],
    ['aks', 'custom', 'hosts', 'cluster.local'],
    ['stub-domains', 'corefile', 'hosts', 'cluster.local'],
    ['custom-domain', 'corefile', 'hosts', 'corp.internal'],
  ])('%s -> %s layout, %s mechanism, domain %s', (name, kind, mechanism, domain) => {
    const l = layoutOf({ corefile: corefile(name) });
    expect([l.kind, l.mechanism, l.clusterDomain, l.port]).toEqual([kind, mechanism, domain, 53]);
  });

  test('unsupported and ambiguous layouts are errors that say what was found', () => {
    expect(() => layoutOf({ corefile: '.:53 {\n  forward . 1.1.1.1\n}\n' })).toThrow(/no server block in the Corefile uses the kubernetes plugin/);
    expect(() => layoutOf({ corefile: '.:53 {\n  kubernetes cluster.local\n' })).toThrow(/malformed: line 1/);
    expect(() => layoutOf({ corefile: corefile('kubeadm') }, 'custom')).toThrow(/imports nothing from coredns-custom/);
    expect(() => detectLayout({ corefile: corefile('kubeadm'), mode: 'auto', clusterDomain: 'corp.internal' })).toThrow(
      /dns.clusterDomain is "corp.internal" but the kubernetes plugin serves cluster.local/,
    );
  });

  test('reload: present in every shipped layout; without it acmg must restart CoreDNS, and says so', () => {
    for (const name of ['kubeadm', 'kind', 'eks', 'minikube', 'k3s', 'aks']) expect(layoutOf({ corefile: corefile(name) }).reloads).toBe(true);
    const noReload = layoutOf({ corefile: corefile('kubeadm').replace(/^\s*reload\n/m, '') });
    expect(noReload.reloads).toBe(false);
    expect(noReload.description).toMatch(/no reload plugin: acmg restarts CoreDNS after each change/);
    // A reload in another server block reloads the whole Corefile (it is one CoreDNS instance).
    expect(layoutOf({ corefile: `${corefile('kubeadm').replace(/^\s*reload\n/m, '')}example.org:53 {\n    reload\n    forward . 1.1.1.1\n}\n` }).reloads).toBe(
      true,
    );
  });

  test('a user .override that already uses hosts moves acmg to server blocks', () => {
    const l = layoutOf({ corefile: corefile('aks'), custom: { 'mine.override': 'hosts {\n  1.2.3.4 a.example\n  fallthrough\n}\n' } });
    expect([l.kind, l.mechanism, l.customKey]).toEqual(['custom', 'server-blocks', 'acmg.server']);
  });
});

describe('entries in the Corefile layout', () => {
  test('golden: the region acmg writes (hosts mechanism and server-block mechanism)', () => {
    const a = { corefile: corefile('kubeadm') };
    expectGolden('coredns/kubeadm-two-entries.Corefile', setEntries(a, layoutOf(a), [entry('reviews'), entry('helloworld')], opts).config.corefile);
    const b = { corefile: corefile('minikube') };
    expectGolden('coredns/minikube-one-entry.Corefile', setEntries(b, layoutOf(b), [entry('helloworld')], opts).config.corefile);
  });

  test.each(['kubeadm', 'kind', 'eks', 'minikube', 'stub-domains', 'custom-domain', 'no-trailing-newline', 'crlf'])(
    '%s: add is idempotent, remove-all restores the original byte for byte',
    (name) => {
      const original = { corefile: corefile(name) };
      const layout = layoutOf(original);
      const domain = layout.clusterDomain;
      const once = addEntries(original, layout, [entry('helloworld', 'default', domain)], opts);
      expect(once.changed).toBe(true);
      const twice = addEntries(once.config, layout, [entry('helloworld', 'default', domain)], opts);
      expect(twice.changed).toBe(false);
      expect(twice.config.corefile).toBe(once.config.corefile);
      expect(readEntries(once.config).entries).toEqual([entry('helloworld', 'default', domain)]);
      const removed = removeEntries(once.config, layout, [`helloworld.default.svc.${domain}`], opts);
      expect(removed.config.corefile).toBe(original.corefile);
    },
  );

  test('the produced Corefile has one hosts plugin per server block at most', () => {
    for (const name of ['kubeadm', 'minikube', 'eks']) {
      const c = { corefile: corefile(name) };
      const out = setEntries(c, layoutOf(c), [entry('a'), entry('b')], opts).config.corefile;
      for (const b of serverBlocks(parseCorefile(out))) expect(b.block.directives.filter((d) => d.name === 'hosts').length).toBeLessThanOrEqual(1);
    }
  });

  test('edits made outside the region survive add and remove', () => {
    const c0 = { corefile: corefile('kubeadm') };
    const layout = layoutOf(c0);
    const c1 = addEntries(c0, layout, [entry('a')], opts).config;
    const userEdited = { corefile: c1.corefile.replace('    loop\n', '    loop\n    log\n') };
    const c2 = addEntries(userEdited, layout, [entry('b')], opts).config;
    expect(c2.corefile).toContain('    log\n');
    const c3 = removeEntries(c2, layout, ['a.default.svc.cluster.local', 'b.default.svc.cluster.local'], opts).config;
    expect(c3.corefile).toBe(c0.corefile.replace('    loop\n', '    loop\n    log\n'));
  });

  test('a hand-edited region is detected and refused unless forced', () => {
    const c0 = { corefile: corefile('kubeadm') };
    const layout = layoutOf(c0);
    const c1 = addEntries(c0, layout, [entry('a')], opts).config;
    const tampered = { corefile: c1.corefile.replace(`${GW} a.default`, `10.1.1.1 a.default`) };
    expect(() => addEntries(tampered, layout, [entry('b')], opts)).toThrow(LayoutError);
    expect(() => addEntries(tampered, layout, [entry('b')], opts)).toThrow(/edited by hand/);
    const forced = addEntries(tampered, layout, [entry('b')], { ...opts, force: true });
    expect(readEntries(forced.config).entries.map((e) => e.fqdn)).toEqual(['a.default.svc.cluster.local', 'b.default.svc.cluster.local']);
    expect(readEntries(forced.config).regions[0]!.region.tampered).toBe(false);
  });

  test('property: any sequence of adds and removes ends with exactly the expected entries, and empty means original', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
    const op = fc.record({ add: fc.boolean(), names: fc.array(name, { minLength: 1, maxLength: 4 }) });
    fc.assert(
      fc.property(fc.constantFrom('kubeadm', 'minikube', 'stub-domains', 'no-trailing-newline'), fc.array(op, { maxLength: 12 }), (fixture, ops) => {
        const original = { corefile: corefile(fixture) };
        const layout = layoutOf(original);
        let cfg: DnsConfig = original;
        const model = new Set<string>();
        for (const o of ops) {
          const es = o.names.map((n) => entry(n));
          cfg = (
            o.add
              ? addEntries(cfg, layout, es, opts)
              : removeEntries(
                  cfg,
                  layout,
                  es.map((e) => e.fqdn),
                  opts,
                )
          ).config;
          for (const e of es) {
            if (o.add) model.add(e.fqdn);
            else model.delete(e.fqdn);
          }
        }
        expect(readEntries(cfg).entries.map((e) => e.fqdn)).toEqual([...model].sort());
        cfg = setEntries(cfg, layout, [], opts).config;
        expect(cfg.corefile).toBe(original.corefile);
      }),
      { numRuns: 200 },
    );
  });
});

describe('entries in the custom layout', () => {
  test('k3s: writes coredns-custom acmg.server and never touches the Corefile', () => {
    const c0: DnsConfig = { corefile: corefile('k3s') };
    const layout = layoutOf(c0);
    const c1 = addEntries(c0, layout, [entry('helloworld')], opts);
    expect(c1.corefileChanged).toBe(false);
    expect(Object.keys(c1.config.custom ?? {})).toEqual(['acmg.server']);
    expectGolden('coredns/k3s-acmg.server', c1.config.custom!['acmg.server']!);
    expect(() => parseCorefile(c1.config.custom!['acmg.server']!)).not.toThrow();
    const c2 = removeEntries(c1.config, layout, ['helloworld.default.svc.cluster.local'], opts);
    expect(c2.config.corefile).toBe(c0.corefile);
    expect(c2.config.custom).toEqual({});
  });

  test('the reload mark: toggled, the same entries are a change that moves every line below it; a plain write keeps it; toggled back, the bytes are the first ones', () => {
    for (const name of ['k3s', 'aks']) {
      const c0: DnsConfig = { corefile: corefile(name) };
      const layout = layoutOf(c0);
      const c1 = setEntries(c0, layout, [entry('helloworld'), entry('reviews', 'shop')], opts);
      const [key] = Object.keys(c1.config.custom!);
      const marked = setEntries(c1.config, layout, readEntries(c1.config).entries, { ...opts, toggleMark: true });
      expect([marked.changed, marked.customChanged, marked.corefileChanged]).toEqual([true, true, false]);
      const [before, after] = [c1.config.custom![key!]!, marked.config.custom![key!]!];
      // One line more, right after the begin marker: CoreDNS's hash of the parsed config has line numbers.
      expect(after.split('\n').length).toBe(before.split('\n').length + 1);
      expect(after.split('\n')[1]).toBe('# acmg: reload');
      expect(readEntries(marked.config).entries).toEqual(readEntries(c1.config).entries);
      expect(readEntries(marked.config).regions[0]!.region.tampered).toBe(false);
      expect(setEntries(marked.config, layout, readEntries(c1.config).entries, opts).changed).toBe(false);
      const back = setEntries(marked.config, layout, readEntries(c1.config).entries, { ...opts, toggleMark: true });
      expect(back.config.custom![key!]).toBe(before);
      // Removing the last entry still restores the original, marked or not.
      expect(setEntries(marked.config, layout, [], opts).config.corefile).toBe(c0.corefile);
    }
  });

  test('aks: writes acmg.override, keeps the user keys', () => {
    const c0: DnsConfig = { corefile: corefile('aks'), custom: { 'log.override': 'log\n' } };
    const layout = layoutOf(c0);
    const c1 = addEntries(c0, layout, [entry('helloworld')], opts).config;
    expect(Object.keys(c1.custom!).sort()).toEqual(['acmg.override', 'log.override']);
    expect(c1.custom!['acmg.override']).toMatch(/^# acmg:begin .*\nhosts \{\n {4}10\.96\.200\.1 helloworld\.default\.svc\.cluster\.local\n/);
    expect(removeEntries(c1, layout, ['helloworld.default.svc.cluster.local'], opts).config).toEqual(c0);
  });
});

describe('size and validity at scale', () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => entry(`svc-${i}`, `ns-${i % 20}`));
  test('10,000 entries fit with the hosts mechanism', () => {
    const c = { corefile: corefile('kubeadm') };
    const out = setEntries(c, layoutOf(c), many(10_000), opts).config.corefile;
    expect(Buffer.byteLength(out)).toBeLessThan(1024 * 1024);
    expect(readEntries({ corefile: out }).entries).toHaveLength(10_000);
  });

  test('10,000 entries fit with the server-block mechanism, its plugins scoped to "." rather than to every key', () => {
    const c = { corefile: corefile('minikube') };
    const out = setEntries(c, layoutOf(c), many(10_000), opts).config.corefile;
    expect(Buffer.byteLength(out)).toBeLessThan(1024 * 1024);
    expect(readEntries({ corefile: out }).entries).toHaveLength(10_000);
    // Unscoped, CoreDNS matches each query against all 10,000 keys in turn (0.02x vanilla, bench/README).
    const region = out.slice(out.indexOf('# acmg:begin'), out.indexOf('# acmg:end'));
    const plugins = region.split('\n').filter((l) => /^\s+(hosts|template)\b/.test(l));
    expect(plugins.length).toBeGreaterThan(0);
    expect(plugins.filter((l) => !/^\s+template (ANY ANY|IN A) \. \{$/.test(l))).toEqual([]);
  });

  test('entries that would overflow a ConfigMap are refused with the number that fits and a way out', () => {
    const c = { corefile: corefile('kubeadm') };
    const e = (() => {
      try {
        setEntries(c, layoutOf(c), many(30_000), opts);
      } catch (x) {
        return x as Error;
      }
    })();
    expect(e?.message).toMatch(
      /^30000 DNS entries would make the coredns ConfigMap \d+ bytes, over the 1 MiB .*hosts mechanism, and \d+ bytes of its own: at most ~\d+ entries\)$/,
    );
    // The number it gives fits, and is close (an average over the 30,000 names, which grow longer).
    const fit = Number(e!.message.match(/at most ~(\d+)/)![1]);
    expect(() => setEntries(c, layoutOf(c), many(fit), opts)).not.toThrow();
    expect(() => setEntries(c, layoutOf(c), many(Math.ceil(fit * 1.05)), opts)).toThrow(/over the 1 MiB/);
  });

  test('the generated server-block region parses: one server block per label count and address, every name a key, answered by templates', () => {
    const c = { corefile: corefile('minikube') };
    const v6 = { fqdn: 'v6.default.svc.cluster.local', ip: 'fd00::10' };
    const out = setEntries(c, layoutOf(c), [...many(200), v6], opts).config.corefile;
    const blocks = serverBlocks(parseCorefile(out));
    expect(blocks).toHaveLength(3);
    const v4 = blocks.find((b) => b.keys.length === 200)!;
    expect(v4.keys[0]).toBe('svc-0.ns-0.svc.cluster.local:53');
    expect(v4.block.directives.map((d) => d.name)).toEqual(['template', 'template', 'template']);
    expect(out).toMatch(/v6\.default\.svc\.cluster\.local:53 \{\n {4}template ANY ANY \. \{[\s\S]*?answer "\{\{ \.Name \}\} 5 IN AAAA fd00::10"/);
    expect(readEntries({ corefile: out }).entries).toEqual(sortEntries([...many(200), v6]));
  });

  test('a server-block region written before the templates (a hosts line a name) is still read, and rewritten in the new form', () => {
    const c = { corefile: corefile('minikube') };
    const old = `# acmg:begin sha256=HASH server-blocks (managed by acmg, do not edit; see: acmg status)
a.default.svc.cluster.local:53,
b.default.svc.cluster.local:53 {
    template ANY ANY {
        match "^([^.]+[.]){6,}$"
        rcode NXDOMAIN
        fallthrough
    }
    hosts {
        10.96.200.1 a.default.svc.cluster.local
        10.96.200.1 b.default.svc.cluster.local
        ttl 5
        no_reverse
        reload 0
    }
}
# acmg:end
`;
    const body = old.slice(old.indexOf('\n') + 1, old.indexOf('# acmg:end'));
    const before = { corefile: old.replace('HASH', createHash('sha256').update(body).digest('hex').slice(0, 16)) + c.corefile };
    expect(readEntries(before).entries.map((e) => e.fqdn)).toEqual(['a.default.svc.cluster.local', 'b.default.svc.cluster.local']);
    expect(readEntries(before).regions[0]!.region.tampered).toBe(false);
    const after = setEntries(before, layoutOf(before), readEntries(before).entries.slice(1), opts).config.corefile;
    expect(after.slice(0, after.indexOf('# acmg:end'))).not.toMatch(/hosts/);
    expect(readEntries({ corefile: after }).entries.map((e) => e.fqdn)).toEqual(['b.default.svc.cluster.local']);
  });
});

describe('a damaged acmg region is refused, --force or not: acmg never guesses where its text ends', () => {
  const base = { corefile: corefile('kubeadm') };
  const migrated = setEntries(base, layoutOf(base), [entry('helloworld')], opts).config;
  const lines = migrated.corefile.split('\n');
  const without = (marker: string) => lines.filter((l) => !l.includes(marker)).join('\n');
  const damaged: [string, string, RegExp][] = [
    ['the end marker deleted', without('# acmg:end'), /has no "# acmg:end" marker/],
    ['the begin marker deleted', without('# acmg:begin'), /"# acmg:end" marker without its "# acmg:begin"/],
    ['a region nested in it', migrated.corefile.replace(/(# acmg:begin[^\n]*\n)/, '$1$1'), /nested regions/],
    ['a second region after it', migrated.corefile.replace(/(\s*# acmg:begin[\s\S]*?# acmg:end\n)/, '$1$1'), /more than one acmg region/],
  ];

  test.each(damaged)('%s: a migrate, a rollback (force) and a purge all refuse, naming the line', (_what, text, problem) => {
    const cfg = { corefile: text };
    const layout = layoutOf(base);
    for (const force of [false, true]) {
      expect(() => setEntries(cfg, layout, [entry('helloworld'), entry('reviews')], { ...opts, force })).toThrow(problem);
      expect(() => setEntries(cfg, layout, [], { ...opts, force })).toThrow(LayoutError);
    }
    expect(readEntries(cfg).regions.every((r) => r.region.damaged)).toBe(true);
  });

  test('every Corefile acmg writes parses back with every server block closed, and an intact region still comes out byte for byte', () => {
    const back = setEntries(migrated, layoutOf(base), [], opts).config.corefile;
    expect(back).toBe(base.corefile);
    expect(() => parseCorefile(setEntries(base, layoutOf(base), [entry('a'), entry('b')], opts).config.corefile)).not.toThrow();
  });
});
