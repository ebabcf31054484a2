// Input acmg reads (-f values files, standard input, --set, the kubeconfig) is bounded: an alias
// bomb, deep nesting, a huge file, /dev/zero or a huge value is refused fast with exit 2 and a
// short error, and a long bad value is shown as an excerpt. Run as processes, without a cluster.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, runCli } from './process.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'acmg-input-'));
});

describe('input beyond the limits is refused fast with a short error', () => {
  const bomb = () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    const names = 'abcdefghi';
    for (let i = 1; i < names.length; i++)
      lines.push(
        `${names[i]}: &${names[i]} [${Array(9)
          .fill(`*${names[i - 1]}`)
          .join(',')}]`,
      );
    return `${lines.join('\n')}\nspec:\n  gateway:\n    ports: *i\n`;
  };

  test.each([
    ['an alias bomb landing in a list', () => bomb(), /expands to more than 100000 values/],
    ['nesting 5000 levels deep', () => `spec: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, /nest/],
    ['a 2 MiB file', () => `# ${'x'.repeat(2 * 1024 * 1024)}\n`, /larger than 1 MiB/],
  ])('-f with %s: exit 2 fast, a short error', async (_name, content, message) => {
    const file = join(dir, `input-${Math.random()}.yaml`);
    writeFileSync(file, content());
    const r = await runCli(['manifest', 'generate', '-f', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.length).toBeLessThan(2000);
    expect(r.stdout).toBe('');
    expect(r.ms).toBeLessThan(10_000);
  });

  // It read on until it had 4 GB.
  test('-f /dev/zero is refused at the size limit', async () => {
    const r = await runCli(['manifest', 'generate', '-f', '/dev/zero']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"\/dev\/zero" is larger than 1 MiB/);
  });

  test('a long bad value is shown as a short excerpt', async () => {
    const file = join(dir, 'long.yaml');
    writeFileSync(file, `gateway:\n  name: "${'X'.repeat(100_000)}"\n  ports: [${Array(5000).fill('{name: p, port: 99999}').join(',')}]\n`);
    const r = await runCli(['manifest', 'generate', '-f', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.length).toBeLessThan(6000);
    expect(r.stderr).toMatch(/gateway\.name: "XXXX.*…/);
    expect(r.stderr).toMatch(/… and \d+ more problems/);
  });

  test('a huge --set is refused with an excerpt', async () => {
    const r = await runCli(['manifest', 'generate', '--set', `gateway.name=${'y'.repeat(100_000)}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/longer than 16 KiB/);
    expect(r.stderr.length).toBeLessThan(1000);
  });

  test('a kubeconfig alias bomb is refused before any connection', async () => {
    const file = join(dir, 'bomb-kubeconfig.yaml');
    writeFileSync(file, bomb().replace('spec:\n  gateway:\n    ports: *i', 'clusters: *i'));
    const r = await runCli(['status', '--kubeconfig', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kubeconfig .* expands to more than 100000 values/);
    expect(r.stderr.length).toBeLessThan(2000);
  });
});

describe('-f - (standard input)', () => {
  test('-f - reads the overlay from standard input, and can be given once', async () => {
    const r = await runCli(['manifest', 'generate', '-f', '-', '-o', 'json'], { input: 'gateway:\n  replicas: 3\n' });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).items.find((o: any) => o.kind === 'Deployment').spec.replicas).toBe(3);
    expect((await runCli(['manifest', 'generate', '-f', '-', '-f', '-'])).stderr).toMatch(/can be given once/);
  });
});
