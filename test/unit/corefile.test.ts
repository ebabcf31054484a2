import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { CorefileError, parseCorefile, parseServerKey, printCorefile, serverBlocks } from '../../src/coredns/corefile.js';

const dir = join(process.cwd(), 'test', 'fixtures', 'corefiles');
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.Corefile'))
  .sort();
const read = (f: string) => readFileSync(join(dir, f), 'utf8');

describe('Corefile parser', () => {
  test('the fixture corpus covers the real-world layouts', () => {
    expect(fixtures).toEqual(
      expect.arrayContaining([
        'kubeadm.Corefile',
        'kind.Corefile',
        'eks.Corefile',
        'minikube.Corefile',
        'k3s.Corefile',
        'aks.Corefile',
        'stub-domains.Corefile',
        'custom-domain.Corefile',
      ]),
    );
  });

  test.each(fixtures)('%s: print(parse(x)) is byte-identical', (f) => {
    const src = read(f);
    expect(printCorefile(parseCorefile(src))).toBe(src);
  });

  test('structure: server blocks, keys, directives, nested blocks and line numbers', () => {
    const cf = parseCorefile(read('stub-domains.Corefile'));
    const blocks = serverBlocks(cf);
    expect(blocks.map((b) => b.keys)).toEqual([['.:53'], ['consul.local:53'], ['example.corp:53', 'example.internal:53']]);
    const main = blocks[0]!.block.directives;
    expect(main.map((d) => d.name)).toEqual(['errors', 'health', 'kubernetes', 'prometheus', 'forward', 'cache', 'loop', 'reload', 'loadbalance']);
    const k8s = main.find((d) => d.name === 'kubernetes')!;
    expect(k8s.args).toEqual(['cluster.local', 'in-addr.arpa', 'ip6.arpa']);
    expect(k8s.block!.directives.map((d) => [d.name, d.args])).toEqual([
      ['pods', ['insecure']],
      ['fallthrough', ['in-addr.arpa', 'ip6.arpa']],
    ]);
    expect(k8s.line).toBe(5);
    // A comment after arguments is not an argument; quotes are removed from arguments.
    const consulForward = blocks[1]!.block.directives.find((d) => d.name === 'forward')!;
    expect(consulForward.block!.directives[0]!.args).toEqual(['sequential']);
    expect(blocks[2]!.block.directives[1]!.args).toEqual(['.', '10.20.30.40']);
  });

  test('snippets, imports, {$ENV} placeholders and quoted strings with escapes', () => {
    const cf = parseCorefile(read('snippets-env.Corefile'));
    expect(cf.items.map((i) => i.kind)).toEqual(['snippet', 'server']);
    const server = serverBlocks(cf)[0]!;
    expect(server.keys).toEqual(['.:{$DNS_PORT}']);
    const names = server.block.directives.map((d) => d.name);
    expect(names).toEqual(['import', 'kubernetes', 'rewrite', 'template', 'forward', 'cache', 'reload']);
    expect(server.block.directives[1]!.args[0]).toBe('{$CLUSTER_DOMAIN}');
    expect(server.block.directives[3]!.block!.directives[0]!.args).toEqual(['{{ .Name }} 60 IN TXT "hello world"']);
    const k3s = parseCorefile(read('k3s.Corefile'));
    expect(k3s.items.map((i) => i.kind)).toEqual(['server', 'import']);
  });

  test.each([
    ['.:53 {\n  errors\n', /line 1: unbalanced braces: "{" is never closed/],
    ['.:53 {\n  errors\n}\n}\n', /line 4: unbalanced braces: "}" without a matching "{"/],
    ['.:53\n  errors\n', /line 1: expected "{" after server block keys ".:53"/],
    ['{\n}\n', /line 1: "{" without server block keys/],
    ['.:53 {\n  log "unterminated\n}\n', /line 2: unterminated quoted string/],
    ['.:53 {\n  { errors }\n}\n', /line 2: unexpected "{" without a directive name/],
  ])('malformed input %#: a CorefileError with the line', (src, msg) => {
    expect(() => parseCorefile(src)).toThrow(CorefileError);
    expect(() => parseCorefile(src)).toThrow(msg);
  });

  test('property: for any text, parse either fails with a line number or prints back byte-identical', () => {
    const alphabet = fc.constantFrom('.', ':', '5', '3', ' ', '\t', '\n', '\r', '{', '}', '#', '"', '\\', 'a', 'k', '$', '*', '/');
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 200 }).map((a) => a.join('')),
        (src) => {
          try {
            expect(printCorefile(parseCorefile(src))).toBe(src);
          } catch (e) {
            if (!(e instanceof CorefileError)) throw e;
            expect(e.line).toBeGreaterThanOrEqual(1);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('property: generated well-formed Corefiles parse to the structure they were built from', () => {
    const word = fc.stringMatching(/^[a-z][a-z0-9._-]{0,8}$/);
    const ws = fc.constantFrom(' ', '  ', '\t');
    const directive = fc.record({
      name: word,
      args: fc.array(word, { maxLength: 3 }),
      sub: fc.array(fc.record({ name: word, args: fc.array(word, { maxLength: 2 }) }), { maxLength: 3 }),
      comment: fc.boolean(),
      indent: ws,
    });
    const block = fc.record({
      zone: word,
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      directives: fc.array(directive, { maxLength: 6 }),
    });
    fc.assert(
      fc.property(fc.array(block, { minLength: 1, maxLength: 4 }), fc.boolean(), (blocks, blankLines) => {
        const src = blocks
          .map((b) => {
            const body = b.directives
              .map((d) => {
                const head = `${d.indent}${[d.name, ...d.args].join(' ')}${d.comment ? ' # note {' : ''}`;
                if (d.sub.length === 0) return head;
                return `${head.replace(/ # note \{$/, '')} {\n${d.sub.map((s) => `${d.indent}${d.indent}${[s.name, ...s.args].join(' ')}`).join('\n')}\n${d.indent}}`;
              })
              .join(blankLines ? '\n\n' : '\n');
            return `${b.zone}${b.port ? `:${b.port}` : ''} {\n${body}${body ? '\n' : ''}}\n`;
          })
          .join(blankLines ? '\n' : '');
        const cf = parseCorefile(src);
        expect(printCorefile(cf)).toBe(src);
        const parsed = serverBlocks(cf);
        expect(parsed.map((p) => p.keys[0])).toEqual(blocks.map((b) => `${b.zone}${b.port ? `:${b.port}` : ''}`));
        parsed.forEach((p, i) => {
          expect(p.block.directives.map((d) => [d.name, d.args])).toEqual(blocks[i]!.directives.map((d) => [d.name, d.args]));
          p.block.directives.forEach((d, j) =>
            expect((d.block?.directives ?? []).map((s) => [s.name, s.args])).toEqual(blocks[i]!.directives[j]!.sub.map((s) => [s.name, s.args])),
          );
        });
      }),
      { numRuns: 500 },
    );
  });

  test('server keys', () => {
    expect(parseServerKey('.:53')).toEqual({ zone: '.', port: 53, scheme: 'dns' });
    expect(parseServerKey('Cluster.Local')).toEqual({ zone: 'cluster.local.', port: undefined, scheme: 'dns' });
    expect(parseServerKey('dns://example.org:1053')).toEqual({ zone: 'example.org.', port: 1053, scheme: 'dns' });
  });
});
