// acmg precheck: everything install needs, asked of the cluster (never guessed), as a checklist.
import type { AcmgOperator } from '../profile/schema.js';
import { renderManifests } from '../render/index.js';
import { gatewaySelector } from '../render/gateway.js';
import { COMPONENT, MANAGED_BY } from '../render/labels.js';
import { ApiError, explainApiError, permissionDenied, permissionHint, type KubeApi } from '../kube/api.js';
import { loadDns } from '../kube/dns-store.js';
import type { Layout } from '../coredns/layout.js';
import { AcmgError } from '../errors.js';
import { VERSION } from '../version.js';
import { istioChecks } from './istio.js';
import type { CheckResult } from '../model/check.js';
import type { KObject } from '../model/object.js';
import { readState } from '../kube/state.js';
import { GATEWAY_API_GROUP, GATEWAY_API_RELEASE, GATEWAY_API_VERSION, GATEWAY_CLASS, routingApiOf } from '../render/gateway-api.js';

export const MIN_KUBERNETES_MINOR = 26;

interface Access {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  /** Which command needs it, for what: named beside a denied permission. */
  why: string;
}

/**
 * What install, migrate, rollback and sync call, as access reviews (namespace absent: cluster-wide,
 * where the namespaces are the migrated ones, unknown ahead). A read or write added to those
 * commands belongs here too.
 */
export function requiredAccess(doc: AcmgOperator): Access[] {
  const s = doc.spec;
  const ns = s.namespace;
  const rw = ['get', 'create', 'patch', 'delete'];
  const out: Access[] = [];
  const add = (group: string, resource: string, verbs: string[], namespace: string | undefined, why: string) =>
    verbs.forEach((verb) => out.push({ verb, group, resource, namespace, why }));
  add('', 'serviceaccounts', rw, ns, 'install');
  add('', 'services', [...rw, 'update'], ns, "install and migrate (the gateway's Services)");
  add('', 'configmaps', [...rw, 'update', 'list'], ns, "acmg's state");
  add('apps', 'deployments', rw, ns, 'install');
  if (s.gateway.podDisruptionBudget.enabled) add('policy', 'poddisruptionbudgets', rw, ns, 'install');
  if (s.gateway.autoscaling.enabled) add('autoscaling', 'horizontalpodautoscalers', rw, ns, 'install');
  add('networking.istio.io', 'gateways', [...rw, 'list'], ns, "install and migrate (the namespaces' doors)");
  // migrate waits for the door's endpoints.
  add('discovery.k8s.io', 'endpointslices', ['list'], ns, 'migrate');
  // The routes at the migrated services' doors, in their namespaces: migrate and sync write them
  // (sync lists every namespace's), rollback deletes them. Sync reads the user's VirtualServices and
  // DestinationRules with either routing API (a mesh VirtualService is refused with gateway-api).
  // (With gateway-api acmg's routes are HTTPRoutes and TCPRoutes: VirtualServices are only read.)
  const istioRoutes = routingApiOf(s) === 'istio';
  add('networking.istio.io', 'virtualservices', istioRoutes ? [...rw, 'list'] : ['list'], undefined, istioRoutes ? 'migrate, rollback and sync' : 'sync');
  add('networking.istio.io', 'destinationrules', [...rw, 'list'], undefined, 'migrate, rollback and sync');
  if (!istioRoutes) {
    add(GATEWAY_API_GROUP, 'gateways', [...rw, 'list'], ns, "install and migrate (the namespaces' doors)");
    add(GATEWAY_API_GROUP, 'httproutes', [...rw, 'list'], undefined, 'migrate, rollback and sync');
    add(GATEWAY_API_GROUP, 'tcproutes', [...rw, 'list'], undefined, 'migrate, rollback and sync');
  }
  // Read with either API: the GAMMA routes of the migrated Services (migrate carries or names them,
  // sync names one added later) and, with the Gateway API, the GRPCRoutes bound to the shared
  // Gateway. Asked even where a CRD is missing: RBAC answers a list before the API server looks for it.
  for (const r of istioRoutes ? ['grpcroutes', 'httproutes', 'tcproutes', 'tlsroutes'] : ['grpcroutes', 'tlsroutes'])
    add(GATEWAY_API_GROUP, r, ['list'], undefined, "migrate and sync (the migrated Services' GAMMA routes)");
  if (s.dns.enabled) add('', 'configmaps', ['get', 'create', 'update'], s.dns.namespace, 'install and migrate (cluster DNS)');
  // install finds the CoreDNS Deployment by label (the controller's Role names it).
  if (s.dns.enabled) add('apps', 'deployments', ['get', 'list'], s.dns.namespace, 'install');
  // Any namespace's Services (approach 2 replaces them, rollback restores them) and injection labels.
  add('', 'services', [...rw, 'list'], undefined, 'migrate, rollback and sync');
  add('', 'namespaces', ['get', 'patch'], undefined, 'migrate and rollback');
  // The mesh security check (plan/mesh-security.ts): the policies of the migrated namespaces and
  // Istio's root namespace, mesh-wide PeerAuthentications, and the pods the policies select.
  for (const r of ['authorizationpolicies', 'requestauthentications', 'peerauthentications'])
    add('security.istio.io', r, ['list'], undefined, "migrate's mesh security check");
  add('', 'pods', ['list'], undefined, "migrate's mesh security check");
  // A rolling restart of the namespaces' Deployments, waited for (rollback restarts where migrate
  // did). Asked only where the profile restarts (migration.restart): a user who never passes
  // --restart needs no right to restart every namespace's Deployments; one who does and lacks it
  // sees the restart step refused, and the run rolled back.
  if (s.migration.restart) add('apps', 'deployments', ['list', 'get', 'watch', 'patch'], undefined, 'migrate (migration.restart) and its rollback');
  if (s.controller.enabled) {
    add('rbac.authorization.k8s.io', 'clusterroles', rw, undefined, "install (the controller's)");
    add('rbac.authorization.k8s.io', 'clusterrolebindings', rw, undefined, "install (the controller's)");
    add('rbac.authorization.k8s.io', 'roles', rw, ns, "install (the controller's)");
    add('rbac.authorization.k8s.io', 'rolebindings', rw, ns, "install (the controller's)");
  }
  return out;
}

async function canI(kube: KubeApi, a: Access): Promise<boolean> {
  const r = await kube.create<any>({
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    metadata: { name: '' },
    spec: { resourceAttributes: { verb: a.verb, group: a.group, resource: a.resource, namespace: a.namespace } },
  });
  return r.status?.allowed === true;
}

const sameSubset = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

export interface PrecheckResult {
  results: CheckResult[];
  /** The API server could not be reached: a cluster/network error (exit 3), not a failed check. */
  unreachable?: boolean;
  layout?: Layout;
  serverVersion?: string;
}

/**
 * What checks learn and later checks use. Each field is set by one record, and only when that
 * record could read it: a record that uses one says so (`needs`, `uses`).
 */
interface PrecheckContext {
  kube: KubeApi;
  doc: AcmgOperator;
  s: AcmgOperator['spec'];
  serverVersion?: string;
  /** By 'dns'. */
  layout?: Layout;
  /** By 'namespace'. */
  namespaceExists?: boolean;
  /** By 'istio-crds': the networking.istio.io kinds whose CRD serves v1. */
  istioKinds?: Set<string>;
}

/** acmg's objects, rendered with the cluster's domain where 'dns' found it (names do not depend on it). */
const rendered = (c: PrecheckContext): KObject[] => renderManifests(c.doc, { clusterDomain: c.layout?.clusterDomain ?? 'cluster.local', version: VERSION });

type Outcome = Omit<CheckResult, 'category' | 'check'> & { check?: string };

type CheckId =
  | 'api'
  | 'permissions'
  | 'dns'
  | 'istio-crds'
  | 'gateway-api'
  | 'routing-api'
  | 'istio'
  | 'namespace'
  | 'name-collisions'
  | 'gateway-selector'
  | 'priority-classes';

/** A record this one needs: its pass, or only the part of its result that `enough` looks for. */
type Need = CheckId | { check: CheckId; enough: (c: PrecheckContext) => boolean };

/**
 * One check, as data (as linkerd's checks are). The runner asks them in dependency order, turns
 * an exception into a failure (an API error with its own hint: permissions, credentials), reports
 * a record whose need failed as "skipped: needs X", and stops after a failed `fatal` check. Results
 * are listed in the order of PRECHECKS. Adding a check is adding a record here.
 */
interface Check {
  id: CheckId;
  category: string;
  /** Its title in the checklist (and in "skipped: needs ..."). */
  title: string | ((s: AcmgOperator['spec']) => string);
  /** Shown under a failed verdict unless the outcome brings its own (not under an API error). */
  hint?: string;
  /** Nothing after it can be asked when it fails. */
  fatal?: boolean;
  /** Skipped ("skipped: needs <its title>") unless each of these passed. */
  needs?: Need[];
  /** Runs after these and uses what they learnt when they could read it; never skipped for them. */
  uses?: CheckId[];
  /** Does not apply to these values (not listed). */
  when?: (c: PrecheckContext) => boolean;
  run(c: PrecheckContext): Promise<Outcome | CheckResult[]>;
}

const ok = (detail?: string): Outcome => ({ status: 'ok', ...(detail ? { detail } : {}) });
const fail = (detail: string, hint?: string): Outcome => ({ status: 'fail', detail, ...(hint ? { hint } : {}) });

/** A check that threw: an API error says what was refused and how to fix that, not the record's hint. */
function thrown(e: unknown, recordHint: string | undefined): Outcome {
  if (e instanceof ApiError) {
    const x = explainApiError(e) as AcmgError;
    return { status: 'fail', detail: x.message, hint: permissionDenied(e) ? permissionHint(e) : x.hint };
  }
  if (e instanceof AcmgError) return fail(e.message, e.hint ?? recordHint);
  return fail(String(e), recordHint);
}

const PRECHECKS: Check[] = [
  {
    id: 'api',
    category: 'kubernetes-api',
    title: 'API server reachable',
    hint: 'check --kubeconfig / --context and that the cluster is up',
    fatal: true,
    async run(c) {
      const v = await c.kube.serverVersion();
      c.serverVersion = v.gitVersion;
      const minor = Number.parseInt(v.minor, 10);
      if (Number.isFinite(minor) && minor < MIN_KUBERNETES_MINOR)
        return { check: 'API server version', ...fail(v.gitVersion, `acmg needs Kubernetes 1.${MIN_KUBERNETES_MINOR} or later`) };
      return ok(`${c.kube.server} (${v.gitVersion})`);
    },
  },
  {
    id: 'permissions',
    category: 'permissions',
    title: 'acmg can do what install and migrate need',
    hint: 'grant these verbs (for example with a ClusterRole bound to your user), or run as a cluster admin',
    async run(c) {
      const access = requiredAccess(c.doc);
      const answers = await Promise.all(access.map((a) => canI(c.kube, a).catch(() => false)));
      const denied = access
        .filter((_, i) => !answers[i])
        .map((a) => `${a.verb} ${a.group ? `${a.resource}.${a.group}` : a.resource}${a.namespace ? ` in ${a.namespace}` : ' (cluster-wide)'} for ${a.why}`);
      return denied.length ? fail(`denied: ${denied.join('; ')}`) : ok(`${access.length} access reviews allowed`);
    },
  },
  {
    id: 'dns',
    category: 'dns',
    title: 'cluster DNS layout supported',
    when: (c) => c.s.dns.enabled,
    async run(c) {
      try {
        c.layout = (await loadDns(c.kube, c.s.dns)).layout;
      } catch (e) {
        if (!(e instanceof AcmgError)) throw e;
        return fail(e.message, e.hint);
      }
      return ok(`CoreDNS, domain ${c.layout.clusterDomain}: ${c.layout.description}`);
    },
  },
  {
    id: 'istio-crds',
    category: 'istio',
    title: 'Istio networking CRDs installed',
    async run(c) {
      const kinds = ['gateways', 'virtualservices'];
      const crds = await Promise.all(kinds.map((p) => c.kube.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', `${p}.networking.istio.io`)));
      const servesV1 = (d: KObject | undefined) => (d?.spec?.versions ?? []).some((v: any) => v.name === 'v1' && v.served);
      c.istioKinds = new Set(kinds.filter((_, i) => servesV1(crds[i])));
      const missing = kinds.filter((_, i) => !crds[i]);
      if (missing.length)
        return fail(
          `missing: ${missing.map((m) => `${m}.networking.istio.io`).join(', ')}`,
          'install Istio first (istioctl install, or the istio/base Helm chart); acmg builds on it',
        );
      if (c.istioKinds.size < kinds.length) return fail('the CRDs do not serve networking.istio.io/v1', 'upgrade Istio to 1.22 or later');
      return ok('Gateway, VirtualService (networking.istio.io/v1)');
    },
  },
  {
    id: 'gateway-api',
    category: 'istio',
    title: 'Gateway API CRDs installed and served by istiod',
    when: (c) => routingApiOf(c.s) === 'gateway-api',
    hint: `install the Gateway API CRDs (standard channel, v1.1 or later: kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/${GATEWAY_API_RELEASE}/standard-install.yaml), then restart istiod; or install with --set routing.api=istio`,
    async run(c) {
      const kinds = ['gateways', 'httproutes', 'grpcroutes', 'tcproutes'];
      const crds = await Promise.all(kinds.map((p) => c.kube.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', `${p}.${GATEWAY_API_GROUP}`)));
      const servesV1 = (d: KObject | undefined) => (d?.spec?.versions ?? []).some((v: any) => v.name === 'v1' && v.served);
      const missing = kinds.filter((_, i) => !servesV1(crds[i])).map((k) => `${k}.${GATEWAY_API_GROUP}/v1`);
      if (missing.length) return fail(`missing: ${missing.join(', ')}`);
      // istiod creates its GatewayClass when it runs with Gateway API support: the sign it reads the CRDs.
      const cls = await c.kube.get(GATEWAY_API_VERSION, 'GatewayClass', GATEWAY_CLASS);
      if (!cls)
        return fail(
          `no GatewayClass "${GATEWAY_CLASS}": istiod does not serve the Gateway API (it creates that class when it does)`,
          'restart istiod after installing the CRDs (PILOT_ENABLE_GATEWAY_API must not be false)',
        );
      return ok(
        `Gateway, HTTPRoute, GRPCRoute, TCPRoute (${GATEWAY_API_GROUP}/v1), GatewayClass ${GATEWAY_CLASS} (${cls.spec?.controllerName ?? 'no controller'})`,
      );
    },
  },
  {
    // istiod, the injector, the gateway pod's dry run, version skew, validation (check/istio.ts).
    // The dry run needs the install namespace: without it, it is reported skipped, saying why.
    id: 'istio',
    category: 'istio',
    title: 'istiod, its injector and its validation',
    needs: ['istio-crds'],
    uses: ['dns', 'namespace'],
    run: (c) => istioChecks(c.kube, c.s, rendered(c), c.namespaceExists),
  },
  {
    id: 'namespace',
    category: 'install',
    title: (s) => `namespace ${s.namespace} exists`,
    async run(c) {
      c.namespaceExists = Boolean(await c.kube.get('v1', 'Namespace', c.s.namespace));
      return c.namespaceExists ? ok() : { status: 'warn', detail: 'it will be created' };
    },
  },
  {
    // One API per gateway: the routes of migrated services move with it (ops/routing-switch.ts).
    id: 'routing-api',
    category: 'install',
    title: 'routing API',
    async run(c) {
      const st = await readState(c.kube, c.s.namespace);
      const now = routingApiOf(c.s);
      if (!st.install) return ok(now);
      const was = routingApiOf(st.install.values);
      const migrated = Object.keys(st.migrations).length;
      if (was === now) return ok(now);
      return ok(`${was} -> ${now}${migrated ? `: the routes of ${migrated} migrated service(s) move to ${now} in place` : ' (nothing migrated)'}`);
    },
  },
  {
    // A missing class is no error at install: the ReplicaSet's pods are refused, quietly, in its events.
    id: 'priority-classes',
    category: 'install',
    title: 'the priority classes the pods name exist',
    when: (c) => priorityClasses(c.s).length > 0,
    async run(c) {
      const names = priorityClasses(c.s);
      const found = await Promise.all(names.map((n) => c.kube.get('scheduling.k8s.io/v1', 'PriorityClass', n)));
      const missing = names.filter((_, i) => !found[i]);
      if (!missing.length) return ok(names.join(', '));
      const existing = (await c.kube.list('scheduling.k8s.io/v1', 'PriorityClass')).items.map((p) => p.metadata.name).sort();
      return fail(
        `no PriorityClass ${missing.join(', ')}: the API server would refuse every pod of the Deployment that names it`,
        `create it (kubectl create priorityclass ${missing[0]} --value=1000000), or name one that exists${existing.length ? ` (${existing.join(', ')})` : ''}, or "" for none`,
      );
    },
  },
  {
    id: 'name-collisions',
    category: 'install',
    title: 'no name collisions with objects acmg does not manage',
    hint: 'pick other names (--set gateway.name=..., istioGateway.name=...) or remove those objects',
    async run(c) {
      // get() answers undefined for 404, also for a kind whose CRD is missing (reported above).
      const objects = rendered(c);
      const live = await Promise.all(objects.map((o) => c.kube.get(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace)));
      const foreign = objects
        .filter((_, i) => live[i] && live[i]!.metadata.labels?.[MANAGED_BY] !== 'acmg')
        .map((o) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`);
      return foreign.length ? fail(`already exist: ${foreign.join(', ')}`) : ok(`${objects.length} objects checked`);
    },
  },
  {
    id: 'gateway-selector',
    category: 'install',
    title: "only acmg's Istio Gateway selects the gateway pods",
    hint: 'the design allows exactly one Gateway on the centralized gateway; delete those or change gateway.name',
    // Only the Gateway CRD: it is asked even when VirtualServices are missing.
    needs: [{ check: 'istio-crds', enough: (c) => c.istioKinds?.has('gateways') === true }],
    when: (c) => c.s.istioGateway.enabled,
    async run(c) {
      const podLabels = { ...c.s.gateway.podLabels, ...gatewaySelector(c.s) };
      const gws = (await c.kube.list('networking.istio.io/v1', 'Gateway')).items;
      const others = gws.filter(
        (g) =>
          !(g.metadata.namespace === c.s.namespace && g.metadata.name === c.s.istioGateway.name) &&
          // A migrated namespace's door (render/namespace-gateway.ts) is acmg's own.
          !(g.metadata.namespace === c.s.namespace && g.metadata.labels?.[MANAGED_BY] === 'acmg' && g.metadata.labels?.[COMPONENT] === 'namespace-gateway') &&
          sameSubset(g.spec?.selector ?? {}, podLabels) &&
          Object.keys(g.spec?.selector ?? {}).length > 0,
      );
      return others.length ? fail(`also selecting them: ${others.map((g) => `${g.metadata.namespace}/${g.metadata.name}`).join(', ')}`) : ok();
    },
  },
];

/** The priority classes the rendered pods name. */
function priorityClasses(s: AcmgOperator['spec']): string[] {
  const names = [s.gateway.enabled ? s.gateway.priorityClassName : '', s.controller.enabled ? s.controller.priorityClassName : ''];
  return [...new Set(names.filter(Boolean))].sort();
}

const needId = (n: Need): CheckId => (typeof n === 'string' ? n : n.check);

/** The records with each after what it needs and uses, otherwise in their listed order. */
export function dependencyOrder<T extends { id: string; needs?: (string | { check: string })[]; uses?: string[] }>(records: T[]): T[] {
  const out: T[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const byId = new Map(records.map((r) => [r.id, r]));
  const visit = (r: T) => {
    if (placed.has(r.id)) return;
    if (visiting.has(r.id)) throw new Error(`precheck records depend on each other in a cycle through ${r.id}`);
    visiting.add(r.id);
    for (const d of [...(r.needs ?? []).map((n) => (typeof n === 'string' ? n : n.check)), ...(r.uses ?? [])]) {
      const dep = byId.get(d);
      if (!dep) throw new Error(`precheck record ${r.id} depends on ${d}, which is not a record`);
      visit(dep);
    }
    visiting.delete(r.id);
    placed.add(r.id);
    out.push(r);
  };
  records.forEach(visit);
  return out;
}

/** Runs the checks in dependency order; a failed fatal check ends the run. Results in the order of PRECHECKS. */
export async function runPrecheck(kube: KubeApi, doc: AcmgOperator): Promise<PrecheckResult> {
  const c: PrecheckContext = { kube, doc, s: doc.spec };
  const titleOf = (check: Check) => (typeof check.title === 'string' ? check.title : check.title(c.s));
  const byId = new Map(PRECHECKS.map((p) => [p.id, p]));
  const passed = new Set<CheckId>();
  const reported = new Map<CheckId, CheckResult[]>();
  const listed = () => PRECHECKS.flatMap((p) => reported.get(p.id) ?? []);
  for (const check of dependencyOrder(PRECHECKS)) {
    if (check.when && !check.when(c)) continue;
    const title = titleOf(check);
    const unmet = (check.needs ?? []).find((n) => !passed.has(needId(n)) && !(typeof n !== 'string' && n.enough(c)));
    if (unmet) {
      reported.set(check.id, [{ category: check.category, check: title, status: 'skipped', detail: `skipped: needs ${titleOf(byId.get(needId(unmet))!)}` }]);
      continue;
    }
    let out: Outcome | CheckResult[];
    try {
      out = await check.run(c);
    } catch (e) {
      out = thrown(e, check.hint);
    }
    if (Array.isArray(out)) {
      reported.set(check.id, out);
      if (!out.some((r) => r.status === 'fail')) passed.add(check.id);
      continue;
    }
    const { check: name, hint, ...rest } = out;
    // A verdict without its own hint gets the record's; a thrown API error keeps its own, or none.
    const shown = 'hint' in out ? hint : out.status !== 'ok' ? check.hint : undefined;
    reported.set(check.id, [{ category: check.category, check: name ?? title, ...rest, ...(shown ? { hint: shown } : {}) }]);
    if (out.status !== 'fail') passed.add(check.id);
    else if (check.fatal) return { results: listed(), unreachable: true };
  }
  return { results: listed(), layout: c.layout, serverVersion: c.serverVersion };
}
