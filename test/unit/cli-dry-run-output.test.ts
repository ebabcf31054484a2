// kubectl's conventions (issue #26, point 4): --dry-run=client|server as kubectl spells them (plain
// --dry-run stays client), and -o json|yaml results on install, rollback and uninstall.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { AcmgError } from '../../src/errors.js';
import { addDryRunOption, bareDryRunAsClient, dryRunOf } from '../../src/cli/dry-run.js';
import { installOutput, serverDryRun } from '../../src/cli/install.js';
import type { InstallPlan } from '../../src/ops/install.js';
import { MemoryKube } from './memory-kube.js';
import { ensureBuilt, kubeconfigFor, runCli, silentServer } from './process.js';
import { stateConfigMap, stubApi } from './stub-api.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'acmg-dry-run-'));
});

/** A command with --dry-run and a variadic argument, parsed as acmg parses (errors thrown, not printed). */
function parse(args: string[]): { dryRun: string | undefined; names: string[] } {
  let got: { dryRun: string | undefined; names: string[] } = { dryRun: undefined, names: [] };
  const cmd = new Command('x').exitOverride().configureOutput({ writeErr: () => undefined });
  addDryRunOption(cmd.argument('[name...]'), 'change nothing').action((names: string[], opts: { dryRun?: string }) => {
    got = { dryRun: opts.dryRun, names };
  });
  cmd.parse(args, { from: 'user' });
  return got;
}

describe('--dry-run as kubectl spells it', () => {
  test('plain --dry-run is client, and the word after it stays an argument', () => {
    expect(parse(['--dry-run', 'web'])).toEqual({ dryRun: 'client', names: ['web'] });
    expect(parse(['web', '--dry-run'])).toEqual({ dryRun: 'client', names: ['web'] });
    expect(dryRunOf(parse(['web']).dryRun)).toBe('none');
  });

  test('--dry-run=client, =server and =none; the value only after "="', () => {
    expect(parse(['--dry-run=client']).dryRun).toBe('client');
    expect(parse(['--dry-run=server', 'web'])).toEqual({ dryRun: 'server', names: ['web'] });
    expect(dryRunOf(parse(['--dry-run=none']).dryRun)).toBe('none');
    expect(parse(['--dry-run', 'server'])).toEqual({ dryRun: 'client', names: ['server'] });
  });

  test('any other value is a usage error naming the spellings', () => {
    expect(() => parse(['--dry-run=true'])).toThrow(AcmgError);
    expect(() => parse(['--dry-run=true'])).toThrow(
      'invalid --dry-run "true": use --dry-run (the same as --dry-run=client), --dry-run=client or --dry-run=server',
    );
  });

  test('after "--" a --dry-run is an argument, not the flag', () => {
    expect(bareDryRunAsClient(['--dry-run', '--', '--dry-run'])).toEqual(['--dry-run=client', '--', '--dry-run']);
  });

  test('help shows the spelling that works', async () => {
    for (const command of ['install', 'rollback', 'uninstall']) expect((await runCli([command, '--help'])).stdout).toContain('--dry-run[=client|server]');
  });

  test('rollback, uninstall, migrate and sync refuse --dry-run=server with exit 2, before any connection', async () => {
    const silent = await silentServer();
    try {
      const kc = kubeconfigFor(`http://127.0.0.1:${silent.port}`, 'silent', dir);
      const rollback = await runCli(['rollback', '--all', '--dry-run=server', '--kubeconfig', kc]);
      expect(rollback).toMatchObject({ code: 2, stdout: '' });
      expect(rollback.stderr).toMatch(/error: acmg rollback --dry-run=server is not supported: /);
      expect(rollback.stderr).toMatch(/hint: acmg rollback --dry-run \(the same as --dry-run=client\) shows what it would do/);
      const uninstall = await runCli(['uninstall', '--purge', '--dry-run=server', '--kubeconfig', kc]);
      expect(uninstall).toMatchObject({ code: 2, stdout: '' });
      expect(uninstall.stderr).toMatch(/error: acmg uninstall --dry-run=server is not supported: /);
      // migrate and sync: --dry-run=client as kubectl spells it; server refused the same way.
      const migrate = await runCli(['migrate', 'web', '-n', 'shop', '--keep-service', '--dry-run=server', '--kubeconfig', kc]);
      expect(migrate).toMatchObject({ code: 2, stdout: '' });
      expect(migrate.stderr).toMatch(/error: acmg migrate --dry-run=server is not supported: /);
      const sync = await runCli(['sync', '--dry-run=server', '--kubeconfig', kc]);
      expect(sync).toMatchObject({ code: 2, stdout: '' });
      expect(sync.stderr).toMatch(/error: acmg sync --dry-run=server is not supported: /);
      expect((await runCli(['sync', '--watch', '--dry-run=client', '--kubeconfig', kc])).stderr).toMatch(/--dry-run reconciles once/);
      expect(silent.connections()).toBe(0);
    } finally {
      await silent.close();
    }
  });

  test('a bad --dry-run value is exit 2 before any connection', async () => {
    const silent = await silentServer();
    try {
      const r = await runCli(['install', '--dry-run=yes', '--kubeconfig', kubeconfigFor(`http://127.0.0.1:${silent.port}`, 'silent', dir)]);
      expect(r).toMatchObject({ code: 2, stdout: '' });
      expect(silent.connections()).toBe(0);
    } finally {
      await silent.close();
    }
  });
});

const gateway = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'acmg-gateway', namespace: 'istio-system' }, spec: { replicas: 2 } };
const account = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'acmg-gateway', namespace: 'istio-system' } };

function plan(createNamespace = false): InstallPlan {
  return {
    doc: { spec: { profile: 'acmg', namespace: 'istio-system' } } as InstallPlan['doc'],
    clusterDomain: 'cluster.local',
    objects: [
      { object: account, action: 'unchanged' },
      { object: gateway, action: 'create' },
    ],
    prune: [{ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', name: 'acmg-gateway', namespace: 'istio-system' }],
    createNamespace,
    checks: [],
  };
}

describe('install --dry-run=server', () => {
  test('sends each object to create and each prune with dryRun, and stores nothing', async () => {
    const kube = new MemoryKube();
    kube.seed({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'acmg-gateway', namespace: 'istio-system' } });
    const p = plan();
    await serverDryRun(kube, p);
    expect(kube.calls.filter((c) => c.dryRun).map((c) => `${c.verb} ${c.kind} ${c.namespace}/${c.name}`)).toEqual([
      'apply Deployment istio-system/acmg-gateway',
    ]);
    expect(kube.writes()).toEqual(['delete PodDisruptionBudget istio-system/acmg-gateway']);
    expect(kube.peek('apps/v1', 'Deployment', 'acmg-gateway', 'istio-system')).toBeUndefined();
    // The diff then shows the object as the server answered it.
    expect(p.objects[1]!.after).toMatchObject({ kind: 'Deployment', metadata: { name: 'acmg-gateway' } });
  });

  test('refused (exit 2) where the install namespace does not exist yet: nothing in it can be judged', async () => {
    const kube = new MemoryKube();
    const e = await serverDryRun(kube, plan(true)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AcmgError);
    expect((e as AcmgError).code).toBe(2);
    expect((e as AcmgError).message).toMatch(/namespace istio-system does not exist yet/);
    expect(kube.writes()).toEqual([]);
  });
});

describe('-o json|yaml results', () => {
  test('install: every rendered object with its action, what is pruned, and the gateway once installed', () => {
    expect(installOutput(plan(), 'client')).toEqual({
      dryRun: 'client',
      profile: 'acmg',
      namespace: 'istio-system',
      createNamespace: false,
      objects: [
        { action: 'unchanged', apiVersion: 'v1', kind: 'ServiceAccount', name: 'acmg-gateway', namespace: 'istio-system' },
        { action: 'create', apiVersion: 'apps/v1', kind: 'Deployment', name: 'acmg-gateway', namespace: 'istio-system' },
      ],
      prune: [{ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', name: 'acmg-gateway', namespace: 'istio-system' }],
    });
    const done = installOutput(plan(), 'none', {
      gatewayClusterIP: '10.96.0.20',
      ports: [{ name: 'http', port: 80, protocol: 'HTTP' }],
      applied: 1,
      pruned: 1,
    });
    expect(done.gateway).toEqual({ clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80, protocol: 'HTTP' }] });
  });

  const migration = (namespace: string, service: string) => ({
    namespace,
    service,
    approach: 'keep-service',
    phase: 'complete',
    fqdn: `${service}.${namespace}.svc.cluster.local`,
    ports: [{ name: 'http', port: 80, protocol: 'HTTP' }],
    journal: ['gateway-ports', 'route', 'dns', 'injection-label'],
  });

  /** A cluster with acmg installed and two migrations; it answers reads only (a write would fail the command). */
  const cluster = () =>
    stubApi(
      {
        '/api/v1/namespaces/istio-system/configmaps/acmg-state': stateConfigMap({
          version: '0.1.0',
          migrations: { 'shop/web': migration('shop', 'web'), 'shop/db': migration('shop', 'db') },
          objects: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'acmg-gateway', namespace: 'istio-system' }],
        }),
      },
      { '/api/v1/namespaces/istio-system/configmaps': [] },
    );

  test('rollback --dry-run -o json: the migrations it would roll back, and nothing else on stdout', async () => {
    const api = await cluster();
    try {
      const kc = kubeconfigFor(api.url, 'stub', dir);
      const r = await runCli(['rollback', '-n', 'shop', '--dry-run', '-o', 'json', '--kubeconfig', kc]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ dryRun: 'client', rolledBack: ['shop/db', 'shop/web'] });
      expect(r.stderr).toMatch(/dry run: nothing was changed/);
      const none = await runCli(['rollback', '-n', 'other', '--dry-run', '-o', 'yaml', '--kubeconfig', kc]);
      expect(none).toMatchObject({ code: 0, stdout: 'dryRun: client\nrolledBack: []\n' });
      expect(api.requests.every((x) => x.startsWith('GET '))).toBe(true);
    } finally {
      await api.close();
    }
  });

  test('uninstall --purge --dry-run -o json: the migrations it would roll back and the objects it would delete', async () => {
    const api = await cluster();
    try {
      const r = await runCli(['uninstall', '--purge', '--dry-run', '-o', 'json', '--kubeconfig', kubeconfigFor(api.url, 'stub', dir)]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        dryRun: 'client',
        namespace: 'istio-system',
        purge: true,
        rolledBack: ['shop/db', 'shop/web'],
        objects: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'acmg-gateway', namespace: 'istio-system' }],
      });
      expect(api.requests.every((x) => x.startsWith('GET '))).toBe(true);
    } finally {
      await api.close();
    }
  });

  test('an unknown -o format is exit 2 on each of them', async () => {
    for (const args of [['install'], ['rollback', '--all'], ['uninstall']]) {
      const r = await runCli([...args, '-o', 'xml', '--dry-run'], { env: { KUBECONFIG: '', HOME: '/nonexistent-home' } });
      expect(r).toMatchObject({ code: 2, stdout: '' });
      expect(r.stderr).toMatch(/invalid --output "xml": use one of text, json, yaml/);
    }
  });
});
