// HTTP proxies as kubectl (Go's net/http) uses them: the cluster's proxy-url if the kubeconfig has
// one (for every request, NO_PROXY does not apply to it), else HTTPS_PROXY / https_proxy for
// https:// servers and HTTP_PROXY / http_proxy for http:// ones, unless NO_PROXY / no_proxy names
// the server or the server is localhost or a loopback address. Node 20 has no proxy agent of its
// own and acmg adds no dependency for one: this is a small HTTP CONNECT tunnel (the proxy itself
// may be http:// or https://). Plain http:// API servers are tunnelled with CONNECT too (Go sends
// them to the proxy in absolute form instead); SOCKS proxies are refused with a clear error.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { usageError } from '../errors.js';

/** A proxy URL as it may be shown in messages: without its password. */
export function redactProxy(u: URL): string {
  const c = new URL(u.href);
  if (c.password) c.password = '***';
  return c.href.replace(/\/$/, '');
}

/** Parses a proxy URL (a bare host:port is http://, as Go reads the environment); refuses what acmg cannot tunnel through. */
export function parseProxyUrl(raw: string, where: string): URL {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw usageError(`${where} "${raw}" is not a URL`, 'use http://HOST:PORT (an HTTP CONNECT proxy)');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw usageError(
      `${where} "${redactProxy(u)}": acmg supports HTTP CONNECT proxies only (http:// or https://), not ${u.protocol.replace(/:$/, '')}`,
      'use an HTTP proxy, or run acmg where it reaches the API server directly',
    );
  if (!u.hostname) throw usageError(`${where} "${raw}" names no host`, 'use http://HOST:PORT');
  return u;
}

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

const bareHost = (h: string) => (h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h);
const defaultPort = (protocol: string) => (protocol === 'https:' || protocol === 'wss:' ? '443' : '80');

/** Whether NO_PROXY exempts host:port from the environment's proxy (Go's httpproxy rules). */
export function bypassProxy(hostname: string, port: string, noProxy: string): boolean {
  const host = bareHost(hostname).toLowerCase().replace(/\.$/, '');
  if (host === 'localhost') return true;
  const ipType = net.isIP(host);
  const family = ipType === 6 ? 'ipv6' : 'ipv4';
  if (ipType && LOOPBACK.check(host, family)) return true;
  for (const raw of noProxy.split(',')) {
    const p = raw.trim().toLowerCase();
    if (!p) continue;
    if (p === '*') return true;
    const cidr = p.match(/^(.+)\/(\d{1,3})$/);
    if (cidr) {
      const [, addr, bits] = cidr;
      const t = net.isIP(addr!);
      if (t && ipType === t) {
        const list = new net.BlockList();
        try {
          list.addSubnet(addr!, Number(bits), family);
          if (list.check(host, family)) return true;
        } catch {
          // a malformed prefix: ignored, as Go ignores entries it cannot parse
        }
      }
      continue;
    }
    // host, host:port, [v6]:port, .domain, *.domain
    let phost = p;
    let pport = '';
    const v6 = p.match(/^\[([^\]]+)\](?::(\d+))?$/);
    const hp = p.match(/^([^:]+):(\d+)$/);
    if (v6) [phost, pport] = [v6[1]!, v6[2] ?? ''];
    else if (hp) [phost, pport] = [hp[1]!, hp[2]!];
    const pType = net.isIP(phost);
    if (pType) {
      if (pType === ipType && (!pport || pport === port)) {
        const one = new net.BlockList();
        one.addAddress(phost, family);
        if (one.check(host, family)) return true;
      }
      continue;
    }
    if (phost.startsWith('*.')) phost = phost.slice(1);
    const matchHost = !phost.startsWith('.');
    const suffix = matchHost ? `.${phost}` : phost;
    if ((host.endsWith(suffix) || (matchHost && host === phost)) && (!pport || pport === port)) return true;
  }
  return false;
}

/** The proxy for this API server: the kubeconfig's proxy-url, else the environment's (see above). */
export function proxyFor(server: URL, proxyUrl: string | undefined, env: NodeJS.ProcessEnv, clusterName: string): URL | undefined {
  if (proxyUrl) return parseProxyUrl(proxyUrl, `proxy-url of cluster "${clusterName}"`);
  const https = server.protocol === 'https:' || server.protocol === 'wss:';
  const name = https ? (env.HTTPS_PROXY ? 'HTTPS_PROXY' : 'https_proxy') : env.HTTP_PROXY ? 'HTTP_PROXY' : 'http_proxy';
  const value = env[name];
  if (!value) return undefined;
  if (bypassProxy(server.hostname, server.port || defaultPort(server.protocol), env.NO_PROXY ?? env.no_proxy ?? '')) return undefined;
  return parseProxyUrl(value, name);
}

/** Opens a CONNECT tunnel through the proxy to host:port; resolves with the raw stream to the target. */
export function openTunnel(proxy: URL, host: string, port: number | string, timeoutMs = 30_000): Promise<Duplex> {
  const target = `${net.isIP(bareHost(host)) === 6 ? `[${bareHost(host)}]` : host}:${port}`;
  const headers: Record<string, string> = { Host: target };
  if (proxy.username || proxy.password)
    headers['Proxy-Authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const mod = proxy.protocol === 'https:' ? https : http;
    const req = mod.request({
      host: bareHost(proxy.hostname),
      port: proxy.port || defaultPort(proxy.protocol),
      method: 'CONNECT',
      path: target,
      headers,
      agent: false,
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`proxy ${redactProxy(proxy)} did not open a tunnel to ${target} within ${timeoutMs / 1000}s`)),
      timeoutMs,
    );
    req.once('connect', (res, socket, head) => {
      clearTimeout(timer);
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`proxy ${redactProxy(proxy)} refused CONNECT ${target}: HTTP ${res.statusCode}${res.statusMessage ? ` ${res.statusMessage}` : ''}`));
        return;
      }
      if (head.length) socket.unshift(head);
      resolve(socket);
    });
    req.once('error', (e) => {
      clearTimeout(timer);
      const code = (e as NodeJS.ErrnoException).code;
      reject(
        new Error(
          e.message.startsWith('proxy ') ? e.message : `proxy ${redactProxy(proxy)}: ${code && !e.message.includes(code) ? `${code} ` : ''}${e.message}`,
        ),
      );
    });
    req.end();
  });
}

type Callback = (err: Error | null, stream: Duplex) => void;

/** An https.Agent whose connections go through a CONNECT tunnel (TLS to the API server inside it). */
class HttpsTunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    opts: https.AgentOptions,
  ) {
    super(opts);
  }

  override createConnection(options: any, cb?: Callback): Duplex | null | undefined {
    openTunnel(this.proxy, options.host, options.port).then(
      (raw) => cb?.(null, tls.connect({ ...options, socket: raw })),
      (e: Error) => cb?.(e, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** An http.Agent whose connections are CONNECT tunnels (plain HTTP inside). */
class HttpTunnelAgent extends http.Agent {
  constructor(
    private readonly proxy: URL,
    opts: http.AgentOptions,
  ) {
    super(opts);
  }

  override createConnection(options: any, cb?: Callback): Duplex | null | undefined {
    openTunnel(this.proxy, options.host, options.port).then(
      (raw) => cb?.(null, raw),
      (e: Error) => cb?.(e, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** The agent for this server: direct or through the proxy, with these TLS settings (ignored for http://). */
export function makeAgent(server: URL, proxy: URL | undefined, opts: https.AgentOptions): http.Agent {
  const plain = server.protocol === 'http:' || server.protocol === 'ws:';
  if (plain) {
    const o: http.AgentOptions = { keepAlive: opts.keepAlive, maxSockets: opts.maxSockets };
    return proxy ? new HttpTunnelAgent(proxy, o) : new http.Agent(o);
  }
  return proxy ? new HttpsTunnelAgent(proxy, opts) : new https.Agent(opts);
}
