// acmg precheck: everything install needs, asked of the cluster (never guessed), as a checklist.
import type { AcmgOperator } from '../profile/schema.js';
import { renderManifests } from '../render/index.js';
import { gatewaySelector } from '../render/gateway.js';
import { MANAGED_BY } from '../render/labels.js';
import type { KubeApi } from '../kube/api.js';
import { loadDns } from '../kube/dns-store.js';
import type { Layout } from '../coredns/layout.js';
import { AcmgError } from '../errors.js';
import { VERSION } from '../version.js';
import { istioChecks } from './istio.js';
import type { CheckResult } from '../model/check.js';
import type { KObject } from '../model/object.js';

export const MIN_KUBERNETES_MINOR = 26;

interface Access {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
}

export function requiredAccess(doc: AcmgOperator): Access[] {
  const s = doc.spec;
  const ns = s.namespace;
  const rw = ['get', 'create', 'patch', 'delete'];
  const out: Access[] = [];
  const add = (group: string, resource: string, verbs: string[], namespace?: string) => verbs.forEach((verb) => out.push({ verb, group, resource, namespace }));
  add('', 'serviceaccounts', rw, ns);
  add('', 'services', [...rw, 'update'], ns);
  add('', 'configmaps', [...rw, 'update'], ns);
  add('apps', 'deployments', rw, ns);
  if (s.gateway.podDisruptionBudget.enabled) add('policy', 'poddisruptionbudgets', rw, ns);
  if (s.gateway.autoscaling.enabled) add('autoscaling', 'horizontalpodautoscalers', rw, ns);
  add('networking.istio.io', 'gateways', [...rw, 'list'], ns);
  add('networking.istio.io', 'virtualservices', rw, ns);
  if (s.dns.enabled) add('', 'configmaps', ['get', 'create', 'update'], s.dns.namespace);
  // migrate: any namespace's Services and injection labels.
  add('', 'services', ['list', 'get'], undefined);
  add('', 'namespaces', ['get', 'patch'], undefined);
  if (s.controller.enabled) {
    add('rbac.authorization.k8s.io', 'clusterroles', rw);
    add('rbac.authorization.k8s.io', 'clusterrolebindings', rw);
    add('rbac.authorization.k8s.io', 'roles', rw, ns);
    add('rbac.authorization.k8s.io', 'rolebindings', rw, ns);
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

/** What checks learn and later checks use (filled in as the run goes). */
interface PrecheckContext {
  kube: KubeApi;
  doc: AcmgOperator;
  s: AcmgOperator['spec'];
  serverVersion?: string;
  layout?: Layout;
  namespaceExists: boolean;
  rendered: KObject[];
  missingCrds: string[];
}

type Outcome = Omit<CheckResult, 'category' | 'check'> & { check?: string };

/**
 * One check, as data (as linkerd's checks are): the runner asks each in order, turns an exception
 * into a failure with the record's hint, and stops after a failed `fatal` check. Adding a check is
 * adding a record here.
 */
interface Check {
  category: string;
  description: string;
  /** Shown under a failure unless the outcome brings its own. */
  hint?: string;
  /** Nothing after it can be asked when it fails. */
  fatal?: boolean;
  when?: (c: PrecheckContext) => boolean;
  run(c: PrecheckContext): Promise<Outcome | CheckResult[]>;
}

const ok = (detail?: string): Outcome => ({ status: 'ok', ...(detail ? { detail } : {}) });
const fail = (detail: string, hint?: string): Outcome => ({ status: 'fail', detail, ...(hint ? { hint } : {}) });
const errorText = (e: unknown) => (e instanceof AcmgError ? e.message : String(e));

const PRECHECKS: Check[] = [
  {
    category: 'kubernetes-api',
    description: 'API server reachable',
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
    category: 'permissions',
    description: 'acmg can do what install and migrate need',
    hint: 'grant these verbs (for example with a ClusterRole bound to your user), or run as a cluster admin',
    async run(c) {
      const access = requiredAccess(c.doc);
      const answers = await Promise.all(access.map((a) => canI(c.kube, a).catch(() => false)));
      const denied = access
        .filter((_, i) => !answers[i])
        .map((a) => `${a.verb} ${a.group ? `${a.resource}.${a.group}` : a.resource}${a.namespace ? ` in ${a.namespace}` : ' (cluster-wide)'}`);
      return denied.length ? fail(`denied: ${denied.join('; ')}`) : ok(`${access.length} access reviews allowed`);
    },
  },
  {
    category: 'dns',
    description: 'cluster DNS layout supported',
    when: (c) => c.s.dns.enabled,
    async run(c) {
      try {
        c.layout = (await loadDns(c.kube, c.s.dns)).layout;
      } catch (e) {
        return fail(errorText(e), e instanceof AcmgError ? e.hint : undefined);
      }
      return ok(`CoreDNS, domain ${c.layout.clusterDomain}: ${c.layout.description}`);
    },
  },
  {
    category: 'istio',
    description: 'Istio networking CRDs installed',
    async run(c) {
      // Everything after this renders with the cluster's real domain.
      c.namespaceExists = Boolean(await c.kube.get('v1', 'Namespace', c.s.namespace));
      c.rendered = renderManifests(c.doc, { clusterDomain: c.layout?.clusterDomain ?? 'cluster.local', version: VERSION });
      const kinds = ['gateways', 'virtualservices'];
      const crds = await Promise.all(kinds.map((p) => c.kube.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', `${p}.networking.istio.io`)));
      c.missingCrds = kinds.filter((_, i) => !crds[i]);
      if (c.missingCrds.length)
        return fail(
          `missing: ${c.missingCrds.map((m) => `${m}.networking.istio.io`).join(', ')}`,
          'install Istio first (istioctl install, or the istio/base Helm chart); acmg builds on it',
        );
      if (crds.some((d) => d && !(d.spec.versions ?? []).some((v: any) => v.name === 'v1' && v.served)))
        return fail('the CRDs do not serve networking.istio.io/v1', 'upgrade Istio to 1.22 or later');
      return ok('Gateway, VirtualService (networking.istio.io/v1)');
    },
  },
  {
    // istiod, the injector, the gateway pod's dry run, version skew, validation (check/istio.ts).
    category: 'istio',
    description: 'istiod, its injector and its validation',
    when: (c) => c.missingCrds.length === 0,
    run: (c) => istioChecks(c.kube, c.s, c.rendered, c.namespaceExists),
  },
  {
    category: 'install',
    description: 'install namespace exists',
    async run(c) {
      return c.namespaceExists
        ? { check: `namespace ${c.s.namespace} exists`, ...ok() }
        : { check: `namespace ${c.s.namespace} exists`, status: 'warn', detail: 'it will be created' };
    },
  },
  {
    category: 'install',
    description: 'no name collisions with objects acmg does not manage',
    hint: 'pick other names (--set gateway.name=..., istioGateway.name=...) or remove those objects',
    async run(c) {
      // get() answers undefined for 404, also for a kind whose CRD is missing (reported above).
      const live = await Promise.all(c.rendered.map((o) => c.kube.get(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace)));
      const foreign = c.rendered
        .filter((_, i) => live[i] && live[i]!.metadata.labels?.[MANAGED_BY] !== 'acmg')
        .map((o) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`);
      return foreign.length ? fail(`already exist: ${foreign.join(', ')}`) : ok();
    },
  },
  {
    category: 'install',
    description: "only acmg's Istio Gateway selects the gateway pods",
    hint: 'the design allows exactly one Gateway on the centralized gateway; delete those or change gateway.name',
    when: (c) => c.s.istioGateway.enabled && !c.missingCrds.includes('gateways'),
    async run(c) {
      const podLabels = { ...c.s.gateway.podLabels, ...gatewaySelector(c.s) };
      const gws = (await c.kube.list('networking.istio.io/v1', 'Gateway')).items;
      const others = gws.filter(
        (g) =>
          !(g.metadata.namespace === c.s.namespace && g.metadata.name === c.s.istioGateway.name) &&
          sameSubset(g.spec?.selector ?? {}, podLabels) &&
          Object.keys(g.spec?.selector ?? {}).length > 0,
      );
      return others.length ? fail(`also selecting them: ${others.map((g) => `${g.metadata.namespace}/${g.metadata.name}`).join(', ')}`) : ok();
    },
  },
];

/** Runs the checks in order (PRECHECKS); a failed fatal check ends the run. */
export async function runPrecheck(kube: KubeApi, doc: AcmgOperator): Promise<PrecheckResult> {
  const c: PrecheckContext = { kube, doc, s: doc.spec, namespaceExists: false, rendered: [], missingCrds: [] };
  const results: CheckResult[] = [];
  for (const check of PRECHECKS) {
    if (check.when && !check.when(c)) continue;
    let out: Outcome | CheckResult[];
    try {
      out = await check.run(c);
    } catch (e) {
      out = fail(errorText(e));
    }
    if (Array.isArray(out)) {
      results.push(...out);
      continue;
    }
    const { check: name, ...rest } = out;
    results.push({
      category: check.category,
      check: name ?? check.description,
      ...rest,
      ...(out.status !== 'ok' && !out.hint && check.hint ? { hint: check.hint } : {}),
    });
    if (check.fatal && out.status === 'fail') return { results, unreachable: true };
  }
  return { results, layout: c.layout, serverVersion: c.serverVersion };
}
