// Issue #26 point 3: the controller image's recipe (deploy/controller/Containerfile), its context
// (deploy/controller/stage.mjs) and scripts/build-image.sh. No image is built here (no builder runs in
// the unit tests): the context the Containerfile copies is staged and run as the image would run it,
// and the script is run with a stand-in builder that records what it was asked to do.
import { spawn, spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KObject } from '../../src/model/object.js';
import { resolveValues } from '../../src/profile/load.js';
import { renderInstall } from '../../src/render/install.js';
import { ensureBuilt, ROOT } from './process.js';

const CONTAINERFILE = join(ROOT, 'deploy', 'controller', 'Containerfile');
const SCRIPT = join(ROOT, 'scripts', 'build-image.sh');
const pkgVersion = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const BASH = spawnSync('bash', ['-c', 'command -v bash'], { encoding: 'utf8' }).stdout.trim();

/** The Containerfile's instructions (continuation lines joined, comments dropped), as [keyword, rest]. */
function instructions(): [string, string][] {
  const text = readFileSync(CONTAINERFILE, 'utf8')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [k, ...rest] = l.split(/\s+/);
      return [k!.toUpperCase(), rest.join(' ')];
    });
}
const one = (keyword: string) => instructions().filter(([k]) => k === keyword);
/** COPY instructions from the context (not --from another stage): [sources, destination]. */
const copies = () =>
  one('COPY')
    .map(([, rest]) => rest.split(/\s+/).filter((w) => !w.startsWith('--')))
    .map((ws) => ({ sources: ws.slice(0, -1), dest: ws[ws.length - 1]! }));

/** The controller Deployment acmg renders with these values (what `acmg install` applies). */
function renderedController(sets: string[] = []): any {
  const doc = resolveValues({ profile: 'empty', sets: ['controller.enabled=true', ...sets] });
  return (renderInstall(doc, { clusterDomain: 'cluster.local', version: pkgVersion }).find((o) => o.kind === 'Deployment') as KObject).spec.template.spec;
}

const FAKE_KUBECONFIG = [
  'apiVersion: v1',
  'kind: Config',
  'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]',
  'users: [{name: u, user: {token: x}}]',
  'contexts: [{name: x, context: {cluster: c, user: u}}]',
  'current-context: x',
  '',
].join('\n');

describe('the controller image recipe', () => {
  let stage: string;
  let work: string;

  beforeAll(() => {
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'acmg-image-test-'));
    stage = join(work, 'app');
    const r = spawnSync(process.execPath, [join(ROOT, 'deploy', 'controller', 'stage.mjs'), stage], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`stage.mjs failed: ${r.stderr}`);
    writeFileSync(join(work, 'kubeconfig'), FAKE_KUBECONFIG);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('a small Node 20 base, a numeric non-root user (the rendered runAsUser), acmg sync --watch as entrypoint', () => {
    expect(one('FROM')).toEqual([['FROM', expect.stringMatching(/^gcr\.io\/distroless\/nodejs20-debian12:nonroot$/)]]);
    const user = one('USER').at(-1)![1];
    expect(user).toMatch(/^\d+:\d+$/);
    const [uid, gid] = user.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    const spec = renderedController();
    const container = spec.containers[0];
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid, readOnlyRootFilesystem: true });
    const entrypoint = JSON.parse(one('ENTRYPOINT')[0]![1]) as string[];
    expect(entrypoint).toEqual(['/nodejs/bin/node', '/app/bin/acmg.js']);
    expect(JSON.parse(one('CMD')[0]![1])).toEqual(['sync', '--watch']);
    // The Deployment's args replace CMD and run the same command.
    expect(container.args.slice(0, 2)).toEqual(['sync', '--watch']);
    expect(container.command).toBeUndefined();
  });

  test('it copies exactly the staged context: package.json, the shim, the bundle, the profiles and the runtime packages', () => {
    const cs = copies();
    for (const c of cs) {
      for (const src of c.sources) expect(existsSync(join(stage, src))).toBe(true);
      expect(c.dest).toBe(`/app/${c.sources[0]!.replace(/\/$/, '')}${c.sources[0]!.endsWith('/') ? '/' : ''}`);
    }
    const copied = new Set(cs.flatMap((c) => c.sources.map((s) => s.split('/')[0])));
    expect(readdirSync(stage).sort()).toEqual([...copied].sort());
    expect(readdirSync(join(stage, 'profiles')).sort()).toEqual(readdirSync(join(ROOT, 'profiles')).sort());
    // No sources, source maps or type declarations.
    const all = spawnSync('find', [stage, '-type', 'f'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    expect(all.filter((f) => /\.(ts|map)$/.test(f))).toEqual([]);
    expect(all.filter((f) => f.startsWith(join(stage, 'dist'))).sort()).toEqual([join(stage, 'dist', 'cli.cjs'), join(stage, 'dist', 'cli.cjs.cache')]);
    expect(JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8'))).toMatchObject({ name: 'acmg', version: pkgVersion, type: 'module' });
  });

  test('what the bundle imports is in it: node builtins and the externals, which load from the staged node_modules', () => {
    const externals = [...readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8').matchAll(/external:\s*\[([^\]]*)\]/g)].flatMap((m) =>
      [...m[1]!.matchAll(/['"]([^'"]+)['"]/g)].map((x) => x[1]!),
    );
    expect(externals).toEqual(['@kubernetes/client-node']);
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const dist = join(stage, 'dist');
    for (const f of readdirSync(dist).filter((f) => f.endsWith('.cjs'))) {
      const text = readFileSync(join(dist, f), 'utf8');
      const specs = [
        ...text.matchAll(/^[ \t]*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm),
        ...text.matchAll(/^[ \t]*import\s*["']([^"']+)["']/gm),
        ...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
        // The client's import(), made through the shim's (scripts/build.mjs).
        ...text.matchAll(/\bimport\(s\)\)\(\s*["']([^"']+)["']\s*\)/g),
      ].map((m) => m[1]!);
      expect(specs.length).toBeGreaterThan(0);
      for (const spec of specs) {
        if (spec.startsWith('./')) expect(existsSync(join(dist, spec))).toBe(true);
        else expect(builtins.has(spec) || externals.includes(spec) ? 'ok' : `dist/${f} imports ${spec}`).toBe('ok');
      }
    }
    for (const e of externals) {
      const r = spawnSync(
        process.execPath,
        ['--input-type=module', '-e', `await import(${JSON.stringify(e)}); console.log(import.meta.resolve(${JSON.stringify(e)}))`],
        {
          cwd: stage,
          encoding: 'utf8',
        },
      );
      expect(r.stderr).toBe('');
      expect(r.stdout.trim().startsWith(`file://${join(stage, 'node_modules')}`)).toBe(true);
    }
  });

  test('run as the image runs it, the staged app is acmg: --version, the profiles, and the controller serving its health port', async () => {
    const acmg = (args: string[]) =>
      spawnSync(process.execPath, [join(stage, 'bin', 'acmg.js'), ...args], { cwd: '/', encoding: 'utf8', env: { PATH: '', NO_COLOR: '1' } });
    expect(acmg(['--version']).stdout).toBe(`${pkgVersion}\n`);
    expect(acmg(['profile', 'list'])).toMatchObject({ status: 0, stdout: expect.stringMatching(/^PROFILE\s+DESCRIPTION\nacmg \(default\)/) });
    // A cluster command loads @kubernetes/client-node from the staged node_modules (exit 3: nothing listens there).
    expect(acmg(['status', '--kubeconfig', join(work, 'kubeconfig'), '--request-timeout', '2s'])).toMatchObject({
      status: 3,
      stderr: expect.stringMatching(/cannot reach the API server at https:\/\/127\.0\.0\.1:1/),
    });
    const child = spawn(process.execPath, [join(stage, 'bin', 'acmg.js'), 'sync', '--watch', '--health-port', '0', '--kubeconfig', join(work, 'kubeconfig')], {
      cwd: '/',
      env: { PATH: '', NO_COLOR: '1', POD_NAMESPACE: 'istio-system' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 15_000;
    while (!/serving \/healthz, \/readyz and \/metrics on :\d+/.test(log) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(log).toMatch(/serving \/healthz, \/readyz and \/metrics on :\d+/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('scripts/build-image.sh', () => {
  let work: string;
  beforeAll(() => {
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'acmg-build-image-test-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(BASH, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });

  test('tags what the rendered controller pulls: the profiles default, and with --hub / --name / --tag what those values render', () => {
    const ref = (sets: string[] = []) => renderedController(sets).containers[0].image;
    expect(ref()).toBe(`ghcr.io/acmg/acmg:${pkgVersion}`);
    expect(run(['--print-ref'])).toMatchObject({ status: 0, stdout: `${ref()}\n` });
    expect(run(['--print-ref', '--hub', 'registry.example.com/platform']).stdout).toBe(`${ref(['controller.image.hub=registry.example.com/platform'])}\n`);
    expect(run(['--print-ref', '--hub', 'r.example/p', '--name', 'ctl', '--tag', '1.28']).stdout).toBe('r.example/p/ctl:1.28\n');
    expect(ref(['controller.image.hub=r.example/p', 'controller.image.name=ctl', 'controller.image.tag="1.28"'])).toBe('r.example/p/ctl:1.28');
  });

  test('without a builder it says so, how to build elsewhere, and exits 2', () => {
    const empty = mkdtempSync(join(work, 'path-'));
    const r = spawnSync(BASH, [SCRIPT], { cwd: ROOT, encoding: 'utf8', env: { PATH: empty } });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^build-image: no container image builder that can build here: looked for docker podman buildah nerdctl on PATH\./);
    expect(r.stderr).toMatch(/node deploy\/controller\/stage\.mjs/);
    // A docker without its daemon is no builder either.
    const withDocker = mkdtempSync(join(work, 'path-'));
    writeFileSync(join(withDocker, 'docker'), '#!/bin/sh\n[ "$1" = info ] && exit 1\nexit 0\n');
    chmodSync(join(withDocker, 'docker'), 0o755);
    const d = spawnSync(BASH, [SCRIPT], { cwd: ROOT, encoding: 'utf8', env: { PATH: withDocker } });
    expect(d.status).toBe(2);
    expect(d.stderr).toMatch(/docker is installed but cannot build: `docker info` fails/);
    expect(run(['--bogus']).status).toBe(2);
    expect(run([], { ACMG_IMAGE_BUILDER: 'kaniko' })).toMatchObject({ status: 2, stderr: expect.stringMatching(/use one of docker podman buildah nerdctl/) });
  });

  test('with a builder it builds the staged context with the Containerfile, tags it, and pushes with --push', () => {
    const bin = mkdtempSync(join(work, 'bin-'));
    const record = join(work, 'podman.log');
    // A stand-in podman: records each call and, for a build, the context it was given.
    writeFileSync(
      join(bin, 'podman'),
      `#!/bin/sh\necho "podman $*" >> "${record}"\nif [ "$1" = build ]; then for a; do ctx="$a"; done; ls -A "$ctx" >> "${record}"; fi\nexit 0\n`,
    );
    chmodSync(join(bin, 'podman'), 0o755);
    const r = run(['--skip-build', '--hub', 'registry.example.com/platform', '--push'], { PATH: `${bin}:${process.env.PATH}`, ACMG_IMAGE_BUILDER: 'podman' });
    expect(r.status).toBe(0);
    const ref = `registry.example.com/platform/acmg:${pkgVersion}`;
    expect(r.stdout.trim().split('\n').at(-1)).toBe(ref);
    const lines = readFileSync(record, 'utf8').trim().split('\n');
    const build = lines[0]!.split(' ');
    const ctx = build.at(-1)!;
    expect(build).toEqual(['podman', 'build', '-f', `${ctx}/Containerfile`, '--build-arg', `VERSION=${pkgVersion}`, '-t', ref, ctx]);
    expect(lines.slice(1, -1).sort()).toEqual(['Containerfile', 'bin', 'dist', 'node_modules', 'package.json', 'profiles']);
    expect(lines.at(-1)).toBe(`podman push ${ref}`);
    // The context is removed afterwards.
    expect(existsSync(ctx)).toBe(false);
  });
});
