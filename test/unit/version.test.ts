// acmg version (issue #26, point 4): the client's version; with a cluster also the installed acmg,
// Kubernetes, istiod and CoreDNS, and a skew warning on stderr. The pure parts directly, the use
// case through the in-memory API, and the built CLI against a stub API server.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '../../src/kube/api.js';
import { corednsVersionOf, imageTag, istiodVersionOf, readServerVersions, versionOfTag, versionSkew } from '../../src/ops/version-info.js';
import { versionText } from '../../src/cli/version.js';
import { MemoryKube } from './memory-kube.js';
import { ensureBuilt, kubeconfigFor, runCli, silentServer } from './process.js';
import { deployment, stateConfigMap, stubApi } from './stub-api.js';

/** The client's version, as the bundle has it (package.json's). */
const CLIENT: string = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')).version;

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'acmg-version-'));
});

const ISTIOD = deployment('istio-system', 'istiod', 'discovery', 'docker.io/istio/pilot:1.24.2-distroless', { app: 'istiod' });
const COREDNS = deployment('kube-system', 'coredns', 'coredns', 'registry.k8s.io/coredns/coredns:v1.11.3', { 'k8s-app': 'kube-dns' });

describe('versions read from images and labels', () => {
  test('the tag of an image reference, also with a registry port or a digest', () => {
    expect(imageTag('docker.io/istio/pilot:1.24.2')).toBe('1.24.2');
    expect(imageTag('registry:5000/istio/pilot:1.24.2@sha256:abc')).toBe('1.24.2');
    expect(imageTag('registry:5000/istio/pilot')).toBeUndefined();
    expect(imageTag('istio/pilot@sha256:abc')).toBeUndefined();
    expect(imageTag(undefined)).toBeUndefined();
  });

  test("a tag names a version, without Istio's image variants; latest does not", () => {
    expect(versionOfTag('1.24.2-distroless')).toBe('1.24.2');
    expect(versionOfTag('1.24.2-debug')).toBe('1.24.2');
    expect(versionOfTag('v1.11.3')).toBe('v1.11.3');
    expect(versionOfTag('1.31-dev')).toBe('1.31-dev');
    expect(versionOfTag('latest')).toBeUndefined();
    expect(versionOfTag('master-abc')).toBeUndefined();
  });

  test("istiod: its discovery container's tag, else its version labels, else unknown", () => {
    expect(istiodVersionOf(ISTIOD)).toEqual({
      namespace: 'istio-system',
      name: 'istiod',
      revision: 'default',
      image: 'docker.io/istio/pilot:1.24.2-distroless',
      version: '1.24.2',
      source: 'image',
    });
    const byDigest = deployment('istio-system', 'istiod-canary', 'discovery', 'docker.io/istio/pilot@sha256:abc', {
      app: 'istiod',
      'istio.io/rev': 'canary',
      'helm.sh/chart': 'istiod-1.25.0',
    });
    expect(istiodVersionOf(byDigest)).toMatchObject({ revision: 'canary', version: '1.25.0', source: 'label helm.sh/chart' });
    const latest = deployment('istio-system', 'istiod', 'discovery', 'docker.io/istio/pilot:latest', { app: 'istiod', 'app.kubernetes.io/version': '1.26.0' });
    expect(istiodVersionOf(latest)).toMatchObject({ version: '1.26.0', source: 'label app.kubernetes.io/version' });
    const unknown = istiodVersionOf(deployment('istio-system', 'istiod', 'discovery', 'pilot:latest', { app: 'istiod' }));
    expect(unknown.version).toBeUndefined();
    expect(versionText({ clientVersion: { version: '1' }, serverVersion: serverWith({ istiod: [unknown] }) }, false)).toContain(
      'istiod Version: unknown (istio-system/istiod, revision default: image pilot:latest has no version tag, and no version label)',
    );
  });

  test("CoreDNS: the coredns container's tag", () => {
    expect(corednsVersionOf(COREDNS)).toEqual({
      namespace: 'kube-system',
      name: 'coredns',
      image: 'registry.k8s.io/coredns/coredns:v1.11.3',
      version: 'v1.11.3',
      source: 'image',
    });
  });

  test('skew: only an installed acmg of another version than the client', () => {
    expect(versionSkew('0.2.0', { installed: true, namespace: 'istio-system', version: '0.1.0' })).toBe(
      'the installed acmg is 0.1.0 (namespace istio-system), this client is 0.2.0',
    );
    expect(versionSkew('0.1.0', { installed: true, namespace: 'istio-system', version: '0.1.0' })).toBeUndefined();
    expect(versionSkew('0.1.0', { installed: false, namespace: 'istio-system' })).toBeUndefined();
  });
});

function serverWith(parts: { istiod?: any[]; coredns?: any[] }) {
  return {
    kubernetes: { gitVersion: 'v1.35.4', major: '1', minor: '35' },
    acmg: { installed: true, namespace: 'istio-system', version: '0.1.0', profile: 'acmg', revision: 'default' },
    istiod: { namespace: 'istio-system', deployments: parts.istiod ?? [] },
    coredns: { namespace: 'kube-system', deployments: parts.coredns ?? [] },
  };
}

describe('the server part, through the in-memory API', () => {
  test('installed acmg, istiod and CoreDNS are each read where they live', async () => {
    const kube = new MemoryKube();
    kube.seed(stateConfigMap({ version: '0.1.0', profile: 'ha' }) as any, ISTIOD as any, COREDNS as any);
    const v = await readServerVersions(kube);
    expect(v.kubernetes.gitVersion).toBe('v1.35.4');
    expect(v.acmg).toEqual({ installed: true, namespace: 'istio-system', version: '0.1.0', profile: 'ha', revision: 'default' });
    expect(v.istiod.deployments.map((d) => d.version)).toEqual(['1.24.2']);
    expect(v.coredns.deployments.map((d) => d.version)).toEqual(['v1.11.3']);
    expect(kube.writes()).toEqual([]);
  });

  test('a cluster without acmg, istiod or CoreDNS: each is reported absent, not an error', async () => {
    const v = await readServerVersions(new MemoryKube());
    expect(v.acmg).toEqual({ installed: false, namespace: 'istio-system' });
    expect(v.istiod).toEqual({ namespace: 'istio-system', deployments: [] });
    expect(v.coredns).toEqual({ namespace: 'kube-system', deployments: [] });
    expect(versionText({ clientVersion: { version: '0.1.0' }, serverVersion: v }, false)).toBe(
      [
        'Client Version: 0.1.0',
        'Installed Version: not installed (no acmg state found; looked in istio-system and by label)',
        'Kubernetes Version: v1.35.4',
        'istiod Version: not found (no Deployment labelled app=istiod in istio-system)',
        'CoreDNS Version: not found (no Deployment labelled k8s-app=kube-dns or named coredns in kube-system)',
        '',
      ].join('\n'),
    );
  });

  test("a part the API server refuses (403) is that part's error; the others are still read", async () => {
    const kube = new MemoryKube();
    kube.seed(COREDNS as any);
    kube.failWhen = (c) =>
      c.verb === 'list' && c.kind === 'Deployment' && c.namespace === 'istio-system'
        ? new ApiError(403, 'Forbidden', 'deployments.apps is forbidden', 'GET', '/apis/apps/v1/namespaces/istio-system/deployments')
        : undefined;
    const v = await readServerVersions(kube);
    expect(v.istiod.error).toMatch(/^permission denied \(403\)/);
    expect(v.coredns.deployments[0]!.version).toBe('v1.11.3');
  });

  test('an API server that cannot be reached fails the whole read', async () => {
    const kube = new MemoryKube();
    kube.serverVersion = () => Promise.reject(new Error('connect ECONNREFUSED'));
    await expect(readServerVersions(kube)).rejects.toThrow('ECONNREFUSED');
  });
});

describe('acmg version, the built CLI', () => {
  const cluster = (installed: string) =>
    stubApi(
      { '/api/v1/namespaces/istio-system/configmaps/acmg-state': stateConfigMap({ version: installed }) },
      {
        '/api/v1/namespaces/istio-system/configmaps': [],
        '/apis/apps/v1/namespaces/istio-system/deployments': [ISTIOD],
        '/apis/apps/v1/namespaces/kube-system/deployments': [COREDNS],
      },
    );

  test('with a cluster: every version on stdout; the installed acmg differing from the client is a warning on stderr', async () => {
    const api = await cluster('0.0.1');
    try {
      const kc = kubeconfigFor(api.url, 'v', dir);
      const r = await runCli(['version', '--kubeconfig', kc]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(
        [
          `Client Version: ${CLIENT}`,
          'Installed Version: 0.0.1 (namespace istio-system, profile acmg)',
          'Kubernetes Version: v1.35.4',
          'istiod Version: 1.24.2 (istio-system/istiod, revision default)',
          'CoreDNS Version: v1.11.3 (kube-system/coredns)',
          '',
        ].join('\n'),
      );
      expect(r.stderr).toContain(`warning: version skew: the installed acmg is 0.0.1 (namespace istio-system), this client is ${CLIENT}`);
      expect(api.requests.every((x) => x.startsWith('GET '))).toBe(true);

      const short = await runCli(['version', '--short', '--kubeconfig', kc]);
      expect(short.stdout).toBe(
        `Client Version: ${CLIENT}\nInstalled Version: 0.0.1\nKubernetes Version: v1.35.4\nistiod Version: 1.24.2\nCoreDNS Version: v1.11.3\n`,
      );
    } finally {
      await api.close();
    }
  });

  test('-o json and -o yaml: the same fields, keys sorted, and nothing but the document on stdout', async () => {
    const api = await cluster(CLIENT);
    try {
      const kc = kubeconfigFor(api.url, 'v', dir);
      const json = await runCli(['version', '-o', 'json', '--kubeconfig', kc]);
      expect(json.code).toBe(0);
      expect(json.stderr).toBe('');
      const v = JSON.parse(json.stdout);
      expect(v.clientVersion).toEqual({ version: CLIENT });
      expect(v.serverVersion.acmg).toMatchObject({ installed: true, version: CLIENT });
      expect(v.serverVersion.istiod.deployments[0]).toMatchObject({ name: 'istiod', version: '1.24.2' });
      expect(v.serverVersion.coredns.deployments[0]).toMatchObject({ name: 'coredns', version: 'v1.11.3' });
      expect(Object.keys(v.serverVersion)).toEqual(['acmg', 'coredns', 'istiod', 'kubernetes']);
      const yaml = await runCli(['version', '-o', 'yaml', '--kubeconfig', kc]);
      expect(yaml.stdout).toMatch(new RegExp(`^clientVersion:\n {2}version: ${CLIENT}\nserverVersion:\n`));
      expect(await runCli(['version', '--short', '-o', 'json', '--kubeconfig', kc])).toMatchObject({ code: 2, stdout: '' });
    } finally {
      await api.close();
    }
  });

  test('an unreachable cluster: the client version, then why the rest is missing (exit 3); --client needs no cluster (exit 0)', async () => {
    const kc = kubeconfigFor('http://127.0.0.1:1', 'down', dir);
    const r = await runCli(['version', '--kubeconfig', kc]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe(`Client Version: ${CLIENT}\n`);
    expect(r.stderr).toMatch(/error: could not read the server's versions: cannot reach the API server at http:\/\/127\.0\.0\.1:1/);
    const json = await runCli(['version', '-o', 'json', '--kubeconfig', kc]);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toEqual({ clientVersion: { version: CLIENT } });
    expect(await runCli(['version', '--client', '--kubeconfig', kc])).toMatchObject({ code: 0, stdout: `Client Version: ${CLIENT}\n`, stderr: '' });
    expect(await runCli(['version', '--client', '--short'], { env: { KUBECONFIG: '', HOME: '/nonexistent-home' } })).toMatchObject({ code: 0 });
  });

  test('a silent API server: the request timeout ends it (exit 3), the client version already printed', async () => {
    const silent = await silentServer();
    try {
      const r = await runCli(['version', '--request-timeout', '1s', '--kubeconfig', kubeconfigFor(`http://127.0.0.1:${silent.port}`, 'silent', dir)]);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe(`Client Version: ${CLIENT}\n`);
      expect(r.stderr).toMatch(/did not answer within 1s/);
    } finally {
      await silent.close();
    }
  });

  test('acmg --version still prints the bare version', async () => {
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `${CLIENT}\n` });
  });
});
