// NO_PROXY as Go's net/http reads it (#23 point 10), for the proxy from the environment
// (HTTPS_PROXY / HTTP_PROXY); the kubeconfig's proxy-url ignores it. The tunnel itself is tested in
// credentials-transport.test.ts.
import { bypassProxy } from '../../src/kube/proxy.js';

describe('NO_PROXY', () => {
  test.each([
    ['api.acmg.test', '6443', '', false],
    ['api.acmg.test', '6443', '*', true],
    ['api.acmg.test', '6443', 'acmg.test', true], // a domain and its subdomains
    ['acmg.test', '6443', 'acmg.test', true],
    ['acmg.test', '6443', '.acmg.test', false], // a leading dot: subdomains only
    ['api.acmg.test', '6443', '.acmg.test', true],
    ['api.acmg.test', '6443', '*.acmg.test', true],
    ['api.acmg.test', '6443', 'acmg.test:443', false], // another port
    ['api.acmg.test', '6443', ' other.test , ACMG.TEST:6443 ', true],
    ['notacmg.test', '6443', 'acmg.test', false],
    ['10.1.2.3', '6443', '10.0.0.0/8', true],
    ['10.1.2.3', '6443', '10.1.2.3', true],
    ['10.1.2.3', '6443', '10.1.2.3:443', false],
    ['10.1.2.3', '6443', '192.168.0.0/16', false],
    ['[fd00::1]', '6443', 'fd00::/8', true],
    ['[fd00::1]', '6443', '[fd00::1]:6443', true],
    ['127.0.0.1', '6443', '', true], // loopback and localhost: never proxied from the environment
    ['localhost', '6443', '', true],
    ['[::1]', '6443', '', true],
  ])('%s:%s with %j bypasses: %s', (host, port, noProxy, bypass) => {
    expect(bypassProxy(host, port, noProxy)).toBe(bypass);
  });
});
