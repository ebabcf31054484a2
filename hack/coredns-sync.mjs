#!/usr/bin/env node
// Plays the kubelet's part for the harness's CoreDNS process: watches the coredns and coredns-custom
// ConfigMaps and writes their keys as files (the ConfigMap volume mounts at /etc/coredns and
// /etc/coredns/custom), after a sync delay, atomically. CoreDNS's own `reload` plugin picks them up.
//
// A pod has its own network namespace and service account; this process shares the host's. So the
// files CoreDNS loads are translated by a few fixed rules (documented in README, Development):
//   server blocks listen on 127.0.0.1:$DNS_PORT instead of :53; health/ready/prometheus on loopback
//   ports; /etc/coredns/ paths point at the synced files; `forward . /etc/resolv.conf` goes to a
//   loopback stub that answers NXDOMAIN (nothing leaves the machine); the kubernetes plugin gets a
//   kubeconfig; `reload` checks every $RELOAD instead of 30s (ACMG_CLUSTER_RELOAD='' keeps it as is).
// The ConfigMaps themselves are never touched: acmg's byte-for-byte guarantees are about them.
import https from 'node:https';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (k, d) => process.env[k] ?? d;
const cfg = {
  server: env('SYNC_SERVER'),
  ca: readFileSync(env('SYNC_CA')),
  cert: readFileSync(env('SYNC_CERT')),
  key: readFileSync(env('SYNC_KEY')),
  namespace: env('SYNC_NAMESPACE', 'kube-system'),
  main: env('SYNC_CONFIGMAP', 'coredns'),
  custom: env('SYNC_CUSTOM_CONFIGMAP', 'coredns-custom'),
  out: env('SYNC_OUT'),
  delayMs: Number(env('SYNC_DELAY_MS', '1000')),
  kubeconfig: env('SYNC_COREDNS_KUBECONFIG'),
  dnsPort: env('DNS_PORT'),
  upstreamPort: env('DNS_UPSTREAM_PORT'),
  healthPort: env('DNS_HEALTH_PORT'),
  readyPort: env('DNS_READY_PORT'),
  metricsPort: env('DNS_METRICS_PORT'),
  reload: env('ACMG_CLUSTER_RELOAD', '2s 1s'),
};
const log = (m) => process.stderr.write(`${new Date().toISOString()} coredns-sync: ${m}\n`);

/**
 * The fixed translation rules (see the header). Depth-aware so only server-block keys change port.
 * An .override file is the body of a server block (CoreDNS splices it in where it is imported), so
 * it is read from depth 1: its blocks (hosts { ... }) are directives, never server keys.
 */
export function translate(text, { main = false, body = false } = {}) {
  const lines = text.replaceAll('/etc/coredns/', `${cfg.out}/`).replaceAll('/etc/resolv.conf', `127.0.0.1:${cfg.upstreamPort}`).split('\n');
  const out = [];
  let depth = body ? 1 : 0;
  let inKubernetes = -1; // depth of an open kubernetes block
  for (const raw of lines) {
    let line = raw;
    const trimmed = line.trim();
    const code = trimmed.startsWith('#') ? '' : trimmed;
    const opens = (code.match(/{/g) ?? []).length;
    const closes = (code.match(/}/g) ?? []).length;
    if (depth === 0 && code.endsWith('{') && !code.startsWith('(') && !code.startsWith('import')) {
      // Server block keys: zone[:port] ... {
      const keys = code.slice(0, -1).trim().split(/[\s,]+/).filter(Boolean);
      const mapped = keys.map((k) => {
        const m = k.match(/^(.*?)(?::(\d+))?$/);
        return `${m[1]}:${m[2] === undefined || m[2] === '53' ? cfg.dnsPort : m[2]}`;
      });
      out.push(`${mapped.join(' ')} {`, '    bind 127.0.0.1');
      depth += opens - closes;
      continue;
    }
    if (depth === 1 && code !== '') {
      const [word, ...args] = code.split(/\s+/);
      const rest = args.join(' ');
      const indent = line.slice(0, line.length - line.trimStart().length);
      if (word === 'bind') continue; // the block already binds loopback
      if (word === 'health') line = `${indent}health 127.0.0.1:${cfg.healthPort}${rest.includes('{') ? ' {' : ''}`;
      if (word === 'ready') line = `${indent}ready 127.0.0.1:${cfg.readyPort}`;
      if (word === 'prometheus') line = `${indent}prometheus 127.0.0.1:${cfg.metricsPort}`;
      if (word === 'reload' && cfg.reload) line = `${indent}reload ${cfg.reload}`;
      if (word === 'kubernetes') {
        if (code.endsWith('{')) {
          out.push(line, `${indent}  kubeconfig ${cfg.kubeconfig} coredns`);
          inKubernetes = depth + 1;
          depth += opens - closes;
          continue;
        }
        out.push(`${line} {`, `${indent}  kubeconfig ${cfg.kubeconfig} coredns`, `${indent}}`);
        continue;
      }
    }
    if (inKubernetes >= 0 && depth === inKubernetes && /^(kubeconfig|endpoint)\b/.test(code)) continue;
    out.push(line);
    depth += opens - closes;
    if (inKubernetes >= 0 && depth < inKubernetes) inKubernetes = -1;
  }
  if (main) out.push('', '# acmg harness: the "upstream" resolver, a loopback stub that knows no names.', `.:${cfg.upstreamPort} {`, '    bind 127.0.0.1', '    template ANY ANY {', '        rcode NXDOMAIN', '    }', '}', '');
  return out.join('\n');
}

function writeAtomic(path, data) {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

/**
 * Mirrors one ConfigMap's keys into dir (keys removed from the ConfigMap are removed as files).
 * rulesFor(key) -> translate()'s options for that file, or undefined to copy it as it is.
 */
function mirror(dir, data, rulesFor) {
  mkdirSync(dir, { recursive: true });
  const want = new Set(Object.keys(data ?? {}));
  for (const f of readdirSync(dir, { withFileTypes: true })) {
    if (f.isFile() && !want.has(f.name)) rmSync(join(dir, f.name));
  }
  for (const [k, v] of Object.entries(data ?? {})) {
    const rules = rulesFor(k);
    writeAtomic(join(dir, k), rules ? translate(v, rules) : v);
  }
}

const state = { main: undefined, custom: undefined };
let timer;
function scheduleSync(immediate = false) {
  clearTimeout(timer);
  timer = setTimeout(() => {
    // Custom files first: when the main Corefile appears, what it imports is already there.
    mirror(join(cfg.out, 'custom'), state.custom, (k) => (k.endsWith('.server') ? {} : k.endsWith('.override') ? { body: true } : undefined));
    mirror(cfg.out, state.main, (k) => (k === 'Corefile' ? { main: true } : undefined));
    log(`synced ${cfg.main} (${Object.keys(state.main ?? {}).length} keys) and ${cfg.custom} (${Object.keys(state.custom ?? {}).length} keys)`);
  }, immediate ? 0 : cfg.delayMs);
}

function request(path, onData) {
  return new Promise((resolve, reject) => {
    const req = https.get(new URL(path, cfg.server), { ca: cfg.ca, cert: cfg.cert, key: cfg.key }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET ${path}: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        if (!onData) return;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) onData(JSON.parse(line));
        }
      });
      res.on('end', () => resolve(buf));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function apply(cm, deleted = false) {
  const name = cm.metadata?.name;
  if (name !== cfg.main && name !== cfg.custom) return false;
  state[name === cfg.main ? 'main' : 'custom'] = deleted ? undefined : cm.data ?? {};
  return true;
}

async function run() {
  const base = `/api/v1/namespaces/${cfg.namespace}/configmaps`;
  let first = true;
  for (;;) {
    try {
      const list = JSON.parse(await request(base));
      state.main = undefined;
      state.custom = undefined;
      for (const cm of list.items) apply(cm);
      scheduleSync(first);
      first = false;
      await request(`${base}?watch=1&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}&timeoutSeconds=300`, (ev) => {
        if (ev.type === 'ERROR') throw new Error(ev.object?.message ?? 'watch error');
        if (ev.type === 'BOOKMARK') return;
        if (apply(ev.object, ev.type === 'DELETED')) scheduleSync();
      });
    } catch (e) {
      log(`watch restarting: ${e.message}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

run();
