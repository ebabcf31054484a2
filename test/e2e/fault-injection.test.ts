// Issue #23: acmg killed (SIGKILL) at every step of migrate, both approaches, and at every phase of
// rollback, with the sync --watch controller running alongside. After each kill, the recovery the
// README names (rollback again) leaves the cluster exactly as before the migration: checked object
// by object (the Services with their ClusterIPs, selectors and ports, the routing objects, the
// namespace's labels, acmg's own objects and state) and the DNS ConfigMaps byte for byte.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DNS_NAMESERVER, ROOT, acmg, acmgKilledAt, acmgObjects, applyFiles, expectExit, kubeconfig, kubectl, kubectlJson } from './cluster.js';
import { Controller } from './controller-process.js';

const NS = ['--nameserver', DNS_NAMESERVER];

const migrations = (): Record<string, any> =>
  Object.assign(
    {},
    ...kubectlJson(['-n', 'istio-system', 'get', 'configmap', '-l', 'app.kubernetes.io/managed-by=acmg'])
      .items.filter((c: any) => c.metadata.name === 'acmg-state' || c.metadata.labels['app.kubernetes.io/component'] === 'state-shard')
      .map((c: any) => JSON.parse(c.data?.migrations ?? '{}')),
  );

/** What must be exactly as before: every field a client or an operator depends on. */
function snapshot() {
  const cm = (name: string) => kubectl(['-n', 'kube-system', 'get', 'configmap', name, '--ignore-not-found', '-o', 'jsonpath={.data}']);
  const services = kubectlJson(['-n', 'default', 'get', 'services'])
    .items.map((s: any) => ({
      name: s.metadata.name,
      labels: s.metadata.labels ?? {},
      clusterIP: s.spec.clusterIP,
      selector: s.spec.selector ?? {},
      ports: s.spec.ports,
      type: s.spec.type,
    }))
    .sort((a: any, b: any) => a.name.localeCompare(b.name));
  const names = (kind: string) => kubectl(['-n', 'default', 'get', kind, '-o', 'name']).split('\n').filter(Boolean).sort();
  return {
    corefile: cm('coredns'),
    custom: cm('coredns-custom'),
    services,
    routing: [...names('virtualservices.networking.istio.io'), ...names('destinationrules.networking.istio.io')],
    namespaceLabels: kubectlJson(['get', 'namespace', 'default']).metadata.labels,
    acmg: acmgObjects(),
    migrations: migrations(),
  };
}

/** Runs acmg and kills it with SIGKILL as soon as its stderr shows `title` (a task starting). */
const killed = (args: string[], at: { title: RegExp }): Promise<boolean> => acmgKilledAt([...args, ...NS], at.title);

describe('acmg killed at every step, with the controller running: rollback leaves the cluster exactly as before', () => {
  const controller = new Controller();
  let before: ReturnType<typeof snapshot>;

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    applyFiles('samples/helloworld/helloworld.yaml');
    kubectl(['label', 'namespace', 'default', 'istio-injection=enabled', '--overwrite']);
    expectExit(await acmg(['install', '-y']), 0);
    await controller.start();
    // One migration and rollback first: acmg's own bookkeeping that stays between migrations (the
    // namespace's empty state shard, the Corefile backup) is part of the state to come back to.
    expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--replace-service', '-y', ...NS]), 0);
    expectExit(await acmg(['rollback', 'helloworld', '-n', 'default', '-y', ...NS]), 0);
    before = snapshot();
  }, 240_000);

  afterAll(async () => {
    await controller.kill('SIGTERM');
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
  }, 240_000);

  // Each task's title is printed as it starts: a kill there lands inside that step.
  const migrateSteps: [string, string, RegExp][] = [
    ['keep-service', 'opening the gateway ports', /open gateway ports/],
    ['keep-service', 'creating the route', /create routes for 1 service/],
    ['keep-service', 'writing DNS', /switch DNS \(one CoreDNS write\)/],
    ['keep-service', 'waiting for DNS', /wait for DNS to answer/],
    ['keep-service', 'relabelling the namespace', /… label namespace default istio-injection=disabled/],
    ['replace-service', 'creating the replacement and the route', /create routes for 1 service/],
    ['replace-service', 'writing DNS', /switch DNS \(one CoreDNS write\)/],
    ['replace-service', 'relabelling the namespace', /… label namespace default istio-injection=disabled/],
    ['replace-service', 'deleting the original Service', /delete 1 original Service/],
  ];
  test.each(migrateSteps)(
    'migrate --%s killed while %s, then rolled back',
    async (approach, _what, title) => {
      const wasKilled = await killed(['migrate', 'helloworld', '-n', 'default', `--${approach}`, '-y'], { title });
      expect(wasKilled).toBe(true);
      expect(migrations()['default/helloworld']?.phase).toBe('in-progress');
      expectExit(await acmg(['rollback', 'helloworld', '-n', 'default', '-y', ...NS]), 0);
      expect(snapshot()).toEqual(before);
    },
    180_000,
  );

  const rollbackPhases: [string, RegExp][] = [
    ['restoring the original Service', /recreate 1 original Service/],
    ['restoring the injection label', /restore istio-injection on namespace default/],
    ['removing the DNS entry', /remove DNS entries/],
    ['waiting for DNS', /wait for DNS to answer the services' own ClusterIPs/],
    ['removing the routes', /remove routes/],
    ['closing the gateway ports', /close gateway ports/],
  ];
  test.each(rollbackPhases)(
    'rollback (of --replace-service) killed while %s, then run again',
    async (_what, title) => {
      expectExit(await acmg(['migrate', 'helloworld', '-n', 'default', '--replace-service', '-y', ...NS]), 0);
      const wasKilled = await killed(['rollback', 'helloworld', '-n', 'default', '-y'], { title });
      expect(wasKilled).toBe(true);
      expectExit(await acmg(['rollback', 'helloworld', '-n', 'default', '-y', ...NS]), 0);
      expect(snapshot()).toEqual(before);
    },
    180_000,
  );

  test("--replace-service: a Service its owner changes during the run is not deleted (the API server's preconditions); the run is undone", async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'acmg.js'), 'migrate', 'helloworld', '-n', 'default', '--replace-service', '-y', ...NS], {
      env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let changed = false;
    child.stderr!.on('data', (d) => {
      stderr += d;
      if (!changed && /… wait for DNS to answer/.test(stderr)) {
        changed = true;
        kubectl(['-n', 'default', 'label', 'service', 'helloworld', 'release=2']);
      }
    });
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    try {
      expect(changed).toBe(true);
      expect(code).toBe(3);
      expect(stderr).toMatch(/Service default\/helloworld was changed since migrate read it/);
      expect(kubectlJson(['-n', 'default', 'get', 'service', 'helloworld']).metadata.labels.release).toBe('2');
      expect(migrations()).toEqual({});
    } finally {
      kubectl(['-n', 'default', 'label', 'service', 'helloworld', 'release-']);
    }
    expect(snapshot()).toEqual(before);
  }, 180_000);

  test('the controller ran throughout and is still ready', async () => {
    expect((await fetch(`http://127.0.0.1:${controller.port}/readyz`)).status).toBe(200);
    expect(controller.log).not.toMatch(/error/i);
  });
});
