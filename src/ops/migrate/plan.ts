// acmg migrate, the plan: which services move and every decision about how, read from the cluster
// once and checked before anything changes. The steps (steps.ts) take this plan and nothing else
// that decides; what --dry-run prints is their description of it (describeMigration).
import type { DnsEntry } from '../../coredns/region.js';
import { AcmgError, ExitCode, usageError } from '../../errors.js';
import { ApiError, listPages, listPagesIfServed, type KubeApi } from '../../kube/api.js';
import { currentDnsEntries } from '../../kube/dns-store.js';
import type { KObject } from '../../model/object.js';
import { classifyPort, isProblem, portConflicts, type ClassifiedPort, type PortUse } from '../../model/ports.js';
import { migrationKey, shardName, type Approach, type InstallRecord, type MigrationOrigin, type RuleChange, type State } from '../../model/state.js';
import { checkSelection, SYSTEM_NAMESPACES, type Selection } from '../../plan/selection.js';
import { renderServiceRouting } from '../../render/gateway-routes.js';
import { replacementName, routeName } from '../../render/routes.js';
import { ROUTE_READ_VERSIONS, portRouteName, routeKindFor, routingApiOf } from '../../render/gateway-api.js';
import { UNCARRIED_MESH_ROUTE_KINDS, routeId, uncarriedMeshRouteKinds } from '../../render/gateway-api-routes.js';
import { forEachBounded } from '../bounded.js';
import { isAcmgObject } from '../../render/labels.js';
import { VERSION } from '../../version.js';
import { fitsInState, projectedShardBytes } from '../../plan/state-size.js';
import { policyChanges as describePolicyChanges, SECURITY_VERSION } from '../../plan/mesh-security.js';
import { namespacePortsInUse } from '../gateway-ports.js';
import { doorAddresses, gatewayClusterIP } from '../gateway-sync.js';
import { dnsSettings, requireInstall } from '../install-record.js';
import { deploymentAvailable } from '../wait.js';

export { SYSTEM_NAMESPACES, type Selection } from '../../plan/selection.js';

/** Istio's root namespace (meshConfig.rootNamespace's default): its selector-less policies apply mesh-wide. */
const ISTIO_ROOT_NAMESPACE = 'istio-system';

/** What the user asked for, besides which services: the decisions the plan carries. */
export interface MigrateRequest {
  approach: Approach;
  /** --restart (the values' migration.restart also turns it on). */
  restart?: boolean;
  /** --force: rewrite acmg's DNS region even where it was edited by hand. */
  force?: boolean;
  /** --no-rollback: on a failure leave what was done, journaled. */
  noRollback?: boolean;
  /** --accept-rule-changes: migrate even where a user's mesh rule cannot hold at the gateway. */
  acceptRuleChanges?: boolean;
  /** --accept-policy-changes: migrate even where the move changes what a mesh security policy does. */
  acceptPolicyChanges?: boolean;
  /** declarative: the controller runs it for a marked Service (recorded, so it alone rolls it back). */
  origin?: MigrationOrigin;
}

export interface Candidate {
  service: KObject;
  ports: ClassifiedPort[];
  fqdn: string;
  /** The user's VirtualServices that route this service for sidecars: carried to the gateway. */
  userRoutes: KObject[];
  /** Approach 2: the user's DestinationRule for the service, copied for the replacement. */
  destinationRule?: KObject;
  /** The user's rules for this service that cannot hold at the gateway (accepted, or the plan is refused). */
  ruleChanges: RuleChange[];
}

export interface MigratePlan {
  install: InstallRecord;
  gatewayIP: string;
  candidates: Candidate[];
  alreadyMigrated: string[];
  approach: Approach;
  /** Restart the namespaces' Deployments after the relabel: --restart, or migration.restart. */
  restart: boolean;
  /** Rewrite acmg's DNS region even where it was edited by hand (--force). */
  force: boolean;
  /** What a failure does: roll this run back, or leave it journaled (--no-rollback). */
  onFailure: 'rollback' | 'leave';
  /** false where the Corefile has no reload plugin: CoreDNS is restarted after the DNS write. */
  dnsReloads: boolean;
  /** The user's rules that cannot hold at the gateway, accepted with --accept-rule-changes (else refused). */
  ruleChanges: string[];
  /** Mesh security policies whose meaning the move changes, accepted with --accept-policy-changes (else refused). */
  policyChanges: string[];
  /** By namespace: the Services whose traffic goes to a replacement once the run is through (carried rules naming them go there). */
  replaced: Record<string, string[]>;
  /** Who asked: the CLI (undefined) or the controller for a marked Service ('declarative'), recorded in each migration. */
  origin?: MigrationOrigin;
}

export const keyOf = (c: Candidate) => migrationKey(c.service.metadata.namespace!, c.service.metadata.name);
export const namespacesOf = (plan: MigratePlan) => [...new Set(plan.candidates.map((c) => c.service.metadata.namespace!))].sort();

/**
 * The DNS entries the plan switches: every candidate's FQDN answers its namespace's door on the
 * gateway (`address(namespace)`, its Service's ClusterIP).
 */
export const gatewayEntries = (candidates: Candidate[], address: (namespace: string) => string): DnsEntry[] =>
  candidates.map((c) => ({ fqdn: c.fqdn, ip: address(c.service.metadata.namespace!) }));

/** The DNS step's change: these names answer the gateway, every other entry stays (a Set: 10,000 names). */
export function switchedTo(entries: DnsEntry[]): (current: DnsEntry[]) => DnsEntry[] {
  const switching = new Set(entries.map((e) => e.fqdn));
  return (current) => [...current.filter((e) => !switching.has(e.fqdn)), ...entries];
}

async function selectServices(kube: KubeApi, sel: Selection, install: InstallRecord, st: State): Promise<{ services: KObject[]; problems: string[] }> {
  const problems: string[] = [];
  const forbidden = new Set([...SYSTEM_NAMESPACES, install.values.namespace]);
  checkSelection(sel);
  if (sel.namespace) {
    if (forbidden.has(sel.namespace))
      throw usageError(
        `namespace "${sel.namespace}" cannot be migrated: it is ${SYSTEM_NAMESPACES.includes(sel.namespace) ? 'a system namespace' : "acmg's install namespace"}`,
      );
    if (!(await kube.get('v1', 'Namespace', sel.namespace)))
      throw usageError(`namespace "${sel.namespace}" does not exist`, 'list namespaces with: kubectl get namespaces');
  }
  let services: KObject[] = [];
  if (sel.services.length > 0) {
    for (const name of sel.services) {
      const svc = await kube.get('v1', 'Service', name, sel.namespace);
      if (svc) services.push(svc);
      // Approach 2 deleted the original: the state's copy stands in, so a re-run is a no-op.
      else if (st.migrations[migrationKey(sel.namespace!, name)]?.originalService)
        services.push(st.migrations[migrationKey(sel.namespace!, name)]!.originalService!);
      else problems.push(`service "${name}" not found in namespace "${sel.namespace}"`);
    }
  } else {
    const list = await kube.list('v1', 'Service', { namespace: sel.allNamespaces ? undefined : sel.namespace, labelSelector: sel.selector });
    services = list.items.filter(
      (s) =>
        !forbidden.has(s.metadata.namespace ?? '') &&
        s.metadata.labels?.['app.kubernetes.io/managed-by'] !== 'acmg' &&
        !(s.metadata.namespace === 'default' && s.metadata.name === 'kubernetes'),
    );
    if (services.length === 0) problems.push(`no services match ${sel.selector ? `selector "${sel.selector}"` : `namespace "${sel.namespace ?? 'all'}"`}`);
  }
  return { services: services.map((s) => ({ ...s, apiVersion: 'v1', kind: 'Service' })), problems };
}

/** Each service's own problems (kind, ports, collisions with ports already used), or it as a candidate. */
function judgeServices(
  services: KObject[],
  install: InstallRecord,
  state: State,
  approach: Approach,
): { candidates: Candidate[]; alreadyMigrated: string[]; problems: string[] } {
  const problems: string[] = [];
  const used = new Map<string, PortUse[]>();
  const candidates: Candidate[] = [];
  const alreadyMigrated: string[] = [];
  for (const svc of services) {
    const id = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const rec = state.migrations[migrationKey(svc.metadata.namespace!, svc.metadata.name)];
    if (rec?.phase === 'complete') {
      if (rec.approach !== approach) problems.push(`${id} is already migrated with --${rec.approach}; roll it back first to switch approach`);
      else alreadyMigrated.push(id);
      continue;
    }
    if (svc.metadata.labels?.['app.kubernetes.io/managed-by'] === 'acmg') {
      problems.push(`${id} is managed by acmg (a replacement Service); migrate the original instead`);
      continue;
    }
    if (svc.spec?.type === 'ExternalName') problems.push(`${id} is an ExternalName Service; it has no ClusterIP to move`);
    else if (approach === 'replace-service' && (svc.spec?.type === 'NodePort' || svc.spec?.type === 'LoadBalancer'))
      problems.push(
        `${id} is a ${svc.spec.type} Service: --replace-service would delete it, releasing its ${svc.spec.type === 'NodePort' ? 'node ports' : 'external address and node ports'} (rollback could not get them back); use --keep-service, which leaves the Service as it is`,
      );
    else if (!svc.spec?.clusterIP || svc.spec.clusterIP === 'None')
      problems.push(`${id} is headless (clusterIP: None); clients reach its pods directly, so there is no traffic to move`);
    const classified: ReturnType<typeof classifyPort>[] = (svc.spec?.ports ?? []).map(classifyPort);
    const bad = classified.filter(isProblem);
    for (const b of bad) problems.push(`${id} port ${b.port}${b.name ? ` (${b.name})` : ''}: ${b.problem}`);
    const ports = classified.filter((p): p is ClassifiedPort => !isProblem(p));
    if (ports.length === 0 && bad.length === 0) problems.push(`${id} has no ports`);
    // Each namespace has a door of its own on the gateway: ports clash only within a namespace.
    const n = svc.metadata.namespace!;
    if (!used.has(n)) used.set(n, namespacePortsInUse(state, n));
    problems.push(...portConflicts(id, ports, used.get(n)!).map((m) => `${id}: ${m}`));
    used.get(n)!.push(...ports.map((p) => ({ port: p.port, protocol: p.protocol, owner: id })));
    candidates.push({ service: svc, ports, fqdn: `${svc.metadata.name}.${n}.svc.${install.clusterDomain}`, userRoutes: [], ruleChanges: [] });
  }
  return { candidates, alreadyMigrated, problems };
}

/**
 * Each namespace's shard of acmg's state (one ConfigMap) must be able to hold its migrations,
 * approach 2's copies of the original Services included: refused now rather than failing halfway.
 */
function stateSizeProblems(state: State, candidates: Candidate[], approach: Approach, suffix: string): string[] {
  const problems: string[] = [];
  for (const [n, bytes] of projectedShardBytes(state, candidates, approach, suffix)) {
    if (fitsInState(bytes)) continue;
    const here = candidates.filter((c) => c.service.metadata.namespace === n).length;
    const already = Object.values(state.migrations).filter((m) => m.namespace === n).length;
    problems.push(
      `namespace ${n}: acmg's state for it (ConfigMap ${shardName(n)}) would grow to ${bytes} bytes with these ${here} migration(s), over the 1 MiB a ConfigMap can hold (${already} migrated there already); migrate fewer of its services${approach === 'replace-service' ? ', or use --keep-service, which keeps no copy of each Service' : ''}`,
    );
  }
  return problems;
}

/**
 * Cluster DNS must be writable before anything changes: a malformed Corefile, an unsupported layout,
 * a hand-edited acmg region, or a write that would not fit (a ConfigMap holds 1 MiB) is reported
 * now, from the DNS step's own write computed on the same read, not after routes exist.
 */
/**
 * The user's VirtualServices and DestinationRule that route each candidate for sidecars (in the
 * candidates' namespaces; one paged list of each per namespace), the rules among them that cannot
 * hold at the gateway (acceptable with --accept-rule-changes), and the objects of someone else's
 * that hold a name acmg would write (never acceptable: acmg would take them over).
 */
async function userRoutesOf(
  kube: KubeApi,
  install: InstallRecord,
  state: State,
  candidates: Candidate[],
  approach: Approach,
): Promise<{ ruleChanges: string[]; conflicts: string[] }> {
  const api = routingApiOf(install.values);
  const namespaces = [...new Set(candidates.map((c) => c.service.metadata.namespace!))].sort();
  // Namespaces are independent (each reads its own lists and fills its own candidates): a few at
  // a time (one after another, 100 namespaces took 2 s of a 10,000-service plan, issue #25), each
  // with its own findings, joined in namespace order so the plan reads the same every run.
  const found = namespaces.map((n) => ({ n, refused: [] as string[], conflicts: [] as string[] }));
  await forEachBounded(found, async ({ n, refused, conflicts }) => {
    const here = candidates.filter((c) => c.service.metadata.namespace === n);
    // Names acmg will write: an object of that name it did not make is someone else's, never taken over.
    const ours = new Set(here.map((c) => routeName(c.service.metadata.name)));
    const notOurs = (o: KObject, what: string) => {
      if (ours.has(o.metadata.name) && !isAcmgObject(o))
        conflicts.push(`${what} ${n}/${o.metadata.name} exists and is not acmg's: acmg would write its route there (rename that object)`);
    };
    const virtualServices: KObject[] = [];
    await listPages(kube, 'networking.istio.io/v1', 'VirtualService', { namespace: n }, (vs) => {
      if (api === 'istio') notOurs(vs, 'VirtualService');
      virtualServices.push(vs);
    });
    if (approach === 'replace-service') {
      const suffix = install.values.migration.replacementSuffix;
      const replacements = new Map(here.map((c) => [replacementName(c.service.metadata.name, suffix), c.service.metadata.name]));
      await listPages(kube, 'v1', 'Service', { namespace: n }, (svc) => {
        const of = replacements.get(svc.metadata.name);
        if (of && svc.metadata.labels?.['acmg.io/replaces'] !== of)
          conflicts.push(
            `Service ${n}/${svc.metadata.name} exists and is not acmg's replacement for ${of}: --replace-service would take it over (rename it, or set migration.replacementSuffix)`,
          );
      });
    }
    const destinationRules: KObject[] = [];
    await listPages(kube, 'networking.istio.io/v1', 'DestinationRule', { namespace: n }, (dr) => {
      if (approach === 'replace-service') notOurs(dr, 'DestinationRule');
      destinationRules.push(dr);
    });
    // GAMMA routes: HTTPRoutes carried with the Gateway API, named with Istio's; GRPCRoutes,
    // TCPRoutes and TLSRoutes named with either (at an older version where that is all the cluster
    // serves; none of a kind whose CRD is missing).
    const httpRoutes: KObject[] = [];
    const uncarriedRoutes: KObject[] = [];
    const portRoutes = new Set(here.flatMap((c) => c.ports.map((p) => `${routeKindFor(p.protocol)}/${portRouteName(c.service.metadata.name, p.port)}`)));
    for (const kind of ['HTTPRoute', ...UNCARRIED_MESH_ROUTE_KINDS] as const)
      await listPagesIfServed(kube, ROUTE_READ_VERSIONS[kind], kind, { namespace: n }, (o) => {
        if (api === 'gateway-api' && portRoutes.has(`${kind}/${o.metadata.name}`) && !isAcmgObject(o))
          conflicts.push(`${kind} ${n}/${o.metadata.name} exists and is not acmg's: acmg would write its route there (rename that object)`);
        (kind === 'HTTPRoute' ? httpRoutes : uncarriedRoutes).push(o);
      });
    const replacedServices = replacedIn(state, here, approach, n);
    for (const c of here) {
      const r = renderServiceRouting({
        service: c.service.metadata.name,
        namespace: n,
        approach,
        api,
        httpRoutes,
        uncarriedRoutes,
        replacedServices,
        clusterDomain: install.clusterDomain,
        installNamespace: install.values.namespace,
        replacementSuffix: install.values.migration.replacementSuffix,
        ports: c.ports.map((p) => ({ ...p, listenerPort: 0 })),
        virtualServices,
        destinationRules,
        version: VERSION,
      });
      c.userRoutes = r.userRoutes;
      if (r.destinationRule) c.destinationRule = r.userRule;
      // One per rule (a refused subset is named once per port).
      c.ruleChanges = [...new Map(r.refused.map((x) => [x.key, x])).values()];
      refused.push(...r.refused.map((x) => x.message));
      // A route made of the user's rules must pass the API server's own validation (the CRD's
      // limits: 16 rules, 16 headers a match once Host is added, ...): judged by a dry run now,
      // never found by the route step halfway through the run.
      if (api === 'gateway-api' && r.userRoutes.length)
        for (const o of r.objects.filter((x) => x.apiVersion.startsWith('gateway.networking.k8s.io/'))) {
          try {
            await kube.apply(o, { dryRun: true });
          } catch (e) {
            if (!(e instanceof ApiError) || ![400, 404, 422].includes(e.status)) throw e;
            if (e.status === 404)
              conflicts.push(
                `${o.kind} ${n}/${o.metadata.name}: the API server does not serve ${o.apiVersion} ${o.kind}, which acmg writes (install the Gateway API's CRDs at v1.5 or later, experimental channel)`,
              );
            else
              conflicts.push(
                `${o.kind} ${n}/${o.metadata.name}, made of the rules of ${r.userRoutes.map(routeId).join(', ')}, is refused by the API server: ${e.message.replace(`${e.method} ${e.path}: `, '')} (fewer rules or matches in those routes: acmg adds a Host header match to each)`,
              );
          }
        }
    }
  });
  return { ruleChanges: [...new Set(found.flatMap((f) => f.refused))], conflicts: [...new Set(found.flatMap((f) => f.conflicts))] };
}

/** The Services of a namespace whose traffic goes to a replacement once this run is through: migrated with --replace-service, or this run's with it. */
export function replacedIn(state: Pick<State, 'migrations'>, candidates: Candidate[], approach: Approach, namespace: string): string[] {
  const earlier = Object.values(state.migrations).filter((m) => m.namespace === namespace && m.approach === 'replace-service' && m.phase !== 'rolling-back');
  const now = approach === 'replace-service' ? candidates.filter((c) => c.service.metadata.namespace === namespace).map((c) => c.service.metadata.name) : [];
  return [...new Set([...earlier.map((m) => m.service), ...now])].sort();
}

/**
 * Mesh security policies whose meaning the move changes (plan/mesh-security.ts): read from the
 * candidates' namespaces and Istio's root namespace (PeerAuthentications from every namespace),
 * with the pods' labels where a workload policy may select them. No Istio security CRDs: none.
 */
async function securityPolicyChanges(kube: KubeApi, install: InstallRecord, candidates: Candidate[]): Promise<string[]> {
  const namespaces = [...new Set(candidates.map((c) => c.service.metadata.namespace!))].sort();
  const policies: KObject[] = [];
  const list = (kind: string, namespace?: string) =>
    listPagesIfServed(kube, SECURITY_VERSION, kind, namespace ? { namespace } : {}, (o) => void policies.push(o));
  // A few namespaces at a time, then sorted (kind, namespace, name) whatever order the lists came back in.
  await forEachBounded([...new Set([...namespaces, ISTIO_ROOT_NAMESPACE])], async (n) => {
    await list('AuthorizationPolicy', n);
    await list('RequestAuthentication', n);
  });
  policies.sort((a, b) => `${a.kind} ${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.kind} ${b.metadata.namespace}/${b.metadata.name}`));
  await list('PeerAuthentication');
  if (!policies.length) return [];
  const workloadPolicyIn = new Set(policies.filter((p) => p.kind !== 'PeerAuthentication').map((p) => p.metadata.namespace));
  const pods = new Map<string, Record<string, string>[]>();
  for (const n of namespaces) {
    if (!workloadPolicyIn.has(n) && !workloadPolicyIn.has(ISTIO_ROOT_NAMESPACE)) continue;
    const labels: Record<string, string>[] = [];
    await listPages(kube, 'v1', 'Pod', { namespace: n }, (p) => void labels.push(p.metadata.labels ?? {}));
    pods.set(n, labels);
  }
  return describePolicyChanges({
    services: candidates.map((c) => ({ namespace: c.service.metadata.namespace!, service: c.service.metadata.name, selector: c.service.spec?.selector ?? {} })),
    pods,
    policies,
    rootNamespace: ISTIO_ROOT_NAMESPACE,
    gatewayPrincipal: `cluster.local/ns/${install.values.namespace}/sa/${install.values.gateway.name}`,
  });
}

async function dnsProblems(kube: KubeApi, install: InstallRecord, entries: DnsEntry[], force: boolean): Promise<{ reloads: boolean; problems: string[] }> {
  try {
    const d = await currentDnsEntries(kube, dnsSettings(install), { mutate: switchedTo(entries), force });
    const tampered = d.tampered.length && !force ? d.tampered.map((t) => `cluster DNS: ${t} (re-run with --force to let acmg rewrite its region)`) : [];
    return { reloads: d.layout.reloads, problems: tampered };
  } catch (e) {
    if (!(e instanceof AcmgError) || e.code !== ExitCode.Usage) throw e;
    return { reloads: true, problems: [`cluster DNS: ${e.message}${e.hint ? ` (${e.hint})` : ''}`] };
  }
}

/** Reads the cluster once and decides everything; refuses (exit 2, nothing written) with every problem. */
export async function planMigration(kube: KubeApi, sel: Selection, req: MigrateRequest): Promise<MigratePlan> {
  const { install, state } = await requireInstall(kube);
  const g = install.values.gateway;
  const ns = install.values.namespace;
  const dep = await kube.get('apps/v1', 'Deployment', g.name, ns);
  if (!dep || !deploymentAvailable(dep))
    throw new AcmgError(
      ExitCode.Cluster,
      `the gateway Deployment ${ns}/${g.name} is not Available`,
      `check it with: kubectl -n ${ns} describe deployment ${g.name}`,
    );
  const gatewayIP = await gatewayClusterIP(kube, install);
  const force = Boolean(req.force);

  const { services, problems: selectionProblems } = await selectServices(kube, sel, install, state);
  const { candidates, alreadyMigrated, problems } = judgeServices(services, install, state, req.approach);
  problems.unshift(...selectionProblems);
  let dnsReloads = true;
  let ruleChanges: string[] = [];
  let policyChanges: string[] = [];
  if (candidates.length) {
    problems.push(...stateSizeProblems(state, candidates, req.approach, install.values.migration.replacementSuffix));
    const routing = await userRoutesOf(kube, install, state, candidates, req.approach);
    ruleChanges = routing.ruleChanges;
    problems.push(...routing.conflicts);
    if (ruleChanges.length && !req.acceptRuleChanges)
      problems.push(
        ...ruleChanges.map((r) => {
          const api = routingApiOf(install.values);
          const kind = r.slice(0, r.indexOf(' '));
          if (uncarriedMeshRouteKinds(api).includes(kind) || (api === 'istio' && kind === 'HTTPRoute'))
            return `${r} (--accept-rule-changes migrates anyway, without that route's rules at the gateway)`;
          if (kind === 'HTTPRoute' || kind === 'GRPCRoute') return `${r} (--accept-rule-changes migrates anyway, carrying the route as this says)`;
          return `${r} (the gateway applies the rest of this VirtualService; --accept-rule-changes migrates anyway, without this rule at the gateway)`;
        }),
      );
    policyChanges = await securityPolicyChanges(kube, install, candidates);
    if (policyChanges.length && !req.acceptPolicyChanges)
      problems.push(
        ...policyChanges.map(
          (r) =>
            `${r} (--accept-policy-changes migrates anyway; where the policy should hold, put its equivalent on the gateway: a policy in ${install.values.namespace} selecting the gateway's pods, matching the services' hosts)`,
        ),
      );
    // A namespace without a door yet gets one in the gateway-ports step: the shared gateway's
    // address stands in for its (same family, so the same size in the Corefile).
    const doors = await doorAddresses(kube, install);
    const dns = await dnsProblems(
      kube,
      install,
      gatewayEntries(candidates, (n) => doors.get(n) ?? gatewayIP),
      force,
    );
    dnsReloads = dns.reloads;
    problems.push(...dns.problems);
  }
  if (problems.length) throw usageError(problems, 'nothing was changed; fix these and run migrate again');

  return {
    install,
    gatewayIP,
    candidates,
    alreadyMigrated,
    approach: req.approach,
    restart: Boolean(req.restart || install.values.migration.restart),
    force,
    onFailure: req.noRollback ? 'leave' : 'rollback',
    dnsReloads,
    ruleChanges,
    policyChanges,
    replaced: Object.fromEntries(
      [...new Set(candidates.map((c) => c.service.metadata.namespace!))].sort().map((n) => [n, replacedIn(state, candidates, req.approach, n)]),
    ),
    ...(req.origin ? { origin: req.origin } : {}),
  };
}
