// Issue 24: acmg with the Kubernetes Gateway API (routing.api gateway-api). Bookinfo routed by the
// user's GAMMA HTTPRoutes (jason to reviews v2, everyone else v1, ratings with a 2s timeout), traced
// through the real CoreDNS and the xDS the real istiod gives each proxy (the client's sidecar, the
// gateway), before a migration onto a Gateway API gateway, after it (both approaches) and after the
// rollback, call by call; the real API server stores what acmg wrote (acmg sync has nothing to
// change), istioctl analyze has nothing to say of acmg's objects, and purge takes them all away.
import { DNS_NAMESERVER, acmg, acmgObjects, eventually, expectExit, istioctlAnalyze, kubectl, kubectlJson } from './cluster.js';
import {
  CASES,
  GAMMA_SAMPLE_FILES,
  allCalls,
  applySample,
  deleteSample,
  differences,
  migratedAny,
  round,
  sleep,
  sleepPlain,
  table,
  withSidecar,
  type Round,
} from './bookinfo.js';
import { traceCall } from './trace.js';

const NS = ['--nameserver', DNS_NAMESERVER];
const GATEWAY_API = ['--set', 'routing.api=gateway-api'];
const aboutAcmg = (m: { origin: string; message: string }) => /acmg|bookinfo/.test(`${m.origin} ${m.message}`);
const serious = () => istioctlAnalyze().filter((m) => (m.level === 'Error' || m.level === 'Warning') && aboutAcmg(m));
/** The user's HTTPRoutes as they are (acmg never writes them; istiod writes their status, so not the resourceVersion). */
const userRoutes = () =>
  kubectlJson(['-n', 'bookinfo', 'get', 'httproutes'])
    .items.filter((r: any) => r.metadata.labels?.['app.kubernetes.io/managed-by'] !== 'acmg')
    .map((r: any) => `${r.metadata.name} generation ${r.metadata.generation} ${JSON.stringify(r.spec)}`)
    .sort();
const destination = (r: Round, call: string) => r.traces.get(call)!.destination;
/** A bookinfo route's Accepted condition for the shared acmg Gateway, as istiod wrote it. */
const acceptedByShared = (kind: string, name: string) =>
  kubectlJson(['-n', 'bookinfo', 'get', kind, name])
    .status?.parents?.find((p: any) => p.parentRef?.name === 'acmg-gateway')
    ?.conditions?.find((c: any) => c.type === 'Accepted')?.status;

describe('Gateway API: Bookinfo routed by GAMMA HTTPRoutes, before and after a migration onto a Gateway API gateway', () => {
  let before: Round;
  let routesBefore: string[];

  beforeAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    await applySample(GAMMA_SAMPLE_FILES);
    expectExit(await acmg(['install', '-y', ...GATEWAY_API]), 0);
    before = await round(
      'Bookinfo (GAMMA routes) before migration',
      (t) => (t.get('reviews')?.endpoints.length ?? 0) > 0 && /reviews-v2/.test(t.get('reviews as jason')?.destination ?? ''),
    );
    routesBefore = userRoutes();
    process.stdout.write(`\nBookinfo routed by GAMMA HTTPRoutes, before migration:\n${table(before)}\n`);
  }, 300_000);

  afterAll(async () => {
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    deleteSample();
  }, 240_000);

  test("install's gateway is a Gateway API Gateway of class istio that istiod accepted and programmed on acmg's Service; no Istio Gateway", () => {
    const gw = kubectlJson(['-n', 'istio-system', 'get', 'gateways.gateway.networking.k8s.io', 'acmg-gateway']);
    expect(gw.spec.gatewayClassName).toBe('istio');
    const cond = Object.fromEntries(gw.status.conditions.map((c: any) => [c.type, c.status]));
    expect(cond).toMatchObject({ Accepted: 'True', Programmed: 'True' });
    expect(gw.status.addresses).toEqual([{ type: 'Hostname', value: 'acmg-gateway.istio-system.svc.cluster.local' }]);
    expect(kubectl(['-n', 'istio-system', 'get', 'gateways.networking.istio.io', '-o', 'name'])).toBe('');
  });

  test('the baseline: the sidecars route by the GAMMA HTTPRoutes (jason to reviews-v2, the rest to reviews-v1, ratings 2s)', () => {
    const t = (n: string) => before.traces.get(n)!;
    expect(destination(before, 'reviews')).toMatch(/reviews-v1\.bookinfo/);
    expect(destination(before, 'reviews as jason')).toMatch(/reviews-v2\.bookinfo/);
    expect(destination(before, 'FQDN. as jason')).toMatch(/reviews-v2\.bookinfo/);
    expect(t('ratings').policy).toMatchObject({ timeout: '2s' });
    expect(t('reviews').hops.map((h) => h.kind)).toEqual(['sidecar']);
  });

  test("an HTTPRoute of the user's bound to the shared Gateway: acmg sync steers its backend's name there, a client without a sidecar reaches it through the gateway, sidecars route as before; deleted, every call is as before", async () => {
    const edge = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'reviews-edge', namespace: 'bookinfo' },
      spec: { parentRefs: [{ name: 'acmg-gateway', namespace: 'istio-system' }], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] },
    };
    const fqdn = 'reviews.bookinfo.svc.cluster.local';
    const gatewayIP = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-gateway']).spec.clusterIP;
    try {
      kubectl(['apply', '-f', '-'], JSON.stringify(edge));
      const sync = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout);
      expect(sync.add).toEqual([{ fqdn, ip: gatewayIP }]);
      expect(sync.ports).toContain(9080);
      const accepted = () => acceptedByShared('httproute', 'reviews-edge');
      const steered = await round(
        'reviews steered to the shared Gateway by an HTTPRoute',
        (t) => t.get('svc.ns, no sidecar')?.hops.at(-1)?.kind === 'router' && accepted() === 'True',
      );
      process.stdout.write(`\nBookinfo with reviews-edge bound to the shared Gateway:\n${table(steered)}\n`);
      // The client without a sidecar: DNS answers the gateway, whose listener on 9080 takes the
      // route and sends it to reviews (the backend, as the route says: the GAMMA rules are the mesh's).
      const plain = steered.traces.get('svc.ns, no sidecar')!;
      expect({ address: plain.resolvedAddress, hops: plain.hops.map((h) => h.kind), cluster: plain.cluster }).toEqual({
        address: gatewayIP,
        hops: ['router'],
        cluster: `outbound|9080||${fqdn}`,
      });
      expect(plain.endpoints.length).toBeGreaterThan(0);
      // Sidecars route by Host, whatever the address: every call from one lands as before, but one.
      // The route binds every listener of the shared gateway, its port 80 too: the call without a
      // port, which failed (reviews has no port 80, so the sidecar's passthrough fails), now goes to
      // the gateway's address on 80 and the route takes it to reviews. That is the route as written;
      // a parentRef sectionName would bind one listener.
      expect(differences(before, steered, withSidecar)).toEqual([
        { call: 'reviews, no port', before: 'failure no-service-port', after: expect.stringMatching(/^\{"cluster":"outbound\|9080\|\|reviews\.bookinfo\.svc/) },
      ]);
    } finally {
      kubectl(['-n', 'bookinfo', 'delete', 'httproute', 'reviews-edge', '--ignore-not-found']);
    }
    const sync = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout);
    expect(sync.remove).toEqual([{ fqdn, ip: gatewayIP }]);
    const back = await round('reviews after reviews-edge was deleted', (t) => t.get('svc.ns, no sidecar')?.resolvedAddress !== gatewayIP);
    expect(differences(before, back, allCalls)).toEqual([]);
  }, 300_000);

  test("a GRPCRoute of the user's bound to the shared Gateway: acmg sync steers its backend's name there, and the gateway routes the call by the route's gRPC method; deleted, the name is taken back", async () => {
    const grpc = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GRPCRoute',
      metadata: { name: 'reviews-grpc-edge', namespace: 'bookinfo' },
      spec: {
        parentRefs: [{ name: 'acmg-gateway', namespace: 'istio-system' }],
        rules: [{ matches: [{ method: { service: 'bookinfo.Reviews' } }], backendRefs: [{ name: 'reviews', port: 9080 }] }],
      },
    };
    const fqdn = 'reviews.bookinfo.svc.cluster.local';
    const gatewayIP = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-gateway']).spec.clusterIP;
    const method = (path: string) => traceCall(sleepPlain, { url: `http://reviews.bookinfo:9080${path}`, headers: { 'content-type': 'application/grpc' } });
    try {
      kubectl(['apply', '-f', '-'], JSON.stringify(grpc));
      const sync = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout);
      expect(sync.add).toEqual([{ fqdn, ip: gatewayIP }]);
      expect(sync.ports).toContain(9080);
      const accepted = () => acceptedByShared('grpcroute', 'reviews-grpc-edge');
      const { value: hit } = await eventually(
        'the gateway routes bookinfo.Reviews by the GRPCRoute',
        90_000,
        async () => {
          const t = await method('/bookinfo.Reviews/Get');
          return accepted() === 'True' && t.cluster === `outbound|9080||${fqdn}` ? t : undefined;
        },
        1000,
      );
      expect({ address: hit.resolvedAddress, hops: hit.hops.map((h) => h.kind) }).toEqual({ address: gatewayIP, hops: ['router'] });
      expect(hit.endpoints.length).toBeGreaterThan(0);
      // Another method, which no route matches: the gateway has no route for it (the route's match holds there).
      const miss = await method('/bookinfo.Ratings/Get');
      expect({ address: miss.resolvedAddress, failure: miss.failure?.kind }).toEqual({ address: gatewayIP, failure: 'no-route' });
    } finally {
      kubectl(['-n', 'bookinfo', 'delete', 'grpcroute', 'reviews-grpc-edge', '--ignore-not-found']);
    }
    const sync = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout);
    expect(sync.remove).toEqual([{ fqdn, ip: gatewayIP }]);
  }, 300_000);

  test('a GAMMA GRPCRoute for reviews beside its HTTPRoute, which acmg does not carry together: migrate names it and exits 2, writing nothing', async () => {
    const grpc = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GRPCRoute',
      metadata: { name: 'reviews-grpc', namespace: 'bookinfo' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }],
        rules: [{ matches: [{ method: { service: 'bookinfo.Reviews' } }], backendRefs: [{ name: 'reviews-v2', port: 9080 }] }],
      },
    };
    const objectsBefore = acmgObjects();
    try {
      kubectl(['apply', '-f', '-'], JSON.stringify(grpc));
      const r = expectExit(await acmg(['migrate', '-n', 'bookinfo', 'reviews', '--keep-service', '-y', ...NS]), 2);
      expect(r.stderr).toMatch(/GRPCRoute bookinfo\/reviews-grpc and HTTPRoute bookinfo\/reviews both route port 9080 of reviews/);
      expect(acmgObjects()).toEqual(objectsBefore);
      expect(JSON.parse(expectExit(await acmg(['status', '-o', 'json']), 0).stdout).services).toEqual([]);
    } finally {
      kubectl(['-n', 'bookinfo', 'delete', 'grpcroute', 'reviews-grpc', '--ignore-not-found']);
    }
  }, 120_000);

  test("a GAMMA HTTPRoute whose match has 16 headers, the CRD's limit: the route acmg would write (Host added) is refused by the real API server's dry run, and migrate exits 2 naming it, writing nothing", async () => {
    const headers = Array.from({ length: 16 }, (_, k) => ({ name: `x-h${k}`, value: 'y' }));
    const many = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'details-many', namespace: 'bookinfo' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'details', port: 9080 }],
        rules: [{ matches: [{ headers }], backendRefs: [{ name: 'details', port: 9080 }] }],
      },
    };
    const objectsBefore = acmgObjects();
    try {
      kubectl(['apply', '-f', '-'], JSON.stringify(many));
      const r = expectExit(await acmg(['migrate', '-n', 'bookinfo', 'details', '--keep-service', '-y', ...NS]), 2);
      expect(r.stderr).toMatch(
        /HTTPRoute bookinfo\/acmg-details-9080, made of the rules of HTTPRoute bookinfo\/details-many, is refused by the API server: .*headers.*16/,
      );
      expect(acmgObjects()).toEqual(objectsBefore);
      expect(JSON.parse(expectExit(await acmg(['status', '-o', 'json']), 0).stdout).services).toEqual([]);
    } finally {
      kubectl(['-n', 'bookinfo', 'delete', 'httproute', 'details-many', '--ignore-not-found']);
    }
  }, 120_000);

  test('a GAMMA GRPCRoute for details: the sidecars route its gRPC calls by method and header; after migrate the gateway routes each call to the same place, follows an edit (acmg sync), and after the rollback the sidecars do again', async () => {
    const rule = (method: object, to: string, headers?: object[]) => ({
      matches: [{ method, ...(headers ? { headers } : {}) }],
      backendRefs: [{ name: to, port: 9080 }],
    });
    const jasonGet = rule({ service: 'bookinfo.Details', method: 'Get' }, 'reviews-v2', [{ name: 'end-user', value: 'jason' }]);
    const grpc = (rules: object[]) => ({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GRPCRoute',
      metadata: { name: 'details-grpc', namespace: 'bookinfo' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'details', port: 9080 }], rules },
    });
    const rules = [jasonGet, rule({ service: 'bookinfo.Details' }, 'reviews-v1'), { backendRefs: [{ name: 'details', port: 9080 }] }];
    const grpcHeaders = { 'content-type': 'application/grpc' };
    const calls = {
      'Get as jason': { path: '/bookinfo.Details/Get', headers: { ...grpcHeaders, 'end-user': 'jason' } },
      Get: { path: '/bookinfo.Details/Get', headers: grpcHeaders },
      List: { path: '/bookinfo.Details/List', headers: grpcHeaders },
      'another service': { path: '/bookinfo.Ratings/Get', headers: grpcHeaders },
      'plain HTTP': { path: '/details/0', headers: {} },
    };
    const where = async (client: typeof sleepPlain) => {
      const out: Record<string, string | undefined> = {};
      for (const [name, c] of Object.entries(calls)) {
        const t = await traceCall(client, { url: `http://details.bookinfo:9080${c.path}`, headers: c.headers, method: 'POST' });
        out[name] = `${t.destination ?? t.failure?.kind} via ${t.hops.map((h) => h.kind).join(',') || 'none'} at ${t.resolvedAddress}`;
      }
      return out;
    };
    const landing = (w: Record<string, string | undefined>) => Object.fromEntries(Object.entries(w).map(([k, v]) => [k, v!.split(' via ')[0]]));
    const expected = {
      'Get as jason': 'reviews-v2.bookinfo.svc.cluster.local:9080',
      Get: 'reviews-v1.bookinfo.svc.cluster.local:9080',
      List: 'reviews-v1.bookinfo.svc.cluster.local:9080',
      'another service': 'details.bookinfo.svc.cluster.local:9080',
      'plain HTTP': 'details.bookinfo.svc.cluster.local:9080',
    };
    let baseline: Record<string, string | undefined> | undefined;
    try {
      kubectl(['apply', '-f', '-'], JSON.stringify(grpc(rules)));
      // The baseline: a client with a sidecar, routed by the GRPCRoute (once istiod has pushed it).
      ({ value: baseline } = await eventually('the sidecars route details by the GRPCRoute', 90_000, async () => {
        const w = await where(sleep);
        return JSON.stringify(landing(w)) === JSON.stringify(expected) ? w : undefined;
      }));
      expect(landing(baseline)).toEqual(expected);

      expectExit(await acmg(['migrate', '-n', 'bookinfo', 'details', '--keep-service', '-y', ...NS]), 0);
      const door = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-bookinfo']).spec.clusterIP;
      // A client without a sidecar now calls the door, and the gateway routes each call where the sidecars did.
      const { value: after } = await eventually('the gateway routes details by the carried GRPCRoute', 90_000, async () => {
        const w = await where(sleepPlain);
        return Object.values(w).every((v) => v!.endsWith(`via router at ${door}`)) && JSON.stringify(landing(w)) === JSON.stringify(expected) ? w : undefined;
      });
      expect(landing(after)).toEqual(expected);
      expect(landing(await where(sleep))).toEqual(expected);
      // The carried route is an HTTPRoute at the door, accepted by istiod; sync has nothing to change.
      expect(
        kubectlJson(['-n', 'bookinfo', 'get', 'httproute', 'acmg-details-9080']).status?.parents?.[0]?.conditions?.find((c: any) => c.type === 'Accepted')
          ?.status,
      ).toBe('True');
      expect(JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout)).toMatchObject({ routes: [], warnings: [] });

      // An edit of the user's GRPCRoute (jason's rule gone): sync carries it, and jason's Get lands with everyone's.
      kubectl(['apply', '-f', '-'], JSON.stringify(grpc(rules.slice(1))));
      const sync = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout);
      expect({ routes: sync.routes, warnings: sync.warnings }).toEqual({ routes: ['apply HTTPRoute bookinfo/acmg-details-9080'], warnings: [] });
      const edited = { ...expected, 'Get as jason': expected.Get };
      await eventually('the gateway follows the edit', 90_000, async () => JSON.stringify(landing(await where(sleepPlain))) === JSON.stringify(edited));
      await eventually('the sidecars follow the edit', 90_000, async () => JSON.stringify(landing(await where(sleep))) === JSON.stringify(edited));
      kubectl(['apply', '-f', '-'], JSON.stringify(grpc(rules)));
      expect(JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout).routes).toEqual(['apply HTTPRoute bookinfo/acmg-details-9080']);
    } finally {
      if (migratedAny()) expectExit(await acmg(['rollback', '-n', 'bookinfo', '-y', ...NS]), 0);
    }
    try {
      const { value: back } = await eventually('the sidecars route details again', 90_000, async () => {
        const w = await where(sleep);
        return JSON.stringify(landing(w)) === JSON.stringify(expected) && !Object.values(w).some((v) => v!.includes('router')) ? w : undefined;
      });
      expect(back).toEqual(baseline);
    } finally {
      kubectl(['-n', 'bookinfo', 'delete', 'grpcroute', 'details-grpc', '--ignore-not-found']);
    }
  }, 480_000);

  test.each(['keep-service', 'replace-service'])(
    '--%s: every call lands where it did, with the same rules, through the Gateway API gateway; and again after the rollback',
    async (approach) => {
      try {
        expectExit(await acmg(['migrate', '-n', 'bookinfo', '--all', `--${approach}`, '-y', ...NS]), 0);
        const door = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-bookinfo']).spec.clusterIP;
        const after = await round(`Bookinfo after migrate --${approach} (Gateway API)`, (t) => t.get('reviews')?.resolvedAddress === door);
        process.stdout.write(`\nBookinfo after migrate --${approach} onto the Gateway API gateway:\n${table(after)}\n`);

        // acmg's routes are HTTPRoutes attached to bookinfo's door, which istiod accepted.
        const routes = kubectlJson(['-n', 'bookinfo', 'get', 'httproutes', '-l', 'app.kubernetes.io/managed-by=acmg']).items;
        expect(routes.map((r: any) => r.metadata.name).sort()).toContain('acmg-reviews-9080');
        for (const r of routes)
          expect({ route: r.metadata.name, accepted: r.status?.parents?.[0]?.conditions?.find((c: any) => c.type === 'Accepted')?.status }).toEqual({
            route: r.metadata.name,
            accepted: 'True',
          });
        expect(kubectl(['-n', 'bookinfo', 'get', 'virtualservices', '-o', 'name'])).toBe('');

        // Every call by a migrated name resolves to the door and the gateway routes it, bare names
        // included; calls from clients with a sidecar land where they did, with the same policy.
        for (const c of CASES.filter((x) => x.name !== 'reviews, no port')) {
          const t = after.traces.get(c.name)!;
          expect({ call: c.name, address: t.resolvedAddress, last: t.hops.at(-1)?.kind }).toEqual({ call: c.name, address: door, last: 'router' });
        }
        expect(differences(before, after, withSidecar)).toEqual([]);
        // A client without a sidecar gets the service's rules at the gateway: jason reaches v2.
        expect(destination(after, 'svc.ns, no sidecar')).toMatch(/reviews-v2(-acmg)?\.bookinfo/);

        // The API server stored what acmg rendered (the CRDs' defaults included): sync has nothing to do.
        const sync = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout);
        expect(sync.routes).toEqual([]);
        if (approach === 'keep-service') expect(serious()).toEqual([]);
        else {
          // --replace-service deleted the Services the user's own mesh routes name: istioctl says so of
          // those routes (README, trade-offs), and of nothing acmg made.
          const found = serious();
          expect(found.filter((m) => /acmg/.test(m.origin))).toEqual([]);
          expect(found.filter((m) => !/^IST0171$/.test(m.code) || !/NoMatchingParent|BackendNotFound/.test(m.message))).toEqual([]);
        }
      } finally {
        if (migratedAny()) expectExit(await acmg(['rollback', '-n', 'bookinfo', '-y', ...NS]), 0);
      }
      const back = await round(`Bookinfo after rollback of --${approach} (Gateway API)`, (t) => t.get('reviews')?.hops.at(-1)?.kind === 'sidecar');
      expect(differences(before, back, allCalls)).toEqual([]);
      expect(kubectl(['-n', 'bookinfo', 'get', 'httproutes', '-l', 'app.kubernetes.io/managed-by=acmg', '-o', 'name'])).toBe('');
      expect(kubectl(['-n', 'istio-system', 'get', 'gateways.gateway.networking.k8s.io', 'acmg-bookinfo', '--ignore-not-found', '-o', 'name'])).toBe('');
      expect(userRoutes()).toEqual(routesBefore);
    },
    480_000,
  );

  test("reviews on approach 1 and reviews-v2 replaced (approach 2), then reviews-v2 rolled back: jason's calls land on reviews-v2 at every step (acmg's route follows the replacement there and back)", async () => {
    try {
      expectExit(await acmg(['migrate', '-n', 'bookinfo', 'reviews', '--keep-service', '-y', ...NS]), 0);
      expectExit(await acmg(['migrate', '-n', 'bookinfo', 'reviews-v2', '--replace-service', '-y', ...NS]), 0);
      const door = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-bookinfo']).spec.clusterIP;
      const jasonAt = (t: Round['traces'], to: RegExp) =>
        t.get('reviews')?.resolvedAddress === door &&
        to.test(t.get('svc.ns, no sidecar')?.destination ?? '') &&
        (t.get('svc.ns, no sidecar')?.endpoints.length ?? 0) > 0;
      const replaced = await round('reviews migrated, reviews-v2 replaced', (t) => jasonAt(t, /^reviews-v2-acmg\.bookinfo/));
      expect(differences(before, replaced, withSidecar)).toEqual([]);
      expectExit(await acmg(['rollback', '-n', 'bookinfo', 'reviews-v2', '-y', ...NS]), 0);
      // reviews-v2 is back and its replacement gone: the gateway sends jason to reviews-v2 itself.
      const restored = await round('reviews migrated, reviews-v2 rolled back', (t) => jasonAt(t, /^reviews-v2\.bookinfo/));
      process.stdout.write(`\nBookinfo with reviews migrated after reviews-v2's rollback:\n${table(restored)}\n`);
      expect(differences(before, restored, withSidecar)).toEqual([]);
      expect(kubectl(['-n', 'bookinfo', 'get', 'service', 'reviews-v2-acmg', '--ignore-not-found', '-o', 'name'])).toBe('');
    } finally {
      if (migratedAny()) expectExit(await acmg(['rollback', '-n', 'bookinfo', '-y', ...NS]), 0);
    }
  }, 480_000);

  test('a GAMMA TCPRoute splitting a TCP service 90/10 between its versions: the sidecars split its connections so; after migrate the gateway splits them the same at the door; after the rollback the sidecars do again', async () => {
    const svcOf = (name: string, selector: Record<string, string>) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'bookinfo' },
      spec: { selector, ports: [{ name: 'tcp-mongo', port: 27017 }] },
    });
    const deployment = (version: string) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `mongodb-${version}`, namespace: 'bookinfo' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'mongodb', version } },
        template: {
          metadata: { labels: { app: 'mongodb', version } },
          spec: { containers: [{ name: 'mongodb', image: 'docker.io/istio/examples-bookinfo-mongodb:1.20.2', ports: [{ containerPort: 27017 }] }] },
        },
      },
    });
    const split = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'TCPRoute',
      metadata: { name: 'mongodb-split', namespace: 'bookinfo' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'mongodb', port: 27017 }],
        rules: [
          {
            backendRefs: [
              { name: 'mongodb-v1', port: 27017, weight: 90 },
              { name: 'mongodb-v2', port: 27017, weight: 10 },
            ],
          },
        ],
      },
    };
    const objects = [
      svcOf('mongodb', { app: 'mongodb' }),
      svcOf('mongodb-v1', { app: 'mongodb', version: 'v1' }),
      svcOf('mongodb-v2', { app: 'mongodb', version: 'v2' }),
      deployment('v1'),
      deployment('v2'),
      split,
    ];
    // The trace stops at a weighted split and names its clusters and weights: what must not change.
    const connect = async (client: typeof sleep) => {
      const t = await traceCall(client, { url: 'tcp://mongodb.bookinfo:27017' });
      return { address: t.resolvedAddress, hops: t.hops.map((h) => h.kind), failure: t.failure?.kind, split: t.failure?.message };
    };
    let door = '';
    const SPLIT =
      'the route splits between outbound|27017||mongodb-v1.bookinfo.svc.cluster.local (90), outbound|27017||mongodb-v2.bookinfo.svc.cluster.local (10): trace each cluster';
    try {
      kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
      kubectl(['-n', 'bookinfo', 'rollout', 'status', 'deployment/mongodb-v1', 'deployment/mongodb-v2', '--timeout=120s']);
      const { value: before } = await eventually('the sidecars split mongodb by the TCPRoute', 90_000, async () => {
        const c = await connect(sleep);
        return c.split === SPLIT ? c : undefined;
      });
      expect(before).toMatchObject({ hops: ['sidecar'], failure: 'weighted' });

      expectExit(await acmg(['migrate', '-n', 'bookinfo', 'mongodb', '--keep-service', '-y', ...NS]), 0);
      door = kubectlJson(['-n', 'istio-system', 'get', 'service', 'acmg-bookinfo']).spec.clusterIP;
      const { value: after } = await eventually('the gateway splits mongodb by the carried TCPRoute', 90_000, async () => {
        const c = await connect(sleepPlain);
        return c.address === door && c.split === SPLIT ? c : undefined;
      });
      expect(after).toEqual({ address: door, hops: ['router'], failure: 'weighted', split: SPLIT });
      expect(await connect(sleep)).toMatchObject({ failure: 'weighted', split: SPLIT });
      const route = kubectlJson(['-n', 'bookinfo', 'get', 'tcproute', 'acmg-mongodb-27017']);
      expect(route.status?.parents?.[0]?.conditions?.find((c: any) => c.type === 'Accepted')?.status).toBe('True');
      expect(JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout)).toMatchObject({ routes: [], warnings: [] });
    } finally {
      if (migratedAny()) expectExit(await acmg(['rollback', '-n', 'bookinfo', '-y', ...NS]), 0);
    }
    try {
      const { value: back } = await eventually('the sidecars split mongodb again', 90_000, async () => {
        const c = await connect(sleep);
        return c.split === SPLIT && c.hops.join() === 'sidecar' ? c : undefined;
      });
      // The door went with the rollback: the sidecars' address is mongodb's own again.
      expect(back.address).not.toBe(door);
    } finally {
      kubectl([
        '-n',
        'bookinfo',
        'delete',
        'tcproute/mongodb-split',
        'deployment/mongodb-v1',
        'deployment/mongodb-v2',
        'service/mongodb',
        'service/mongodb-v1',
        'service/mongodb-v2',
        '--ignore-not-found',
      ]);
    }
  }, 480_000);

  test("a GAMMA GRPCRoute added after reviews' migration, beside its HTTPRoute: acmg sync names it and leaves the gateway's route as it was", async () => {
    const grpc = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GRPCRoute',
      metadata: { name: 'reviews-grpc-late', namespace: 'bookinfo' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }],
        rules: [{ matches: [{ method: { service: 'bookinfo.Reviews' } }], backendRefs: [{ name: 'reviews-v2', port: 9080 }] }],
      },
    };
    const route = () => kubectlJson(['-n', 'bookinfo', 'get', 'httproute', 'acmg-reviews-9080']).metadata.resourceVersion;
    try {
      expectExit(await acmg(['migrate', '-n', 'bookinfo', 'reviews', '--keep-service', '-y', ...NS]), 0);
      expect(JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout).warnings).toEqual([]);
      const written = route();
      kubectl(['apply', '-f', '-'], JSON.stringify(grpc));
      const sync = JSON.parse(expectExit(await acmg(['sync', '-o', 'json', ...NS]), 0).stdout);
      expect(sync.warnings).toEqual([
        expect.stringMatching(
          /^bookinfo\/reviews: not carrying the edit to the gateway, which keeps the rules it had: GRPCRoute bookinfo\/reviews-grpc-late and HTTPRoute bookinfo\/reviews both route port 9080 of reviews/,
        ),
      ]);
      expect({ routes: sync.routes, add: sync.add, remove: sync.remove }).toEqual({ routes: [], add: [], remove: [] });
      expect(route()).toBe(written);
    } finally {
      kubectl(['-n', 'bookinfo', 'delete', 'grpcroute', 'reviews-grpc-late', '--ignore-not-found']);
      if (migratedAny()) expectExit(await acmg(['rollback', '-n', 'bookinfo', '-y', ...NS]), 0);
    }
  }, 240_000);

  test('a Gateway API that serves TLSRoute only at v1alpha2 (as before v1.5): a GAMMA TLSRoute for reviews there is named all the same, migrate exits 2 and writes nothing', async () => {
    const crd = 'tlsroutes.gateway.networking.k8s.io';
    const original = kubectlJson(['get', 'crd', crd]);
    const serving = (versions: Record<string, boolean>) => {
      const now = kubectlJson(['get', 'crd', crd]);
      now.spec.versions = now.spec.versions.map((v: any) => ({ ...v, served: versions[v.name] ?? v.served }));
      kubectl(['replace', '-f', '-'], JSON.stringify(now));
    };
    const tls = {
      apiVersion: 'gateway.networking.k8s.io/v1alpha2',
      kind: 'TLSRoute',
      metadata: { name: 'reviews-tls-alpha', namespace: 'bookinfo' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }], rules: [{ backendRefs: [{ name: 'reviews-v2', port: 9080 }] }] },
    };
    const objectsBefore = acmgObjects();
    try {
      serving({ v1: false, v1alpha2: true });
      // The API server serves v1alpha2 and no longer v1 (as an older release's CRD does).
      await eventually('TLSRoute served at v1alpha2 only', 30_000, () => {
        try {
          kubectl(['get', 'tlsroutes.v1alpha2.gateway.networking.k8s.io', '-A']);
        } catch {
          return false;
        }
        try {
          kubectl(['get', 'tlsroutes.v1.gateway.networking.k8s.io', '-A']);
          return false;
        } catch {
          return true;
        }
      });
      kubectl(['apply', '-f', '-'], JSON.stringify(tls));
      const r = expectExit(await acmg(['migrate', '-n', 'bookinfo', 'reviews', '--keep-service', '-y', ...NS]), 2);
      expect(r.stderr).toMatch(/TLSRoute bookinfo\/reviews-tls-alpha routes reviews for the mesh \(GAMMA\): acmg does not carry TLSRoutes to the gateway/);
      expect(acmgObjects()).toEqual(objectsBefore);
    } finally {
      kubectl(['-n', 'bookinfo', 'delete', 'tlsroutes.v1alpha2.gateway.networking.k8s.io', 'reviews-tls-alpha', '--ignore-not-found']);
      serving(Object.fromEntries(original.spec.versions.map((v: any) => [v.name, v.served])));
    }
    expect(kubectlJson(['get', 'crd', crd]).spec.versions.map((v: any) => `${v.name} ${v.served}`)).toEqual(
      original.spec.versions.map((v: any) => `${v.name} ${v.served}`),
    );
  }, 120_000);

  test("purge takes away every Gateway API object acmg made, and leaves the user's routes as they were", async () => {
    expectExit(await acmg(['migrate', '-n', 'bookinfo', 'reviews', '--keep-service', '-y', ...NS]), 0);
    expectExit(await acmg(['uninstall', '--purge', '-y', ...NS]), 0);
    expect(acmgObjects()).toEqual([]);
    expect(kubectl(['get', 'gateways.gateway.networking.k8s.io,httproutes,tcproutes', '-A', '-l', 'app.kubernetes.io/managed-by=acmg', '-o', 'name'])).toBe('');
    expect(userRoutes()).toEqual(routesBefore);
    expectExit(await acmg(['install', '-y', ...GATEWAY_API]), 0);
  }, 240_000);
});
