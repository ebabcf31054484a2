// The floor (issue #25): the writes acmg makes for a migration or a rollback, made raw with the
// fewest requests (plain creates, deletes and PUTs, 8 at a time, no reads), on the same cluster in
// the same run as acmg's, so acmg's time can be read against the API server's own. bench/floor.sh
// drives it:
//   node bench/floor.mjs acmg PREFIX -- ARGS...    runs `node bin/acmg.js -v ARGS` (ACMG_BIN: another
//        entry point), stdout to PREFIX.json, stderr stamped with milliseconds to PREFIX.log, its
//        phases (from the task lines and the request lines of -v) to PREFIX.phases.json, and the API
//        server's own request timings during the run to PREFIX.server.json
//   node bench/floor.mjs templates FILE --approach A    after acmg's migrate: the objects it wrote
//        (a route, a door, a replacement, the state shards, the Corefile), the floor's templates
//   node bench/floor.mjs floor migrate|rollback PREFIX --approach A --services N --namespaces M --acmg ACMG_PREFIX --templates FILE
//        the floor of that run: PREFIX.phases.json (and .server.json)
//   node bench/floor.mjs report TITLE ACMG_PREFIX FLOOR_PREFIX...   a table: acmg / floor per phase
//        (with several floors, their mean)
// The kubeconfig is $KUBECONFIG (the local cluster's, client certificates).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { Resolver } from 'node:dns/promises';
import yaml from 'js-yaml';

const CONCURRENCY = 8;
const INSTALL_NS = 'istio-system';

// ---- a minimal client: one keep-alive agent, JSON in and out, a request counter -------------------

function connect() {
  const kc = yaml.load(readFileSync(process.env.KUBECONFIG, 'utf8'));
  const ctx = kc.contexts.find((c) => c.name === kc['current-context']).context;
  const cluster = kc.clusters.find((c) => c.name === ctx.cluster).cluster;
  const user = kc.users.find((u) => u.name === ctx.user).user;
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 32,
    ca: readFileSync(cluster['certificate-authority']),
    cert: readFileSync(user['client-certificate']),
    key: readFileSync(user['client-key']),
  });
  const base = new URL(cluster.server);
  const kube = {
    requests: 0,
    request(method, path, body, contentType = 'application/json') {
      kube.requests++;
      const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      return new Promise((resolve, reject) => {
        const req = https.request(
          new URL(path, base),
          {
            agent,
            method,
            headers: { Accept: 'application/json', ...(data !== undefined ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) } : {}) },
          },
          (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              if (res.statusCode >= 200 && res.statusCode < 300) resolve(text && text[0] === '{' ? JSON.parse(text) : text);
              else reject(Object.assign(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`), { status: res.statusCode }));
            });
          },
        );
        req.on('error', reject);
        if (data !== undefined) req.write(data);
        req.end();
      });
    },
    close: () => agent.destroy(),
  };
  return kube;
}

async function forEachBounded(items, fn, limit = CONCURRENCY) {
  let next = 0;
  let failure;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure;
}

const paths = {
  services: (ns) => `/api/v1/namespaces/${ns}/services`,
  configmaps: (ns) => `/api/v1/namespaces/${ns}/configmaps`,
  namespaces: () => `/api/v1/namespaces`,
  virtualservices: (ns) => `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices`,
  destinationrules: (ns) => `/apis/networking.istio.io/v1/namespaces/${ns}/destinationrules`,
  gateways: (ns) => `/apis/networking.istio.io/v1/namespaces/${ns}/gateways`,
};

// ---- the API server's own timings: apiserver_request_duration_seconds by verb and resource --------

async function serverTimings(kube) {
  const text = await kube.request('GET', '/metrics');
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^apiserver_request_duration_seconds_(sum|count)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (labels.verb === 'WATCH' || labels.verb === 'CONNECT') continue;
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    out[key] ??= { sum: 0, count: 0 };
    out[key][m[1]] += Number(m[3]);
  }
  return out;
}

const diffTimings = (a, b) =>
  Object.fromEntries(
    Object.entries(b)
      .map(([k, v]) => [k, { count: v.count - (a[k]?.count ?? 0), sum: v.sum - (a[k]?.sum ?? 0) }])
      .filter(([, v]) => v.count > 0),
  );

// ---- acmg's run: stamped stderr, phases from its task lines and -v request lines ------------------

/** The phase a task title belongs to (the floor has the same phases). */
function phaseOf(title) {
  if (/^open gateway ports|^close gateway ports/.test(title)) return 'doors';
  if (/^create routes|^remove routes/.test(title)) return 'routes';
  if (/^switch DNS|^remove DNS entries/.test(title)) return 'dns write';
  if (/^wait for DNS/.test(title)) return 'dns wait';
  if (/^label namespace|^restore istio-injection/.test(title)) return 'labels';
  if (/^delete \d+ original/.test(title)) return 'delete originals';
  if (/^recreate \d+ original/.test(title)) return 'recreate originals';
  return `other: ${title.replace(/\d+/g, 'N')}`;
}

function parseAcmgLog(lines) {
  // lines: [ms, text]. Before the first task: reading and planning; between tasks: state writes.
  const phases = {};
  const add = (name, ms, req) => {
    phases[name] ??= { ms: 0, requests: 0, byRequest: {} };
    phases[name].ms += ms;
    if (req) {
      phases[name].requests++;
      phases[name].byRequest[req] = (phases[name].byRequest[req] ?? 0) + 1;
    }
  };
  let open; // { title, phase, start }
  let last = 0;
  let started = false;
  for (const [ms, raw] of lines) {
    const text = raw.replace(/^\d\d:\d\d:\d\d /, '');
    const gap = open ? open.phase : started ? 'state and between steps' : 'read and plan';
    const t = /^… (.*)$/.exec(text);
    const done = /^[✔✖] (.*) \(\d+\.\d+s\)$/.exec(text);
    const req = /^(GET|POST|PUT|PATCH|DELETE) (\/\S*?)(\?\S*)?$/.exec(text);
    if (t) {
      add(gap, ms - last);
      last = ms;
      open = { title: t[1], phase: phaseOf(t[1]) };
      started = true;
    } else if (done && open) {
      add(open.phase, ms - last);
      last = ms;
      open = undefined;
    } else if (req) {
      add(gap, ms - last, `${req[1]} ${resourceOf(req[2])}`);
      last = ms;
    }
  }
  return phases;
}

/** "PUT configmaps acmg-state-*" from a request path: the resource, and for ConfigMaps which one. */
function resourceOf(path) {
  const parts = path.split('/').filter(Boolean);
  const i = parts.indexOf('namespaces');
  const rest = i >= 0 ? parts.slice(i + 2) : parts.slice(parts[0] === 'api' ? 2 : 3);
  if (i >= 0 && rest.length === 0) return parts.length > i + 1 ? 'namespaces/NAME' : 'namespaces';
  const [resource, name] = rest;
  if (resource === 'configmaps' && name) return `configmaps/${name.startsWith('acmg-state-') ? 'acmg-state-NS' : name}`;
  return name ? `${resource}/NAME` : resource;
}

async function runAcmg(prefix, args) {
  const kube = connect();
  const before = await serverTimings(kube);
  const entry = process.env.ACMG_BIN ?? 'bin/acmg.js';
  const t0 = performance.now();
  // CPU_PROF=DIR: a V8 CPU profile of acmg's process in DIR (open it in Chrome's DevTools).
  const prof = process.env.CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.CPU_PROF] : [];
  const child = spawn(process.execPath, [...prof, entry, '-v', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const out = createWriteStream(`${prefix}.json`);
  child.stdout.pipe(out);
  const lines = [];
  const log = createWriteStream(`${prefix}.log`);
  // When acmg starts waiting for DNS, a probe asks CoreDNS (PROBE_DNS=host:port) for one of the
  // names every 100 ms: the moment its answer changes is when CoreDNS has the write (it loads the
  // whole Corefile at once), so the rest of the wait is acmg's own checking.
  let probe;
  const startProbe = (ms) => {
    if (probe || !process.env.PROBE_DNS) return;
    const r = new Resolver({ timeout: 500, tries: 1 });
    r.setServers([process.env.PROBE_DNS]);
    probe = { startMs: ms, first: undefined, changedMs: undefined, stop: false };
    void (async () => {
      while (!probe.stop && probe.changedMs === undefined) {
        const got = await r.resolve4(process.env.PROBE_NAME ?? 'svc-0.scale-0.svc.cluster.local').then(
          (a) => a.sort().join(','),
          () => '',
        );
        if (got) {
          probe.first ??= got;
          if (got !== probe.first) probe.changedMs = performance.now() - t0;
        }
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
  };
  let buf = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const ms = performance.now() - t0;
      lines.push([ms, line]);
      if (/^(\d\d:\d\d:\d\d )?… wait for DNS/.test(line)) startProbe(ms);
      log.write(`${ms.toFixed(1).padStart(9)} ${line}\n`);
    }
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  const wallMs = performance.now() - t0;
  const phases = parseAcmgLog(lines);
  if (probe) {
    probe.stop = true;
    // The DNS wait from the moment CoreDNS answered the change (the part acmg controls).
    const end = lines.find(([ms, l]) => ms > probe.startMs && /[✔✖] wait for DNS/.test(l))?.[0];
    if (probe.changedMs !== undefined && end !== undefined && phases['dns wait'])
      phases['dns wait'].afterCoreDnsMs = Math.max(0, end - Math.max(probe.changedMs, probe.startMs));
  }
  // After the last line: the process exiting.
  const counted = Object.values(phases).reduce((n, p) => n + p.ms, 0);
  phases['exit'] = { ms: wallMs - counted, requests: 0, byRequest: {} };
  let report = {};
  try {
    report = JSON.parse(readFileSync(`${prefix}.json`, 'utf8'));
  } catch {
    // rollback prints no JSON
  }
  const server = diffTimings(before, await serverTimings(kube));
  writeFileSync(`${prefix}.phases.json`, JSON.stringify({ wallMs, code, apiRequests: report.apiRequests, phases }, null, 1));
  writeFileSync(`${prefix}.server.json`, JSON.stringify(server, null, 1));
  kube.close();
  if (code !== 0) {
    console.error(`acmg ${args.join(' ')} exited ${code}: see ${prefix}.log`);
    process.exit(1);
  }
}

// ---- the floor ----------------------------------------------------------------------------------

const strip = (o) => {
  const { metadata, status: _s, ...rest } = o;
  const { name, namespace, labels, annotations } = metadata;
  return { ...rest, metadata: { name, namespace, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) } };
};

/** The shapes of the objects acmg wrote (taken from the cluster after its migrate), as the floor's templates. */
async function templates(kube, approach) {
  const ns = 'scale-0';
  const vs = (await kube.request('GET', `${paths.virtualservices(ns)}?labelSelector=app.kubernetes.io/managed-by%3Dacmg&limit=1`)).items[0];
  const doorSvc = (await kube.request('GET', `${paths.services(INSTALL_NS)}?labelSelector=acmg.io/namespace%3D${ns}&limit=1`)).items[0];
  const doorGw = (await kube.request('GET', `${paths.gateways(INSTALL_NS)}?labelSelector=acmg.io/namespace%3D${ns}&limit=1`)).items[0];
  const original = await kube.request('GET', `${paths.services(ns)}/svc-0`).catch(() => undefined);
  const replacement =
    approach === 'replace-service' ? (await kube.request('GET', `${paths.services(ns)}?labelSelector=acmg.io/replaces&limit=1`)).items[0] : undefined;
  if (!vs || !doorSvc || !doorGw) throw new Error("acmg's route, door Service or door Gateway not found in the cluster: run acmg's migrate first");
  const shards = (await kube.request('GET', `${paths.configmaps(INSTALL_NS)}?labelSelector=app.kubernetes.io/component%3Dstate-shard`)).items;
  const corefile = (await kube.request('GET', `${paths.configmaps('kube-system')}/coredns`)).data;
  // List items carry no apiVersion and kind.
  const svc = (o) => o && { ...strip(o), apiVersion: 'v1', kind: 'Service' };
  const istio = (o, kind) => ({ ...strip(o), apiVersion: 'networking.istio.io/v1', kind });
  return {
    vs: istio(vs, 'VirtualService'),
    doorSvc: svc(doorSvc),
    doorGw: istio(doorGw, 'Gateway'),
    // After acmg's migrate with --replace-service the original is gone: its replacement has its shape.
    original: svc(original ?? replacement),
    replacement: svc(replacement),
    shardData: Object.fromEntries(shards.map((s) => [s.metadata.labels['acmg.io/state-namespace'], s.data])),
    corefile,
  };
}

/** An object like `t`, named for the floor (`floor-` prefix), with no ClusterIP (the server allocates one). */
function like(t, name, namespace, extra = {}) {
  const o = JSON.parse(JSON.stringify(t));
  // None of acmg's labels (acmg must never take a floor object for its own) nor the population's.
  const labels = Object.fromEntries(Object.entries(o.metadata.labels ?? {}).filter(([k]) => !/^(acmg|app\.kubernetes\.io)/.test(k)));
  o.metadata = { ...o.metadata, name, namespace, labels: { ...labels, 'acmg-floor': 'true' } };
  if (o.kind === 'Service') {
    delete o.spec.clusterIP;
    delete o.spec.clusterIPs;
  }
  return Object.assign(o, extra);
}

async function floorRun(kind, prefix, opts) {
  const kube = connect();
  const N = Number(opts.services);
  const M = Number(opts.namespaces);
  const approach = opts.approach;
  const acmg = JSON.parse(readFileSync(`${opts.acmg}.phases.json`, 'utf8'));
  const tpl = JSON.parse(readFileSync(opts.templates, 'utf8'));
  const svcs = Array.from({ length: N }, (_, i) => ({ i, ns: `scale-${i % M}` }));
  const nss = Array.from({ length: M }, (_, j) => `scale-${j}`);
  // acmg's state writes (shards and the main ConfigMap) in this run: the floor makes as many.
  const stateWrites = Object.values(acmg.phases).reduce(
    (n, p) => n + Object.entries(p.byRequest).reduce((k, [r, c]) => k + (/^(PUT|POST) configmaps(\/acmg-state)?/.test(r) ? c : 0), 0),
    0,
  );
  const phases = {};
  const before = await serverTimings(kube);
  const phase = async (name, fn) => {
    const r0 = kube.requests;
    const t = performance.now();
    await fn();
    phases[name] = { ms: performance.now() - t, requests: kube.requests - r0 };
  };
  const vsName = (s) => `floor-${s.i}`;
  const vsOf = (s) =>
    like(tpl.vs, vsName(s), s.ns, {
      spec: { ...tpl.vs.spec, hosts: [`floor-${s.i}.${s.ns}.svc.cluster.local`, `floor-${s.i}.${s.ns}`, `floor-${s.i}`] },
    });
  const replacementOf = (s) => like(tpl.replacement ?? tpl.original, `floor-r-${s.i}`, s.ns);
  const originalOf = (s) => like(tpl.original, `floor-o-${s.i}`, s.ns);
  const shardVersions = new Map();
  const writeShards = async (rounds) => {
    for (let r = 0; r < rounds; r++)
      await forEachBounded(nss, async (ns) => {
        const name = `floor-state-${ns}`;
        const data = tpl.shardData[ns] ?? tpl.shardData[Object.keys(tpl.shardData)[0]] ?? { migrations: '{}' };
        const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: INSTALL_NS, labels: { 'acmg-floor': 'true' } }, data };
        const rv = shardVersions.get(ns);
        const res = rv
          ? await kube.request('PUT', `${paths.configmaps(INSTALL_NS)}/${name}`, { ...body, metadata: { ...body.metadata, resourceVersion: rv } })
          : await kube.request('POST', paths.configmaps(INSTALL_NS), body);
        shardVersions.set(ns, res.metadata.resourceVersion);
      });
  };
  const dnsWrite = async () => {
    const name = 'floor-coredns';
    const cur = await kube.request('GET', `${paths.configmaps('kube-system')}/${name}`).catch(() => undefined);
    const t = performance.now();
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'kube-system', labels: { 'acmg-floor': 'true' } }, data: tpl.corefile };
    if (cur)
      await kube.request('PUT', `${paths.configmaps('kube-system')}/${name}`, {
        ...body,
        metadata: { ...body.metadata, resourceVersion: cur.metadata.resourceVersion },
      });
    else await kube.request('POST', paths.configmaps('kube-system'), body);
    return performance.now() - t;
  };
  const rounds = Math.max(1, Math.round(stateWrites / M));

  if (kind === 'migrate') {
    // Not timed: the stand-ins for the originals the floor deletes (approach 2), and a clean slate.
    await cleanup(kube, nss);
    if (approach === 'replace-service') await forEachBounded(svcs, (s) => kube.request('POST', paths.services(s.ns), originalOf(s)));
    shardVersions.clear();
    await phase('read and plan', () =>
      forEachBounded(nss, (ns) =>
        Promise.all(['services', 'virtualservices', 'destinationrules'].map((r) => kube.request('GET', `${paths[r](ns)}?limit=500`))),
      ),
    );
    await phase('doors', () =>
      forEachBounded(nss, async (ns) => {
        await kube.request('POST', paths.services(INSTALL_NS), like(tpl.doorSvc, `floor-door-${ns}`, INSTALL_NS));
        await kube.request('POST', paths.gateways(INSTALL_NS), like(tpl.doorGw, `floor-door-${ns}`, INSTALL_NS));
      }),
    );
    await phase('routes', () =>
      forEachBounded(svcs, async (s) => {
        if (approach === 'replace-service') await kube.request('POST', paths.services(s.ns), replacementOf(s));
        await kube.request('POST', paths.virtualservices(s.ns), vsOf(s));
      }),
    );
    await phase('dns write', async () => void (await dnsWrite()));
    await phase('labels', () =>
      forEachBounded(nss, (ns) =>
        kube.request('PATCH', `${paths.namespaces()}/${ns}`, { metadata: { labels: { 'acmg-floor': 'disabled' } } }, 'application/merge-patch+json'),
      ),
    );
    if (approach === 'replace-service')
      await phase('delete originals', () => forEachBounded(svcs, (s) => kube.request('DELETE', `${paths.services(s.ns)}/floor-o-${s.i}`)));
    await phase('state and between steps', () => writeShards(rounds));
  } else {
    for (const ns of nss) {
      const cur = await kube.request('GET', `${paths.configmaps(INSTALL_NS)}/floor-state-${ns}`).catch(() => undefined);
      if (cur) shardVersions.set(ns, cur.metadata.resourceVersion);
    }
    tpl.corefile = (await kube.request('GET', `${paths.configmaps('kube-system')}/coredns`)).data;
    await phase('read and plan', () => forEachBounded(nss, (ns) => kube.request('GET', `${paths.services(ns)}?limit=500`)));
    if (approach === 'replace-service')
      await phase('recreate originals', () => forEachBounded(svcs, (s) => kube.request('POST', paths.services(s.ns), originalOf(s))));
    await phase('labels', () =>
      forEachBounded(nss, (ns) =>
        kube.request('PATCH', `${paths.namespaces()}/${ns}`, { metadata: { labels: { 'acmg-floor': null } } }, 'application/merge-patch+json'),
      ),
    );
    await phase('dns write', async () => void (await dnsWrite()));
    await phase('routes', () =>
      forEachBounded(svcs, async (s) => {
        await kube.request('DELETE', `${paths.virtualservices(s.ns)}/${vsName(s)}`);
        if (approach === 'replace-service') await kube.request('DELETE', `${paths.services(s.ns)}/floor-r-${s.i}`);
      }),
    );
    await phase('doors', () =>
      forEachBounded(nss, async (ns) => {
        await kube.request('DELETE', `${paths.services(INSTALL_NS)}/floor-door-${ns}`);
        await kube.request('DELETE', `${paths.gateways(INSTALL_NS)}/floor-door-${ns}`);
      }),
    );
    await phase('state and between steps', () => writeShards(rounds));
  }
  const server = diffTimings(before, await serverTimings(kube));
  const wallMs = Object.values(phases).reduce((n, p) => n + p.ms, 0);
  writeFileSync(`${prefix}.phases.json`, JSON.stringify({ wallMs, apiRequests: kube.requests, stateWrites, phases }, null, 1));
  writeFileSync(`${prefix}.server.json`, JSON.stringify(server, null, 1));
  if (kind === 'rollback') await cleanup(kube, nss);
  kube.close();
}

/** Removes every object the floor made (by its label), not timed. */
async function cleanup(kube, nss) {
  const sel = 'labelSelector=acmg-floor%3Dtrue';
  const gone = async (collection) => {
    const items = (await kube.request('GET', `${collection}?${sel}`)).items;
    await forEachBounded(items, (o) =>
      kube.request('DELETE', `${collection}/${o.metadata.name}`).catch((e) => (e.status === 404 ? undefined : Promise.reject(e))),
    );
  };
  for (const ns of nss) {
    await gone(paths.services(ns));
    await gone(paths.virtualservices(ns));
  }
  await gone(paths.services(INSTALL_NS));
  await gone(paths.gateways(INSTALL_NS));
  await gone(paths.configmaps(INSTALL_NS));
  await gone(paths.configmaps('kube-system'));
  await forEachBounded(nss, (ns) =>
    kube.request('PATCH', `${paths.namespaces()}/${ns}`, { metadata: { labels: { 'acmg-floor': null } } }, 'application/merge-patch+json'),
  );
}

// ---- the report ---------------------------------------------------------------------------------

const ORDER = [
  'read and plan',
  'doors',
  'routes',
  'recreate originals',
  'dns write',
  'dns wait',
  'labels',
  'delete originals',
  'state and between steps',
  'exit',
];

function report(title, acmgPrefix, ...floorPrefixes) {
  const a = JSON.parse(readFileSync(`${acmgPrefix}.phases.json`, 'utf8'));
  // Several floors (made before and after acmg's run, so a machine whose load drifts is seen): their mean.
  const floors = floorPrefixes.filter((x) => existsSync(`${x}.phases.json`)).map((x) => JSON.parse(readFileSync(`${x}.phases.json`, 'utf8')));
  const mean = (xs) => xs.reduce((n, x) => n + x, 0) / xs.length;
  const f = {
    wallMs: mean(floors.map((x) => x.wallMs)),
    apiRequests: floors[0].apiRequests,
    phases: Object.fromEntries(
      Object.keys(floors[0].phases).map((k) => [k, { ms: mean(floors.map((x) => x.phases[k]?.ms ?? 0)), requests: floors[0].phases[k].requests }]),
    ),
  };
  const floorPrefix = floorPrefixes[floorPrefixes.length - 1];
  const spread = floors.length > 1 ? ` (floors: ${floors.map((x) => (x.wallMs / 1000).toFixed(1)).join(' s, ')} s)` : '';
  const names = [...new Set([...ORDER.filter((n) => a.phases[n] || f.phases[n]), ...Object.keys(a.phases), ...Object.keys(f.phases)])];
  const s = (ms) => (ms === undefined ? '-' : (ms / 1000).toFixed(1));
  const ratio = (x, y) => (x === undefined || !y ? '-' : `${(x / y).toFixed(1)}x`);
  const reqs = (p) => (p ? String(p.requests) : '-');
  console.log(`\n${title}${spread}`);
  console.log('| phase | acmg s | acmg requests | floor s | floor requests | acmg/floor |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const n of names) {
    const pa = a.phases[n];
    const pf = f.phases[n];
    if ((pa?.ms ?? 0) < 50 && !pf && !pa?.requests) continue;
    console.log(`| ${n} | ${s(pa?.ms)} | ${reqs(pa)} | ${s(pf?.ms)} | ${reqs(pf)} | ${ratio(pa?.ms, pf?.ms)} |`);
  }
  const wait = a.phases['dns wait']?.ms ?? 0;
  const after = a.phases['dns wait']?.afterCoreDnsMs;
  if (after !== undefined) console.log(`| dns wait once CoreDNS answered the change (probe) | ${s(after)} | | | | |`);
  console.log(
    `| **all** | ${s(a.wallMs)} | ${a.apiRequests ?? Object.values(a.phases).reduce((k, p) => k + p.requests, 0)} | ${s(f.wallMs)} | ${f.apiRequests} | ${ratio(a.wallMs, f.wallMs)} |`,
  );
  console.log(`| all but the DNS wait | ${s(a.wallMs - wait)} | | ${s(f.wallMs)} | | ${ratio(a.wallMs - wait, f.wallMs)} |`);
  // What acmg's biggest phases sent, and what the API server spent on each kind of request.
  const detail = Object.entries(a.phases)
    .filter(([, p]) => p.requests > 0)
    .map(
      ([n, p]) =>
        `${n}: ${Object.entries(p.byRequest)
          .map(([r, c]) => `${c} ${r}`)
          .join(', ')}`,
    );
  console.log(`acmg's requests by phase: ${detail.join('; ')}`);
  const server = (prefix) => {
    const t = JSON.parse(readFileSync(`${prefix}.server.json`, 'utf8'));
    return Object.entries(t)
      .filter(([, v]) => v.count >= 10)
      .sort((x, y) => y[1].sum - x[1].sum)
      .map(([k, v]) => `${k} ${v.count} x ${((v.sum / v.count) * 1000).toFixed(1)} ms`)
      .join(', ');
  };
  console.log(`API server time per request (acmg's run): ${server(acmgPrefix)}`);
  console.log(`API server time per request (floor): ${server(floorPrefix)}`);
}

// ---- command line -------------------------------------------------------------------------------

const [cmd, ...rest] = process.argv.slice(2);
const flags = (xs) => Object.fromEntries(xs.flatMap((x, i) => (x.startsWith('--') ? [[x.slice(2), xs[i + 1]]] : [])));
if (cmd === 'acmg') {
  const dash = rest.indexOf('--');
  await runAcmg(rest[0], rest.slice(dash + 1));
} else if (cmd === 'templates') {
  const kube = connect();
  writeFileSync(rest[0], JSON.stringify(await templates(kube, flags(rest.slice(1)).approach)));
  kube.close();
} else if (cmd === 'floor') {
  await floorRun(rest[0], rest[1], flags(rest.slice(2)));
} else if (cmd === 'report') {
  report(rest[0], rest[1], ...rest.slice(2));
} else {
  console.error(
    'usage: node bench/floor.mjs acmg PREFIX -- ARGS | floor migrate|rollback PREFIX --approach A --services N --namespaces M --acmg PREFIX | report TITLE ACMG FLOOR',
  );
  process.exit(2);
}
