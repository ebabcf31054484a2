// Issue #13 item 5: every example in `acmg ... --help` and in the README's shell blocks is pasted
// into bash, as a user would, and run against the local cluster in the order a user would follow.
// The scenario below must list exactly the examples found: a new example without a line here fails.
// One substitution, stated here: the README's kube-dns ClusterIP (10.96.0.10:53) is the local
// cluster's CoreDNS address. Fixture files the examples name (values.yaml, my-values.yaml,
// ./kubeconfig with a context "staging") are created in a scratch directory first.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { DNS_NAMESERVER, ROOT, acmg, applyFiles, applyObjects, doorIP, eventually, expectExit, kubeconfig, kubectl, kubectlJson } from './cluster.js';
import { holdGatewayProxies } from './xds.js';

/** Examples from every command's --help ("Examples:" section). */
function helpExamples(): string[] {
  const out: string[] = [];
  const walk = (cmd: Command) => {
    let help = '';
    cmd.configureOutput({ writeOut: (s) => (help += s), writeErr: () => undefined });
    cmd.outputHelp();
    const section = help.split('\nExamples:\n')[1];
    if (section)
      out.push(
        ...section
          .split('\n')
          .filter((l) => l.startsWith('  '))
          .map((l) => l.trim()),
      );
    cmd.commands.forEach(walk);
  };
  walk(buildProgram());
  return out;
}

/** Lines of the README's ```sh blocks that run acmg. */
function readmeExamples(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split('\n'))
    .filter((l) => /^(acmg |source <\(acmg )/.test(l))
    .map((l) => l.trim());
}

interface Step {
  example: string;
  code: number;
  /** Checked after the example ran (what it should have done). */
  then?: (out: { stdout: string; stderr: string }) => void;
}

const gatewayIP = () => doorIP('default');
let scratch = '';
const cwdOf = () => scratch;

// In the order a user would run them; each example exactly as written.
const SCENARIO: Step[] = [
  { example: 'acmg --version', code: 0, then: (o) => expect(o.stdout).toMatch(/^\d+\.\d+\.\d+/) },
  { example: 'source <(acmg completion bash)', code: 0 },
  { example: 'source <(acmg completion bash)   # or: acmg completion zsh > "${fpath[1]}/_acmg"', code: 0 },
  { example: 'acmg completion zsh > "${fpath[1]}/_acmg"', code: 0 },
  { example: 'acmg profile list', code: 0 },
  { example: 'acmg profile list                                  # name + description', code: 0 },
  { example: 'acmg profile list -o json', code: 0 },
  { example: 'acmg profile dump', code: 0 },
  { example: 'acmg profile dump ha --config-path gateway.placement', code: 0, then: (o) => expect(o.stdout).toContain('antiAffinity: required') },
  { example: 'acmg profile dump demo -o json', code: 0 },
  { example: 'acmg profile diff minimal ha', code: 1 },
  { example: 'acmg profile diff minimal ha                       # exit 1 if they differ, like kubectl diff', code: 1 },
  { example: 'acmg manifest generate', code: 0 },
  { example: 'acmg manifest generate --profile ha -o json', code: 0 },
  {
    example: 'acmg manifest generate -f values.yaml --set controller.enabled=true --set dns.mode=corefile > acmg.yaml',
    code: 0,
    then: () => expect(readFileSync(join(cwdOf(), 'acmg.yaml'), 'utf8')).toMatch(/kind: ConfigMap/),
  },
  { example: 'acmg manifest generate -f my-values.yaml --set gateway.replicas=3', code: 0, then: (o) => expect(o.stdout).toMatch(/replicas: 3/) },
  {
    example: `acmg manifest generate --set 'gateway.placement.nodeSelector.node-role\\.kubernetes\\.io/gateway=""'`,
    code: 0,
    then: (o) => expect(o.stdout).toContain('node-role.kubernetes.io/gateway: ""'),
  },
  {
    example: "acmg manifest generate -f values.yaml --set gateway.replicas=3 --set 'gateway.ports[0].port=8080'",
    code: 0,
    then: (o) => expect(o.stdout).toMatch(/port: 8080/),
  },
  { example: 'acmg precheck', code: 0 },
  { example: 'acmg precheck                 # checklist; exit 1 if a check fails', code: 0 },
  { example: 'acmg precheck --profile ha -o json', code: 0 },
  { example: 'acmg precheck --kubeconfig ./kubeconfig --context staging', code: 0 },
  {
    example: 'acmg install --set routing.api=gateway-api -y     # the gateway and its routes as Gateway API objects',
    code: 0,
    then: () => {
      expect(kubectlJson(['-n', 'istio-system', 'get', 'gateways.gateway.networking.k8s.io', 'acmg-gateway']).spec.gatewayClassName).toBe('istio');
      expect(kubectl(['-n', 'istio-system', 'get', 'gateways.networking.istio.io', '-o', 'name'])).toBe('');
    },
  },
  {
    // Nothing migrated yet: install switches back, and the Gateway API objects are pruned.
    example: 'acmg install -y',
    code: 0,
    then: () => {
      expect(kubectl(['-n', 'istio-system', 'get', 'gateways.gateway.networking.k8s.io', '-o', 'name'])).toBe('');
      expect(kubectl(['-n', 'istio-system', 'get', 'gateways.networking.istio.io', '-o', 'name']).trim()).toBe('gateway.networking.istio.io/acmg-gateway');
    },
  },
  { example: 'acmg install -f values.yaml --dry-run', code: 0 },
  {
    example: 'acmg install --profile ha -f values.yaml --dry-run    # server-side dry run: a diff, no change',
    code: 0,
    then: (o) => expect(o.stdout).toMatch(/^@@ -\d+,\d+ \+\d+,\d+ @@$/m),
  },
  {
    example: 'acmg install --profile ha --set gateway.autoscaling.minReplicas=4 -y',
    code: 0,
    then: () => expect(kubectlJson(['-n', 'istio-system', 'get', 'hpa', 'acmg-gateway']).spec.minReplicas).toBe(4),
  },
  {
    example: 'acmg install --profile ha --set gateway.priorityClassName=gateway-critical --set gateway.service.trafficDistribution=PreferClose -y',
    code: 0,
    then: () => {
      expect(kubectlJson(['-n', 'istio-system', 'get', 'deployment', 'acmg-gateway']).spec.template.spec.priorityClassName).toBe('gateway-critical');
      expect(kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-gateway']).spec.trafficDistribution).toBe('PreferClose');
    },
  },
  { example: 'acmg install --profile demo --readiness-timeout 2m -y', code: 0 },
  { example: 'acmg migrate helloworld -n default --keep-service -y', code: 0 },
  { example: 'acmg migrate helloworld -n default --keep-service -y          # approach 1', code: 0, then: (o) => expect(o.stderr).toMatch(/already migrated/) },
  { example: 'acmg migrate -n shop --all --replace-service --dry-run', code: 0, then: (o) => expect(o.stdout).toMatch(/^Plan \(--replace-service/) },
  { example: 'acmg migrate -n shop --all --replace-service --dry-run         # approach 2, plan only', code: 0 },
  { example: 'acmg migrate -l acmg.io/migrate=true --keep-service --restart -y', code: 0, then: (o) => expect(o.stderr).toMatch(/migrated 1 service/) },
  { example: 'acmg migrate helloworld -n default --keep-service --nameserver 10.96.0.10:53 -y', code: 0 },
  { example: 'acmg verify-dns', code: 0 },
  { example: 'acmg verify-dns                                    # every migrated service, via port-forward', code: 0 },
  { example: 'acmg verify-dns --wait 2m --junit dns-report.xml', code: 0 },
  { example: 'acmg verify-dns --wait 2m --junit dns-report.xml   # CI gate', code: 0 },
  {
    example: 'acmg verify-dns helloworld -n default --nameserver 10.96.0.10:53 -o json',
    code: 0,
    then: (o) => expect(JSON.parse(o.stdout).results[0].got).toEqual([gatewayIP()]),
  },
  // verify-routes reads istiod (on loopback here) for the gateway pods' proxies, held connected around it.
  { example: 'acmg verify-routes --istiod http://127.0.0.1:15014', code: 0 },
  { example: 'acmg verify-routes --istiod http://127.0.0.1:15014                        # every migrated service', code: 0 },
  {
    example: 'acmg verify-routes helloworld -n default --istiod http://127.0.0.1:15014 -o json',
    code: 0,
    then: (o) => expect(JSON.parse(o.stdout).results.every((r: { pass: boolean }) => r.pass)).toBe(true),
  },
  { example: 'acmg verify-routes --istiod http://127.0.0.1:15014 --junit routes-report.xml', code: 0 },
  { example: 'acmg verify-routes --istiod http://127.0.0.1:15014 --junit routes-report.xml   # CI gate', code: 0 },
  { example: 'acmg sync --dry-run', code: 0 },
  { example: 'acmg sync --dry-run          # what would change', code: 0 },
  { example: 'acmg sync', code: 0 },
  { example: 'acmg sync                    # reconcile once', code: 0 },
  { example: 'acmg sync --nameserver 10.96.0.10:53 --dns-timeout 1m  # ask this nameserver after a write', code: 0 },
  { example: 'acmg sync --watch --leader-elect --health-port 9440', code: 0 },
  { example: 'acmg sync --watch --leader-elect --health-port 9440   # as a controller', code: 0 },
  { example: 'acmg status', code: 0, then: (o) => expect(o.stdout).toMatch(/helloworld\s+keep-service/) },
  { example: 'acmg status -o json', code: 0 },
  { example: 'acmg uninstall -y            # refused (exit 2) while services are migrated', code: 2 },
  { example: 'acmg uninstall --purge --dry-run', code: 0 },
  { example: 'acmg rollback helloworld -n default -y', code: 0 },
  { example: 'acmg rollback -n shop --restart -y', code: 0 },
  {
    example: "acmg rollback -n shop --restart -y     # also restart the namespace's Deployments: sidecars come back",
    code: 0,
    then: (o) => expect(o.stderr).toMatch(/nothing to roll back/),
  },
  { example: 'acmg rollback --all -y', code: 0 },
  { example: 'acmg rollback --all -y --nameserver 127.0.0.1:10053', code: 0 },
  {
    example: 'acmg install --set controller.enabled=true --set controller.image.hub=registry.example.com/platform -y',
    code: 0,
    then: () =>
      expect(kubectlJson(['-n', 'istio-system', 'get', 'deployment', 'acmg-controller']).spec.template.spec.containers[0].image).toMatch(
        /^registry\.example\.com\/platform\//,
      ),
  },
  { example: 'acmg uninstall -y', code: 0 },
  { example: 'acmg uninstall --purge -y', code: 0 },
  { example: 'acmg uninstall --purge -y    # everything back as before acmg', code: 0 },
];

/** Runs one line in bash with `acmg` being the built CLI; a controller example is stopped with SIGTERM once ready. */
function runInBash(line: string, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = `set -o pipefail
acmg() { node ${JSON.stringify(join(ROOT, 'bin', 'acmg.js'))} "$@"; }
# The zsh example names \${fpath[1]}: zsh counts from 1, bash from 0.
fpath=(unused ${JSON.stringify(cwd)})
${line.replaceAll('10.96.0.10:53', DNS_NAMESERVER)}`;
  return new Promise((resolve) => {
    // Its own process group, so a kill reaches the acmg that bash started, not bash alone.
    const child = spawn('bash', ['-c', script], {
      cwd,
      detached: true,
      env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (line.includes('--watch')) {
      void eventually('the controller ready on :9440', 30_000, async () => (await fetch('http://127.0.0.1:9440/readyz')).status === 200).then(
        () => spawn('pkill', ['-TERM', '-f', 'acmg.js sync --watch']),
        () => process.kill(-child.pid!, 'SIGKILL'),
      );
    }
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('every example in --help and the README works as written', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'acmg-examples-'));
  scratch = cwd;
  const extraGatewayNodes = ['kwok-gateway-1', 'kwok-gateway-2', 'kwok-gateway-3'];

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', '--nameserver', DNS_NAMESERVER]), 0);
    writeFileSync(join(cwd, 'values.yaml'), 'gateway:\n  podLabels:\n    team: platform\n');
    writeFileSync(join(cwd, 'my-values.yaml'), 'gateway:\n  podAnnotations:\n    example.com/owner: platform\n');
    copyFileSync(kubeconfig, join(cwd, 'kubeconfig'));
    const current = kubectl(['--kubeconfig', join(cwd, 'kubeconfig'), 'config', 'current-context']).trim();
    kubectl(['--kubeconfig', join(cwd, 'kubeconfig'), 'config', 'rename-context', current, 'staging']);
    // ha with minReplicas 4 and required anti-affinity needs 4 dedicated gateway nodes.
    const node = kubectlJson(['get', 'node', 'kwok-gateway-0']);
    for (const name of extraGatewayNodes) {
      applyObjects(
        {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name, annotations: node.metadata.annotations, labels: { ...node.metadata.labels, 'kubernetes.io/hostname': name } },
          spec: { taints: node.spec.taints },
          status: { allocatable: node.status.allocatable, capacity: node.status.capacity },
        },
        { clientSide: true },
      );
    }
    applyFiles('test/e2e/fixtures/shop.yaml');
    // The fixture's two services that cannot be migrated (headless, UDP) are for other tests.
    kubectl(['-n', 'shop', 'delete', 'service', 'db-headless', 'syslog', '--ignore-not-found']);
    applyFiles('samples/helloworld/helloworld.yaml');
    kubectl(['-n', 'shop', 'label', 'service', 'ratings', 'acmg.io/migrate=true', '--overwrite']);
    // The README's production example names this class.
    applyObjects({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'gateway-critical' }, value: 1000000 }, { clientSide: true });
  });

  afterAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', '--nameserver', DNS_NAMESERVER]), 0);
    kubectl(['-n', 'shop', 'label', 'service', 'ratings', 'acmg.io/migrate-']);
    applyFiles('test/e2e/fixtures/shop.yaml');
    kubectl(['delete', 'node', ...extraGatewayNodes, '--ignore-not-found']);
    kubectl(['delete', 'priorityclass', 'gateway-critical', '--ignore-not-found']);
  });

  test('the scenario lists exactly the examples found', () => {
    const found = [...new Set([...helpExamples(), ...readmeExamples()])].sort();
    expect([...new Set(SCENARIO.map((s) => s.example))].sort()).toEqual(found);
  });

  test('each example exits as documented, in order', async () => {
    for (const step of SCENARIO) {
      const proxies = step.example.includes('verify-routes') ? await holdGatewayProxies() : undefined;
      const r = await runInBash(step.example, cwd).finally(() => proxies?.stop());
      if (r.code !== step.code)
        throw new Error(
          `example \`${step.example}\`: expected exit ${step.code}, got ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`,
        );
      step.then?.(r);
    }
    expect(existsSync(join(cwd, 'dns-report.xml'))).toBe(true);
    expect(existsSync(join(cwd, 'routes-report.xml'))).toBe(true);
    expect(existsSync(join(cwd, '_acmg'))).toBe(true);
  });
});
