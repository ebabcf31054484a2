// acmg migrate / rollback: move services' traffic onto the gateway one journaled step at a time,
// and back. Order (issue #7): checks -> gateway ports -> routes (+ replacement) -> DNS in one write,
// verified -> sidecar injection off (+ restart) -> approach 2 deletes the original last.
import { AcmgError, ExitCode, clusterError, usageError } from '../errors.js';
import type { DnsEntry } from '../coredns/region.js';
import { describeWrong, waitForAnswers, type Resolver } from '../dns/resolver.js';
import { ApiError, explainApiError, listPages, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import { currentDnsEntries, updateDnsEntries } from '../kube/dns-store.js';
import { makeDnsChangeTakeEffect, reloadNudge, RESTART_STEP } from './coredns-restart.js';
import { readState, updateState } from '../kube/state.js';
import { dnsSettings, requireInstall } from './install-record.js';
import { migrationKey, shardName, type Approach, type InstallRecord, type MigrationRecord, type State, type StepName } from '../model/state.js';
import { classifyPort, isProblem, portConflicts, type ClassifiedPort, type PortUse } from '../model/ports.js';
import { fitsInState, projectedShardBytes } from '../plan/state-size.js';
import { keepableService, renderReplacementService, renderVirtualService, replacementName, routeName } from '../render/routes.js';
import { VERSION } from '../version.js';
import { forEachBounded } from './bounded.js';
import { portsInUse } from './gateway-ports.js';
import { gatewayClusterIP, syncGatewayPorts, waitForGatewayEndpoints } from './gateway-sync.js';
import { DEFAULT_ROLLOUT_TIMEOUT_MS, deploymentAvailable, rolloutRestart, waitForDeployment } from './wait.js';

import { checkSelection, type Selection } from '../plan/selection.js';

export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'];
const INJECTION = 'istio-injection';

export type { Selection } from '../plan/selection.js';

export interface MigrateOptions {
  approach: Approach;
  restart?: boolean;
  noRollback?: boolean;
  force?: boolean;
  dnsTimeoutMs: number;
  readinessTimeoutMs: number;
  resolver?: Resolver;
  task: Task;
  /** Called after each step has run and been journaled (tests observe or interrupt a run here). */
  afterStep?: (step: MigrationStepName) => Promise<void> | void;
}

export type Task = <T>(title: string, fn: (update: (text: string) => void) => Promise<T>) => Promise<T>;

export interface Candidate {
  service: KObject;
  ports: ClassifiedPort[];
  fqdn: string;
}

export interface MigratePlan {
  install: InstallRecord;
  gatewayIP: string;
  candidates: Candidate[];
  alreadyMigrated: string[];
  steps: string[];
  /** Restart the namespaces' Deployments after the relabel: --restart, or migration.restart. */
  restart: boolean;
  approach: Approach;
  /** false where the Corefile has no reload plugin: CoreDNS is restarted after the DNS write. */
  dnsReloads: boolean;
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

export async function planMigration(kube: KubeApi, sel: Selection, opts: Pick<MigrateOptions, 'approach' | 'restart' | 'force'>): Promise<MigratePlan> {
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
  const suffix = install.values.migration.replacementSuffix;

  const { services, problems } = await selectServices(kube, sel, install, state);
  const used: PortUse[] = portsInUse(install.values, state);
  const candidates: Candidate[] = [];
  const alreadyMigrated: string[] = [];
  for (const svc of services) {
    const id = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const rec = state.migrations[migrationKey(svc.metadata.namespace!, svc.metadata.name)];
    if (rec?.phase === 'complete') {
      if (rec.approach !== opts.approach) problems.push(`${id} is already migrated with --${rec.approach}; roll it back first to switch approach`);
      else alreadyMigrated.push(id);
      continue;
    }
    if (svc.metadata.labels?.['app.kubernetes.io/managed-by'] === 'acmg') {
      problems.push(`${id} is managed by acmg (a replacement Service); migrate the original instead`);
      continue;
    }
    if (svc.spec?.type === 'ExternalName') problems.push(`${id} is an ExternalName Service; it has no ClusterIP to move`);
    else if (!svc.spec?.clusterIP || svc.spec.clusterIP === 'None')
      problems.push(`${id} is headless (clusterIP: None); clients reach its pods directly, so there is no traffic to move`);
    const classified: ReturnType<typeof classifyPort>[] = (svc.spec?.ports ?? []).map(classifyPort);
    const bad = classified.filter(isProblem);
    for (const b of bad) problems.push(`${id} port ${b.port}${b.name ? ` (${b.name})` : ''}: ${b.problem}`);
    const ports = classified.filter((p): p is ClassifiedPort => !isProblem(p));
    if (ports.length === 0 && bad.length === 0) problems.push(`${id} has no ports`);
    for (const p of ports) if (p.port === install.values.gateway.statusPort) problems.push(`${id} port ${p.port} collides with the gateway's status port`);
    problems.push(...portConflicts(id, ports, used).map((m) => `${id}: ${m}`));
    used.push(...ports.map((p) => ({ port: p.port, protocol: p.protocol, owner: id })));
    candidates.push({ service: svc, ports, fqdn: `${svc.metadata.name}.${svc.metadata.namespace}.svc.${install.clusterDomain}` });
  }
  // Each namespace's shard of acmg's state (one ConfigMap) must be able to hold its migrations,
  // approach 2's copies of the original Services included: refuse now rather than fail halfway.
  if (candidates.length) {
    for (const [n, bytes] of projectedShardBytes(state, candidates, opts.approach, suffix)) {
      if (fitsInState(bytes)) continue;
      const here = candidates.filter((c) => c.service.metadata.namespace === n).length;
      const already = Object.values(state.migrations).filter((m) => m.namespace === n).length;
      problems.push(
        `namespace ${n}: acmg's state for it (ConfigMap ${shardName(n)}) would grow to ${bytes} bytes with these ${here} migration(s), over the 1 MiB a ConfigMap can hold (${already} migrated there already); migrate fewer of its services${opts.approach === 'replace-service' ? ', or use --keep-service, which keeps no copy of each Service' : ''}`,
      );
    }
  }
  // Cluster DNS must be writable before anything changes: a malformed Corefile, an unsupported
  // layout or a hand-edited acmg region is reported now, not after routes exist.
  let dnsReloads = true;
  if (candidates.length) {
    try {
      // With the DNS step's write computed from the same read: one that would not fit (a ConfigMap
      // holds 1 MiB) is refused now, with the number that fits, instead of rolling back routes later.
      const d = await currentDnsEntries(kube, dnsSettings(install), { mutate: switchedTo(gatewayEntries(candidates, gatewayIP)), force: opts.force });
      dnsReloads = d.layout.reloads;
      if (d.tampered.length && !opts.force) problems.push(...d.tampered.map((t) => `cluster DNS: ${t} (re-run with --force to let acmg rewrite its region)`));
    } catch (e) {
      if (!(e instanceof AcmgError) || e.code !== ExitCode.Usage) throw e;
      problems.push(`cluster DNS: ${e.message}${e.hint ? ` (${e.hint})` : ''}`);
    }
  }
  if (problems.length) throw usageError(problems, 'nothing was changed; fix these and run migrate again');

  const restart = Boolean(opts.restart || install.values.migration.restart);
  const plan: MigratePlan = { install, gatewayIP, candidates, alreadyMigrated, steps: [], restart, approach: opts.approach, dnsReloads };
  plan.steps = migrationSteps(plan, opts).flatMap((st) => st.describe);
  return plan;
}

const gatewayEntries = (candidates: Candidate[], gatewayIP: string): DnsEntry[] => candidates.map((c) => ({ fqdn: c.fqdn, ip: gatewayIP }));

/** The DNS step's change: these names answer the gateway, every other entry stays (a Set: 10,000 names). */
function switchedTo(entries: DnsEntry[]): (current: DnsEntry[]) => DnsEntry[] {
  const switching = new Set(entries.map((e) => e.fqdn));
  return (current) => [...current.filter((e) => !switching.has(e.fqdn)), ...entries];
}

async function journal(kube: KubeApi, install: InstallRecord, keys: string[], step: StepName, patch: (m: MigrationRecord) => void = () => {}): Promise<void> {
  await updateState(
    kube,
    install.values.namespace,
    (st) => {
      for (const k of keys) {
        const m = st.migrations[k];
        if (!m) continue;
        if (!m.journal.includes(step)) m.journal.push(step);
        patch(m);
      }
    },
    scopeOf(keys),
  );
}

/** The shards of acmg's state a change to these migration keys touches. */
const scopeOf = (keys: string[]) => ({ namespaces: [...new Set(keys.map((k) => k.slice(0, k.indexOf('/'))))] });

export interface MigrateResult {
  migrated: string[];
  alreadyMigrated: string[];
  gatewayIP: string;
  /** ConfigMap writes to cluster DNS made by this run (the design wants exactly one). */
  dnsWrites: number;
}

/** Steps that are not journal entries: the run's records are written first and marked complete last. */
export type MigrationStepName = StepName | 'record' | 'complete';

interface RunContext {
  kube: KubeApi;
  plan: MigratePlan;
  o: MigrateOptions;
  keys: string[];
  dnsWrites: number;
}

/**
 * One step of a migration, as data: `describe` is what --dry-run and the confirmation show, `run`
 * does it and journals it, `undoneBy` names the rollback phase that reverts it. The same list
 * drives the plan, the apply and the journal, so the dry run cannot drift from what runs.
 */
export interface MigrationStep {
  name: MigrationStepName;
  describe: string[];
  run(ctx: RunContext): Promise<void>;
  undoneBy: RollbackPhaseName;
}

const keyOf = (c: Candidate) => migrationKey(c.service.metadata.namespace!, c.service.metadata.name);
const namespacesOf = (plan: MigratePlan) => [...new Set(plan.candidates.map((c) => c.service.metadata.namespace!))].sort();

/** The steps of a migration, in the order issue #7 fixed: nothing user-visible changes before DNS. */
export function migrationSteps(plan: MigratePlan, opts: Pick<MigrateOptions, 'approach'>): MigrationStep[] {
  const { install, gatewayIP } = plan;
  const ns = install.values.namespace;
  const g = install.values.gateway;
  const suffix = install.values.migration.replacementSuffix;
  const approach = opts.approach;
  if (plan.candidates.length === 0) return [];
  const ports = [...new Set(plan.candidates.flatMap((c) => c.ports.map((p) => `${p.port}/${p.protocol}`)))].join(', ');
  const steps: MigrationStep[] = [
    {
      name: 'record',
      describe: [],
      undoneBy: 'forget',
      run: ({ kube }) =>
        updateState(
          kube,
          ns,
          (st) => {
            for (const c of plan.candidates) {
              st.migrations[keyOf(c)] ??= {
                namespace: c.service.metadata.namespace!,
                service: c.service.metadata.name,
                approach,
                fqdn: c.fqdn,
                ports: c.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
                journal: [],
                phase: 'in-progress',
                migratedAt: new Date().toISOString(),
              };
            }
          },
          { namespaces: namespacesOf(plan) },
        ).then(() => undefined),
    },
    {
      name: 'gateway-ports',
      describe: [`open gateway ports ${ports} on Service ${ns}/${g.name} and Gateway ${ns}/${install.values.istioGateway.name}`],
      undoneBy: 'close-ports',
      run: async ({ kube, o, keys }) => {
        await o.task('open gateway ports', async () => {
          const open = await syncGatewayPorts(kube, install);
          const names = open.filter((p) => plan.candidates.some((c) => c.ports.some((q) => q.port === p.port))).map((p) => p.name);
          await waitForGatewayEndpoints(kube, install, names, o.readinessTimeoutMs);
        });
        await journal(kube, install, keys, 'gateway-ports');
      },
    },
    {
      // Approach 2: the replacement Service first, so the route has a destination.
      name: 'route',
      describe: plan.candidates.flatMap((c) => {
        const n = c.service.metadata;
        return [
          ...(approach === 'replace-service' ? [`create Service ${n.namespace}/${replacementName(n.name, suffix)} (same selector and ports)`] : []),
          `create VirtualService ${n.namespace}/${routeName(n.name)} (hosts ${c.fqdn} and short forms -> ${approach === 'replace-service' ? replacementName(n.name, suffix) : n.name})`,
        ];
      }),
      undoneBy: 'remove-routes',
      run: async ({ kube, o, keys }) => {
        await o.task(`create routes for ${plan.candidates.length} service(s)`, async () => {
          await forEachBounded(plan.candidates, async (c) => {
            const svc = c.service;
            if (approach === 'replace-service') await kube.apply(renderReplacementService(svc, suffix, VERSION));
            await kube.apply(
              renderVirtualService({
                service: svc.metadata.name,
                namespace: svc.metadata.namespace!,
                clusterDomain: install.clusterDomain,
                gateway: { namespace: ns, name: install.values.istioGateway.name },
                destination: approach === 'replace-service' ? replacementName(svc.metadata.name, suffix) : svc.metadata.name,
                ports: c.ports,
                version: VERSION,
              }),
            );
          });
        });
        if (approach === 'replace-service')
          await journal(kube, install, keys, 'replacement-service', (m) => (m.replacement = replacementName(m.service, suffix)));
        await journal(kube, install, keys, 'route');
      },
    },
    {
      // Every service of the run in one CoreDNS write, then wait for the real answers.
      name: 'dns',
      describe: [
        `switch DNS in one CoreDNS write: ${plan.candidates.map((c) => c.fqdn).join(', ')} -> ${gatewayIP}, then wait until DNS answers it`,
        ...(plan.dnsReloads ? [] : [RESTART_STEP]),
      ],
      undoneBy: 'remove-dns',
      run: async (ctx) => {
        const { kube, o, keys } = ctx;
        const entries = gatewayEntries(plan.candidates, gatewayIP);
        const w = await o.task('switch DNS (one CoreDNS write)', () => updateDnsEntries(kube, dnsSettings(install), switchedTo(entries), { force: o.force }));
        ctx.dnsWrites += w.writes;
        if (w.writes) await makeDnsChangeTakeEffect(kube, dnsSettings(install), w.layout.reloads, { task: o.task, timeoutMs: o.readinessTimeoutMs });
        await journal(kube, install, keys, 'dns');
        if (o.resolver) {
          const r = o.resolver;
          await o.task(`wait for DNS to answer ${gatewayIP} (via ${r.describe})`, async (update) => {
            const nudge = reloadNudge(kube, dnsSettings(install), w.layout, o, (n) => (ctx.dnsWrites += n));
            const wrong = await waitForAnswers(r, new Map(entries.map((e) => [e.fqdn, e.ip])), { timeoutMs: o.dnsTimeoutMs, onProgress: update, nudge });
            if (wrong.length)
              throw clusterError(
                wrong.map((x) => `DNS for ${describeWrong(x)}`),
                'CoreDNS may not have reloaded yet; check its logs, or raise --dns-timeout',
              );
          });
        }
      },
    },
    {
      // Only now: sidecar injection off in each namespace (previous value recorded), optional restart.
      name: 'injection-label',
      describe: namespacesOf(plan).map((n) => `label namespace ${n} ${INJECTION}=disabled${plan.restart ? ' and restart its Deployments' : ''}`),
      undoneBy: 'restore-labels',
      run: async ({ kube, o, keys }) => {
        for (const n of namespacesOf(plan)) {
          const nsKeys = keys.filter((k) => k.startsWith(`${n}/`));
          await o.task(`label namespace ${n} ${INJECTION}=disabled`, async () => {
            const nsObj = await kube.get('v1', 'Namespace', n);
            const previous = nsObj?.metadata.labels?.[INJECTION] ?? null;
            await updateState(
              kube,
              ns,
              (st) => {
                // Another migration in this namespace may have recorded the true original already.
                const earlier = Object.values(st.migrations).find((m) => m.namespace === n && m.previousInjection !== undefined);
                for (const k of nsKeys) if (st.migrations[k]) st.migrations[k]!.previousInjection = earlier ? earlier.previousInjection : previous;
              },
              { namespaces: [n] },
            );
            if (previous !== 'disabled') await kube.mergePatch('v1', 'Namespace', n, undefined, { metadata: { labels: { [INJECTION]: 'disabled' } } });
          });
          await journal(kube, install, nsKeys, 'injection-label');
          if (plan.restart) {
            await o.task(`restart Deployments in ${n} (sidecars go)`, (update) => restartDeployments(kube, n, o.readinessTimeoutMs, update));
            await journal(kube, install, nsKeys, 'restart');
          }
        }
      },
    },
  ];
  if (approach === 'replace-service') {
    steps.push({
      // The original Service goes last; its definition is kept for rollback.
      name: 'delete-original',
      describe: plan.candidates.map((c) => `delete Service ${c.service.metadata.namespace}/${c.service.metadata.name} (kept in acmg's state for rollback)`),
      undoneBy: 'recreate-originals',
      run: async ({ kube, o }) => {
        // Per namespace: every definition is kept (one state write) before any Service goes, so an
        // interruption between the deletes leaves each deleted one recreatable by the rollback
        // (it recreates any recorded original that is missing, journal or not).
        for (const n of namespacesOf(plan)) {
          const here = plan.candidates.filter((c) => c.service.metadata.namespace === n);
          const keys = here.map(keyOf);
          await updateState(
            kube,
            ns,
            (st) => {
              for (const c of here) if (st.migrations[keyOf(c)]) st.migrations[keyOf(c)]!.originalService = keepableService(c.service);
            },
            scopeOf(keys),
          );
          await o.task(`delete ${here.length} original Service(s) in ${n}`, async () => {
            await forEachBounded(here, (c) => kube.delete('v1', 'Service', c.service.metadata.name, n));
          });
          await journal(kube, install, keys, 'delete-original');
        }
      },
    });
  }
  steps.push({
    name: 'complete',
    describe: [],
    undoneBy: 'forget',
    run: ({ kube, keys }) =>
      updateState(
        kube,
        ns,
        (st) => {
          for (const k of keys) if (st.migrations[k]) st.migrations[k]!.phase = 'complete';
        },
        scopeOf(keys),
      ).then(() => undefined),
  });
  return steps;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Runs the plan's steps in order; on a failure rolls this run back (unless --no-rollback). */
export async function applyMigration(kube: KubeApi, plan: MigratePlan, o: MigrateOptions): Promise<MigrateResult> {
  const { install, gatewayIP } = plan;
  const ctx: RunContext = { kube, plan, o, keys: plan.candidates.map(keyOf), dnsWrites: 0 };
  try {
    for (const step of migrationSteps(plan, o)) {
      await step.run(ctx);
      await o.afterStep?.(step.name);
    }
    return { migrated: ctx.keys, alreadyMigrated: plan.alreadyMigrated, gatewayIP, dnsWrites: ctx.dnsWrites };
  } catch (e) {
    // Every problem of the cause is kept (a DNS wait reports one per name), and its exit code.
    const cause = explainApiError(e);
    const code = cause instanceof AcmgError ? cause.code : ExitCode.Cluster;
    const problems = cause instanceof AcmgError ? cause.problems : [message(cause)];
    if (o.noRollback) {
      throw new AcmgError(
        code,
        [`migration failed: ${problems[0]}`, ...problems.slice(1)],
        'left as is (--no-rollback); `acmg migrate` again converges, `acmg rollback` undoes it',
      );
    }
    try {
      await o.task('roll back this run', () =>
        rollbackMigrations(kube, install, ctx.keys, { resolver: o.resolver, dnsTimeoutMs: o.dnsTimeoutMs, task: o.task }),
      );
    } catch (rollbackError) {
      throw new AcmgError(
        code,
        [`migration failed: ${problems[0]}`, ...problems.slice(1), `the automatic rollback failed too: ${message(explainApiError(rollbackError))}`],
        "what was done is journaled in acmg's state: run `acmg rollback` for these services to finish undoing it, or `acmg migrate` again to finish the migration",
      );
    }
    throw new AcmgError(
      code,
      [`migration failed and was rolled back: ${problems[0]}`, ...problems.slice(1)],
      cause instanceof AcmgError ? cause.hint : undefined,
    );
  }
}

/** A rolling restart of every Deployment in a namespace (as kubectl rollout restart), waited for. */
async function restartDeployments(kube: KubeApi, namespace: string, timeoutMs: number, update: (t: string) => void): Promise<void> {
  const deps = (await kube.list('apps/v1', 'Deployment', { namespace })).items;
  const at = new Date().toISOString();
  for (const d of deps) await rolloutRestart(kube, namespace, d.metadata.name, at);
  for (const d of deps) await waitForDeployment(kube, namespace, d.metadata.name, timeoutMs, (t) => update(`${d.metadata.name}: ${t}`));
}

export interface RollbackOptions {
  resolver?: Resolver;
  dnsTimeoutMs: number;
  task: MigrateOptions['task'];
  /** Restart the Deployments of namespaces whose injection label was restored, so sidecars come back. */
  restart?: boolean;
  readinessTimeoutMs?: number;
}

interface RollbackContext {
  kube: KubeApi;
  install: InstallRecord;
  keys: string[];
  /** The migrations being undone, with their journals. */
  records: MigrationRecord[];
  /** Migrations that stay: a namespace keeps injection off while one of its services stays migrated. */
  remaining: MigrationRecord[];
  /** Namespaces whose injection label was restored (their Deployments restart with --restart). */
  restored: string[];
  o: RollbackOptions;
}

export type RollbackPhaseName = 'recreate-originals' | 'restore-labels' | 'remove-dns' | 'restart-workloads' | 'remove-routes' | 'forget' | 'close-ports';

/**
 * Recreates a Service approach 2 deleted, keeping its ClusterIP (clients and caches know it). A
 * deleted Service's IP is released asynchronously, so "already allocated" (422) is retried for a
 * while before giving up on it.
 */
async function recreateOriginal(kube: KubeApi, original: KObject, update: (text: string) => void): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await kube.create(original);
      return;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) return; // recreated meanwhile (another rollback)
      if (!(e instanceof ApiError) || e.status !== 422) throw e;
      if (Date.now() > deadline) break;
      update(`waiting for ClusterIP ${original.spec?.clusterIP} of ${original.metadata.namespace}/${original.metadata.name} to be released`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const { clusterIP: _ip, clusterIPs: _ips, ...spec } = original.spec ?? {};
  await kube.create({ ...original, spec });
}

/**
 * The rollback, as data: each phase undoes what one migration step did (MigrationStep.undoneBy),
 * judged from the journal, so interrupted runs are undone too. The order is not a mirror of the
 * apply: original Services come back first so their names resolve on their own; sidecars come back
 * only once DNS answers the services' own addresses; ports close once no migration needs them.
 */
const ROLLBACK_PHASES: { name: RollbackPhaseName; run(c: RollbackContext): Promise<void> }[] = [
  {
    name: 'recreate-originals',
    async run({ kube, records, o }) {
      // Which originals are missing: a paged list per namespace, not a GET per Service (10,000).
      const kept = records.filter((m) => m.originalService);
      const present = new Set<string>();
      for (const n of [...new Set(kept.map((m) => m.namespace))].sort())
        await listPages(kube, 'v1', 'Service', { namespace: n }, (svc) => present.add(migrationKey(n, svc.metadata.name)));
      const missing = kept.filter((m) => !present.has(migrationKey(m.namespace, m.service)));
      if (!missing.length) return;
      await o.task(`recreate ${missing.length} original Service(s)`, async (update) => {
        let done = 0;
        await forEachBounded(missing, async (m) => {
          await recreateOriginal(kube, m.originalService!, update);
          // A line per 500 (plain output prints each update): 20 lines for 10,000.
          if (++done % 500 === 0 || done === missing.length) update(`${done}/${missing.length} recreated`);
        });
      });
    },
  },
  {
    name: 'restore-labels',
    async run(c) {
      for (const n of [...new Set(c.records.map((m) => m.namespace))].sort()) {
        const rec = c.records.find((m) => m.namespace === n && m.previousInjection !== undefined);
        if (!rec || c.remaining.some((m) => m.namespace === n)) continue;
        await c.o.task(`restore ${INJECTION} on namespace ${n}`, () =>
          c.kube.mergePatch('v1', 'Namespace', n, undefined, { metadata: { labels: { [INJECTION]: rec.previousInjection ?? null } } }),
        );
        c.restored.push(n);
      }
    },
  },
  {
    // One write (only for migrations that reached the DNS step), then each name must answer its
    // own Service again.
    name: 'remove-dns',
    async run({ kube, install, records, o }) {
      const switched = records.filter((m) => m.journal.includes('dns'));
      if (switched.length === 0) return;
      const fqdns = new Set(switched.map((m) => m.fqdn));
      const w = await o.task('remove DNS entries (one CoreDNS write)', () =>
        updateDnsEntries(kube, dnsSettings(install), (cur) => cur.filter((e) => !fqdns.has(e.fqdn)), { force: true }),
      );
      if (w.writes)
        await makeDnsChangeTakeEffect(kube, dnsSettings(install), w.layout.reloads, {
          task: o.task,
          timeoutMs: o.readinessTimeoutMs ?? DEFAULT_ROLLOUT_TIMEOUT_MS,
        });
      if (!o.resolver) return;
      const expect = new Map<string, string>();
      for (const m of switched) {
        const svc = await kube.get('v1', 'Service', m.service, m.namespace);
        if (svc?.spec?.clusterIP && svc.spec.clusterIP !== 'None') expect.set(m.fqdn, svc.spec.clusterIP);
      }
      const r = o.resolver;
      await o.task(`wait for DNS to answer the services' own ClusterIPs (via ${r.describe})`, async (update) => {
        const wrong = await waitForAnswers(r, expect, {
          timeoutMs: o.dnsTimeoutMs,
          onProgress: update,
          nudge: reloadNudge(kube, dnsSettings(install), w.layout, { ...o, force: true }),
        });
        if (wrong.length) throw clusterError(wrong.map((x) => `DNS for ${describeWrong(x)}`));
      });
    },
  },
  {
    name: 'restart-workloads',
    async run({ kube, restored, o }) {
      if (!o.restart) return;
      for (const n of restored)
        await o.task(`restart Deployments in ${n} (sidecars come back)`, (update) =>
          restartDeployments(kube, n, o.readinessTimeoutMs ?? DEFAULT_ROLLOUT_TIMEOUT_MS, update),
        );
    },
  },
  {
    name: 'remove-routes',
    async run({ kube, install, records, o }) {
      await o.task('remove routes', async () => {
        await forEachBounded(records, async (m) => {
          await kube.delete('networking.istio.io/v1', 'VirtualService', routeName(m.service), m.namespace);
          // Also a replacement created just before an interruption, before it was journaled: found by
          // its name and acmg's label, never a Service acmg did not make.
          const name = m.replacement ?? replacementName(m.service, install.values.migration.replacementSuffix);
          const svc = await kube.get('v1', 'Service', name, m.namespace);
          if (svc?.metadata.labels?.['acmg.io/replaces'] === m.service) await kube.delete('v1', 'Service', name, m.namespace);
        });
      });
    },
  },
  {
    name: 'forget',
    async run({ kube, install, keys }) {
      await updateState(
        kube,
        install.values.namespace,
        (s) => {
          for (const k of keys) delete s.migrations[k];
        },
        scopeOf(keys),
      );
    },
  },
  {
    // Ports no remaining migration needs (computed from the state, so after forgetting).
    name: 'close-ports',
    async run({ kube, install, o }) {
      await o.task('close gateway ports', () => syncGatewayPorts(kube, install));
    },
  },
];

/** Undoes migrations phase by phase (ROLLBACK_PHASES), from the journal: also interrupted runs. */
export async function rollbackMigrations(kube: KubeApi, install: InstallRecord, keys: string[], o: RollbackOptions): Promise<string[]> {
  const st = await readState(kube, install.values.namespace);
  const records = keys.map((k) => st.migrations[k]).filter((m): m is MigrationRecord => Boolean(m));
  if (records.length === 0) return [];
  const remaining = Object.values(st.migrations).filter((m) => !keys.includes(migrationKey(m.namespace, m.service)));
  const ctx: RollbackContext = { kube, install, keys, records, remaining, restored: [], o };
  for (const phase of ROLLBACK_PHASES) await phase.run(ctx);
  return records.map((m) => migrationKey(m.namespace, m.service));
}
