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
import { spawn } from 'node:child_process';
import https from 'node:https';
import { mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
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
  // How the harness runs CoreDNS, to play a rolling restart: a new process, then the old one stops.
  corednsPidFile: env('SYNC_COREDNS_PIDFILE'),
  corednsBin: env('SYNC_COREDNS_BIN'),
  corednsLog: env('SYNC_COREDNS_LOG'),
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
  let pendingKeys = []; // keys of a list continued on the next line (a key ending in ",")
  const splitKeys = (code) => code.split(/[\s,]+/).filter(Boolean);
  for (const raw of lines) {
    let line = raw;
    const trimmed = line.trim();
    const code = trimmed.startsWith('#') ? '' : trimmed;
    const opens = (code.match(/{/g) ?? []).length;
    const closes = (code.match(/}/g) ?? []).length;
    if (depth === 0 && code.endsWith(',') && !code.startsWith('(') && !code.startsWith('import')) {
      pendingKeys.push(...splitKeys(code));
      continue;
    }
    if (depth === 0 && code.endsWith('{') && !code.startsWith('(') && !code.startsWith('import')) {
      // Server block keys: zone[:port] ... { (possibly after lines of keys ending in ",")
      const keys = [...pendingKeys, ...splitKeys(code.slice(0, -1))];
      pendingKeys = [];
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
    // A terminating pod leaves the Service's endpoints at once, so its lameduck period only drains
    // queries already routed to it. A process cannot leave its SO_REUSEPORT group: an old CoreDNS
    // would keep answering new queries with the old configuration for the whole period. Shortened.
    if (depth === 2 && /^lameduck\b/.test(code)) line = `${line.slice(0, line.length - line.trimStart().length)}lameduck 300ms`;
    if (inKubernetes >= 0 && depth === inKubernetes && /^(kubeconfig|endpoint)\b/.test(code)) continue;
    out.push(line);
    depth += opens - closes;
    if (inKubernetes >= 0 && depth < inKubernetes) inKubernetes = -1;
  }
  if (main)
    out.push(
      '',
      '# acmg harness: the "upstream" resolver, a loopback stub that knows no names.',
      `.:${cfg.upstreamPort} {`,
      '    bind 127.0.0.1',
      '    template ANY ANY {',
      '        rcode NXDOMAIN',
      '    }',
      '}',
      '',
    );
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

const rulesForCustom = (k) => (k.endsWith('.server') ? {} : k.endsWith('.override') ? { body: true } : undefined);
const rulesForMain = (k) => (k === 'Corefile' ? { main: true } : undefined);

const state = { main: undefined, custom: undefined };
let timer;
/** Writes both ConfigMaps' files now. Custom files first: when the main Corefile appears, what it imports is already there. */
function writeFiles() {
  clearTimeout(timer);
  mirror(join(cfg.out, 'custom'), state.custom, rulesForCustom);
  mirror(cfg.out, state.main, rulesForMain);
}

/** The ConfigMaps as a full list shows them (one absent from the list is gone). */
function replaceState(items) {
  state.main = undefined;
  state.custom = undefined;
  for (const cm of items) apply(cm);
}

function scheduleSync(immediate = false) {
  clearTimeout(timer);
  timer = setTimeout(
    () => {
      writeFiles();
      log(`synced ${cfg.main} (${Object.keys(state.main ?? {}).length} keys) and ${cfg.custom} (${Object.keys(state.custom ?? {}).length} keys)`);
    },
    immediate ? 0 : cfg.delayMs,
  );
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
          if (!line.trim()) continue;
          try {
            onData(JSON.parse(line));
          } catch (e) {
            // A watch ERROR (410 Gone after a compaction) or a bad line: end this request, so the
            // caller lists again. Thrown from here it would have ended the whole process.
            req.destroy();
            reject(e);
            return;
          }
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
  state[name === cfg.main ? 'main' : 'custom'] = deleted ? undefined : (cm.data ?? {});
  return true;
}

/**
 * A rolling restart of the coredns Deployment (its template's restartedAt changes) starts new pods
 * that load the ConfigMaps as they are now, and stops the old ones once the new ones serve. The
 * harness plays it with processes: every CoreDNS listener uses SO_REUSEPORT, so a new CoreDNS starts
 * on the same ports beside the old one, and the old one gets SIGTERM only when the new one serves
 * (it then answers through its lameduck period). Lookups keep getting answers throughout.
 */
let restartedAt;
let restarting = Promise.resolve();
function onDeployment(dep) {
  if (dep?.metadata?.name !== 'coredns') return;
  const at = dep.spec?.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'];
  const first = restartedAt === undefined;
  const changed = at !== restartedAt;
  restartedAt = at ?? null;
  if (first || !changed || !cfg.corednsPidFile || !cfg.corednsBin) return;
  restarting = restarting.then(() => restartPods(at)).catch((e) => log(`coredns Deployment restarted, but CoreDNS was not restarted: ${e.message}`));
}

async function restartPods(at) {
  // New pods mount the ConfigMaps as they are now, whatever the ConfigMap watch has seen so far.
  replaceState(JSON.parse(await request(`/api/v1/namespaces/${cfg.namespace}/configmaps`)).items);
  writeFiles();

  const oldPid = Number(readFileSync(cfg.corednsPidFile, 'utf8'));
  const offset = statSync(cfg.corednsLog).size;
  const out = openSync(cfg.corednsLog, 'a');
  const child = spawn(cfg.corednsBin, ['-conf', join(cfg.out, 'Corefile')], { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  // Serving: CoreDNS prints its banner once every listener is up.
  const deadline = Date.now() + 30_000;
  while (!readFileSync(cfg.corednsLog, 'utf8').slice(offset).includes('CoreDNS-')) {
    if (child.exitCode !== null) throw new Error(`the new CoreDNS exited (${child.exitCode}); see ${cfg.corednsLog}`);
    if (Date.now() > deadline) throw new Error('the new CoreDNS did not start within 30s');
    await new Promise((r) => setTimeout(r, 50));
  }
  writeAtomic(cfg.corednsPidFile, String(child.pid));
  try {
    process.kill(oldPid, 'SIGTERM');
  } catch {
    // already gone
  }
  log(`coredns Deployment restarted (${at}): new CoreDNS ${child.pid} serves the current ConfigMaps; ${oldPid} stopping`);
}

async function watchLoop(base, onEvent, onList) {
  for (;;) {
    try {
      const list = JSON.parse(await request(base));
      onList(list.items);
      await request(`${base}?watch=1&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}&timeoutSeconds=300`, (ev) => {
        if (ev.type === 'ERROR') throw new Error(ev.object?.message ?? 'watch error');
        if (ev.type === 'BOOKMARK') return;
        onEvent(ev);
      });
    } catch (e) {
      log(`watch of ${base} restarting: ${e.message}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function run() {
  let first = true;
  watchLoop(
    `/apis/apps/v1/namespaces/${cfg.namespace}/deployments`,
    (ev) => onDeployment(ev.object),
    (items) => items.forEach(onDeployment),
  );
  await watchLoop(
    `/api/v1/namespaces/${cfg.namespace}/configmaps`,
    (ev) => {
      if (apply(ev.object, ev.type === 'DELETED')) scheduleSync();
    },
    (items) => {
      replaceState(items);
      scheduleSync(first);
      first = false;
    },
  );
}

// A sync loop that dies leaves CoreDNS on old files for good: say so in the log, loudly.
process.on('uncaughtException', (e) => {
  log(`fatal: ${e.stack ?? e}`);
  process.exit(1);
});
run();
