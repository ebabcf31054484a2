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

export async function runPrecheck(kube: KubeApi, doc: AcmgOperator): Promise<PrecheckResult> {
  const s = doc.spec;
  const results: CheckResult[] = [];
  const push = (r: CheckResult) => results.push(r);

  // Kubernetes API: everything else depends on it.
  let serverVersion: string | undefined;
  try {
    const v = await kube.serverVersion();
    serverVersion = v.gitVersion;
    const minor = Number.parseInt(v.minor, 10);
    push(
      Number.isFinite(minor) && minor < MIN_KUBERNETES_MINOR
        ? {
            category: 'kubernetes-api',
            check: 'API server version',
            status: 'fail',
            detail: v.gitVersion,
            hint: `acmg needs Kubernetes 1.${MIN_KUBERNETES_MINOR} or later`,
          }
        : { category: 'kubernetes-api', check: 'API server reachable', status: 'ok', detail: `${kube.server} (${v.gitVersion})` },
    );
  } catch (e) {
    push({
      category: 'kubernetes-api',
      check: 'API server reachable',
      status: 'fail',
      detail: e instanceof AcmgError ? e.message : String(e),
      hint: 'check --kubeconfig / --context and that the cluster is up',
    });
    return { results, unreachable: true };
  }

  // Permissions, asked of the API server.
  const access = requiredAccess(doc);
  const answers = await Promise.all(access.map((a) => canI(kube, a).catch(() => false)));
  const denied = access
    .filter((_, i) => !answers[i])
    .map((a) => `${a.verb} ${a.group ? `${a.resource}.${a.group}` : a.resource}${a.namespace ? ` in ${a.namespace}` : ' (cluster-wide)'}`);
  push(
    denied.length
      ? {
          category: 'permissions',
          check: 'acmg can do what install and migrate need',
          status: 'fail',
          detail: `denied: ${denied.join('; ')}`,
          hint: 'grant these verbs (for example with a ClusterRole bound to your user), or run as a cluster admin',
        }
      : { category: 'permissions', check: 'acmg can do what install and migrate need', status: 'ok', detail: `${access.length} access reviews allowed` },
  );

  // Cluster DNS.
  let layout: Layout | undefined;
  if (s.dns.enabled) {
    try {
      layout = (await loadDns(kube, s.dns)).layout;
      push({ category: 'dns', check: 'cluster DNS layout supported', status: 'ok', detail: `CoreDNS, domain ${layout.clusterDomain}: ${layout.description}` });
    } catch (e) {
      push({
        category: 'dns',
        check: 'cluster DNS layout supported',
        status: 'fail',
        detail: e instanceof AcmgError ? e.message : String(e),
        hint: e instanceof AcmgError ? e.hint : undefined,
      });
    }
  }

  const nsObj = await kube.get('v1', 'Namespace', s.namespace);
  const rendered = renderManifests(doc, { clusterDomain: layout?.clusterDomain ?? 'cluster.local', version: VERSION });

  // Istio.
  const crds = await Promise.all(
    ['gateways', 'virtualservices'].map((p) => kube.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', `${p}.networking.istio.io`)),
  );
  const missing = ['gateways', 'virtualservices'].filter((_, i) => !crds[i]);
  const noV1 = crds.filter((c) => c && !(c.spec.versions ?? []).some((v: any) => v.name === 'v1' && v.served));
  push(
    missing.length
      ? {
          category: 'istio',
          check: 'Istio networking CRDs installed',
          status: 'fail',
          detail: `missing: ${missing.map((m) => `${m}.networking.istio.io`).join(', ')}`,
          hint: 'install Istio first (istioctl install, or the istio/base Helm chart); acmg builds on it',
        }
      : noV1.length
        ? {
            category: 'istio',
            check: 'Istio networking CRDs installed',
            status: 'fail',
            detail: 'the CRDs do not serve networking.istio.io/v1',
            hint: 'upgrade Istio to 1.22 or later',
          }
        : { category: 'istio', check: 'Istio networking CRDs installed', status: 'ok', detail: 'Gateway, VirtualService (networking.istio.io/v1)' },
  );
  if (!missing.length) results.push(...(await istioChecks(kube, s, rendered, !!nsObj)));

  // The install namespace and collisions with what is already there.
  push(
    nsObj
      ? { category: 'install', check: `namespace ${s.namespace} exists`, status: 'ok' }
      : { category: 'install', check: `namespace ${s.namespace} exists`, status: 'warn', detail: 'it will be created' },
  );

  const foreign: string[] = [];
  // get() answers undefined for 404, also for a kind whose CRD is missing (reported above).
  const live = await Promise.all(rendered.map((o) => kube.get(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace)));
  rendered.forEach((o, i) => {
    const l = live[i];
    if (l && l.metadata.labels?.[MANAGED_BY] !== 'acmg') foreign.push(`${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`);
  });
  push(
    foreign.length
      ? {
          category: 'install',
          check: 'no name collisions with objects acmg does not manage',
          status: 'fail',
          detail: `already exist: ${foreign.join(', ')}`,
          hint: 'pick other names (--set gateway.name=..., istioGateway.name=...) or remove those objects',
        }
      : { category: 'install', check: 'no name collisions with objects acmg does not manage', status: 'ok' },
  );

  if (s.istioGateway.enabled && !missing.includes('gateways')) {
    const podLabels = { ...s.gateway.podLabels, ...gatewaySelector(s) };
    const gws = (await kube.list('networking.istio.io/v1', 'Gateway')).items;
    const others = gws.filter(
      (g) =>
        !(g.metadata.namespace === s.namespace && g.metadata.name === s.istioGateway.name) &&
        sameSubset(g.spec?.selector ?? {}, podLabels) &&
        Object.keys(g.spec?.selector ?? {}).length > 0,
    );
    push(
      others.length
        ? {
            category: 'install',
            check: "only acmg's Istio Gateway selects the gateway pods",
            status: 'fail',
            detail: `also selecting them: ${others.map((g) => `${g.metadata.namespace}/${g.metadata.name}`).join(', ')}`,
            hint: 'the design allows exactly one Gateway on the centralized gateway; delete those or change gateway.name',
          }
        : { category: 'install', check: "only acmg's Istio Gateway selects the gateway pods", status: 'ok' },
    );
  }
  return { results, layout, serverVersion };
}
