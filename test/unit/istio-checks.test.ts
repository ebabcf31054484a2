import { injectorWebhooks, judgeSkew, versionOfImage } from '../../src/check/istio.js';

import type { KObject } from '../../src/model/object.js';

describe('versionOfImage', () => {
  test('reads the minor version from Istio image tags', () => {
    expect(versionOfImage('docker.io/istio/pilot:1.31-dev')).toEqual({ major: 1, minor: 31, raw: '1.31-dev' });
    expect(versionOfImage('gcr.io/istio-release/proxyv2:1.28.1-distroless')).toEqual({ major: 1, minor: 28, raw: '1.28.1-distroless' });
    expect(versionOfImage('localhost:5000/istio/pilot:v1.29.0')).toEqual({ major: 1, minor: 29, raw: 'v1.29.0' });
  });
  test('no version where the tag has none', () => {
    expect(versionOfImage('docker.io/istio/pilot:latest')).toBeUndefined();
    expect(versionOfImage('docker.io/istio/pilot@sha256:abc')).toBeUndefined();
    expect(versionOfImage('auto')).toBeUndefined();
    expect(versionOfImage(undefined)).toBeUndefined();
  });
});

describe('judgeSkew', () => {
  const v = (minor: number, major = 1) => ({ major, minor, raw: `${major}.${minor}` });
  test('same or one minor behind is supported', () => {
    expect(judgeSkew(v(31), v(31)).status).toBe('ok');
    expect(judgeSkew(v(31), v(30)).status).toBe('ok');
  });
  test('a proxy newer than istiod fails, naming both', () => {
    expect(judgeSkew(v(28), v(29))).toEqual({ status: 'fail', detail: 'istiod 1.28, gateway proxy 1.29: the proxy is newer than istiod' });
    expect(judgeSkew(v(28), v(1, 2)).status).toBe('fail');
  });
  test('more than one minor behind warns', () => {
    expect(judgeSkew(v(31), v(28)).status).toBe('warn');
  });
});

describe('injectorWebhooks', () => {
  const mwc = (name: string, rev: string | undefined, hooks: string[]): KObject => ({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name, labels: rev ? { 'istio.io/rev': rev } : {} },
    webhooks: hooks.map((h) => ({ name: h })),
  });
  const configs = [
    mwc('istio-sidecar-injector', 'default', ['rev.namespace.sidecar-injector.istio.io', 'namespace.sidecar-injector.istio.io']),
    mwc('istio-sidecar-injector-canary', 'canary', ['rev.object.sidecar-injector.istio.io']),
    mwc('other', undefined, ['mutate.example.com']),
  ];
  test('the default revision is "" or "default"', () => {
    expect(injectorWebhooks(configs, '')).toEqual(['namespace.sidecar-injector.istio.io', 'rev.namespace.sidecar-injector.istio.io']);
  });
  test('a named revision sees only its own', () => {
    expect(injectorWebhooks(configs, 'canary')).toEqual(['rev.object.sidecar-injector.istio.io']);
    expect(injectorWebhooks(configs, 'blue')).toEqual([]);
  });
});
