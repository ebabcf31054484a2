// acmg migrate, the steps: each one a record that describes itself from the plan (what --dry-run and
// the confirmation print) and runs from the plan and a runtime (task, resolver, timeouts), journaling
// what it did. Order (issue #7): gateway ports -> routes (+ replacement) -> DNS in one write,
// verified -> sidecar injection off (+ restart) -> approach 2 deletes the original last. Every step
// is undone by a phase of the rollback (ROLLBACK_PHASES in ../rollback.ts names what each undoes).
import { clusterError, usageError } from '../../errors.js';
import { describeWrong, type Resolver } from '../../dns/resolver.js';
import { ApiError, type KubeApi } from '../../kube/api.js';
import { readState, updateState } from '../../kube/state.js';
import { listenerKey, type StepName } from '../../model/state.js';
import { keepableService, renderReplacementService, replacementName, routeName } from '../../render/routes.js';
import { sortKeysDeep } from '../../render/serialize.js';
import type { KObject } from '../../model/object.js';
import { renderServiceRouting } from '../../render/gateway-routes.js';
import { doorPortName, namespaceGatewayName } from '../../render/namespace-gateway.js';
import { portRouteName, routeKindFor, routingApiOf } from '../../render/gateway-api.js';
import { VERSION } from '../../version.js';
import { forEachBounded } from '../bounded.js';
import { RESTART_STEP } from '../coredns-restart.js';
import { changeDns } from '../dns-change.js';
import { doorAddresses, syncGatewayPorts, waitForGatewayEndpoints } from '../gateway-sync.js';
import { dnsSettings } from '../install-record.js';
import { journal, updateRecords } from '../journal.js';
import type { Task } from '../task.js';
import { restartDeployments } from '../wait.js';
import { refreshNamespaceRoutes } from '../route-refresh.js';
import { gatewayEntries, keyOf, namespacesOf, switchedTo, type Candidate, type MigratePlan } from './plan.js';

const INJECTION = 'istio-injection';

/** How a plan runs here: the terminal's task lines, the DNS resolver, the waits. No decisions. */
export interface MigrateRuntime {
  task: Task;
  /** Asks DNS after the write; without one the wait for answers is skipped. */
  resolver?: Resolver;
  dnsTimeoutMs: number;
  readinessTimeoutMs: number;
  /** Called after each step has run and been journaled (tests observe or interrupt a run here). */
  afterStep?: (step: MigrationStepName) => Promise<void> | void;
}

/** Steps that are not journal entries: the run's records are written first and marked complete last. */
export type MigrationStepName = StepName | 'record' | 'complete';

/** One run of a plan: what the steps share. */
export interface StepRun {
  kube: KubeApi;
  plan: MigratePlan;
  rt: MigrateRuntime;
  keys: string[];
  /** ConfigMap writes to cluster DNS made by this run (the design wants exactly one). */
  dnsWrites: number;
  /** The address each namespace's names answer after the DNS step (its door on the gateway). */
  addresses: Record<string, string>;
}

export interface MigrationStep {
  name: MigrationStepName;
  /** Whether this plan has the step (default: every plan). */
  appliesTo?: (plan: MigratePlan) => boolean;
  describe: (plan: MigratePlan) => string[];
  run: (r: StepRun) => Promise<void>;
}

const candidatesIn = (plan: MigratePlan, namespace: string): Candidate[] => plan.candidates.filter((c) => c.service.metadata.namespace === namespace);

const destinationOf = (plan: MigratePlan, service: string) =>
  plan.approach === 'replace-service' ? replacementName(service, plan.install.values.migration.replacementSuffix) : service;

const MIGRATION_STEPS: readonly MigrationStep[] = [
  {
    name: 'record',
    describe: () => [],
    run: async ({ kube, plan }) => {
      await updateState(
        kube,
        plan.install.values.namespace,
        (st) => {
          for (const c of plan.candidates) {
            // A record made since the plan by another origin (acmg migrate, or the controller) is
            // not taken over: its rollback, automatic or by the controller, would undo the other's.
            const had = st.migrations[keyOf(c)];
            if (had && had.origin !== plan.origin)
              throw usageError(
                `${keyOf(c)} was migrated by ${had.origin === 'declarative' ? 'the controller (its mark)' : 'acmg migrate'} meanwhile; it is left as it is`,
              );
            st.migrations[keyOf(c)] ??= {
              namespace: c.service.metadata.namespace!,
              service: c.service.metadata.name,
              approach: plan.approach,
              fqdn: c.fqdn,
              ports: c.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
              journal: [],
              phase: 'in-progress',
              migratedAt: new Date().toISOString(),
              // What the user accepted (--accept-rule-changes): acmg sync carries later edits only within it.
              ...(c.ruleChanges.length ? { acceptedRuleChanges: c.ruleChanges } : {}),
              ...(plan.origin ? { origin: plan.origin } : {}),
            };
          }
        },
        { namespaces: namespacesOf(plan) },
      );
    },
  },
  {
    // Each namespace's door on the gateway: its Service, listener ports and Gateway servers.
    name: 'gateway-ports',
    describe: (plan) =>
      namespacesOf(plan).map((n) => {
        const ports = [...new Set(candidatesIn(plan, n).flatMap((c) => c.ports.map((p) => `${p.port}/${p.protocol}`)))].join(', ');
        const door = `${plan.install.values.namespace}/${namespaceGatewayName(n)}`;
        return `open the gateway's door for namespace ${n}: ports ${ports} on Service ${door} (each to a listener of its own) and Gateway ${door}`;
      }),
    run: async ({ kube, plan, rt, keys }) => {
      await rt.task('open gateway ports', async () => {
        const sync = await syncGatewayPorts(kube, plan.install, { namespaces: namespacesOf(plan) });
        // The doors' endpoints come up independently: waited for a few at a time.
        await forEachBounded(namespacesOf(plan), async (n) => {
          const door = sync.doors.get(n);
          if (!door) throw new Error(`no gateway door for namespace ${n} after the port sync`);
          const names = [...new Set(candidatesIn(plan, n).flatMap((c) => c.ports.map(doorPortName)))];
          await waitForGatewayEndpoints(kube, plan.install.values.namespace, door.name, names, rt.readinessTimeoutMs);
        });
      });
      await journal(kube, plan.install, keys, 'gateway-ports');
    },
  },
  {
    // Approach 2: the replacement Service first, so the route has a destination.
    name: 'route',
    describe: (plan) =>
      plan.candidates.flatMap((c) => {
        const n = c.service.metadata;
        const dest = destinationOf(plan, n.name);
        // ", with the rules of VirtualService a/x, a/y" (or "HTTPRoute a/x and GRPCRoute a/z"): by kind, in the order carried.
        const rulesOf = (routes: KObject[]) => {
          const byKind = new Map<string, string[]>();
          for (const v of routes) byKind.set(v.kind, [...(byKind.get(v.kind) ?? []), `${v.metadata.namespace}/${v.metadata.name}`]);
          return byKind.size ? `, with the rules of ${[...byKind].map(([kind, names]) => `${kind} ${names.join(', ')}`).join(' and ')}` : '';
        };
        const tcp = rulesOf(c.userRoutes.filter((r) => r.kind === 'TCPRoute'));
        const rules = rulesOf(c.userRoutes.filter((r) => r.kind !== 'TCPRoute'));
        const calls = `calls by ${n.name}, ${n.name}.${n.namespace}, ... and ${c.fqdn} -> ${dest}`;
        return [
          ...(plan.approach === 'replace-service' ? [`create Service ${n.namespace}/${dest} (same selector and ports)`] : []),
          ...(c.destinationRule
            ? [
                `create DestinationRule ${n.namespace}/${routeName(n.name)} for ${dest} (the subsets and traffic policy of ${n.namespace}/${c.destinationRule.metadata.name})`,
              ]
            : []),
          ...(routingApiOf(plan.install.values) === 'gateway-api'
            ? c.ports.map(
                (p) =>
                  `create ${routeKindFor(p.protocol)} ${n.namespace}/${portRouteName(n.name, p.port)} at the door of ${n.namespace}, port ${p.port} (${p.protocol === 'TCP' ? `-> ${dest}${tcp}` : `${calls}${rules}`})`,
              )
            : [`create VirtualService ${n.namespace}/${routeName(n.name)} at the door of ${n.namespace} (${calls}${rules})`]),
        ];
      }),
    run: async ({ kube, plan, rt, keys }) => {
      const { install } = plan;
      const suffix = install.values.migration.replacementSuffix;
      const api = routingApiOf(install.values);
      // The listener ports the gateway-ports step handed out: in the main ConfigMap, no shard needed.
      const { listeners } = await readState(kube, install.values.namespace, { namespaces: [] });
      await rt.task(`create routes for ${plan.candidates.length} service(s)`, async () => {
        await forEachBounded(plan.candidates, async (c) => {
          const svc = c.service;
          const n = svc.metadata.namespace!;
          const ports = c.ports.map((p) => {
            const listenerPort = listeners?.[listenerKey(n, p.port)];
            if (listenerPort === undefined) throw new Error(`no gateway listener port for ${n} port ${p.port} in acmg's state`);
            return { ...p, listenerPort };
          });
          const route = renderServiceRouting({
            service: svc.metadata.name,
            namespace: n,
            approach: plan.approach,
            api,
            clusterDomain: install.clusterDomain,
            installNamespace: install.values.namespace,
            replacementSuffix: suffix,
            ports,
            virtualServices: api === 'istio' ? c.userRoutes : [],
            httpRoutes: api === 'gateway-api' ? c.userRoutes : [],
            replacedServices: plan.replaced[n] ?? [],
            destinationRules: c.destinationRule ? [c.destinationRule] : [],
            version: VERSION,
          });
          // The replacement first: the routes' destination exists before they do.
          if (plan.approach === 'replace-service') await kube.apply(renderReplacementService(svc, suffix, VERSION));
          for (const o of route.objects) await kube.apply(o);
        });
      });
      if (plan.approach === 'replace-service') {
        // The namespace's other migrated services whose carried rules send to a service this run
        // replaces: to its replacement, before the original goes (the replacements exist now).
        const st = await readState(kube, install.values.namespace, { namespaces: namespacesOf(plan) });
        await refreshNamespaceRoutes(kube, install, st, Object.values(st.migrations), namespacesOf(plan));
        await journal(kube, install, keys, 'replacement-service', (m) => (m.replacement = replacementName(m.service, suffix)));
      }
      await journal(kube, install, keys, 'route');
    },
  },
  {
    // Every service of the run in one CoreDNS write, then wait for the real answers.
    name: 'dns',
    describe: (plan) => [
      `switch DNS in one CoreDNS write: ${namespacesOf(plan)
        .map(
          (n) =>
            `${candidatesIn(plan, n)
              .map((c) => c.fqdn)
              .join(', ')} -> the address of Service ${plan.install.values.namespace}/${namespaceGatewayName(n)}`,
        )
        .join('; ')}, then wait until DNS answers it`,
      ...(plan.dnsReloads ? [] : [RESTART_STEP]),
    ],
    run: async (r) => {
      const { kube, plan, rt, keys } = r;
      const doors = await doorAddresses(kube, plan.install);
      const entries = gatewayEntries(plan.candidates, (n) => {
        const ip = doors.get(n);
        if (!ip) throw clusterError(`the gateway's door Service for namespace ${n} has no ClusterIP`, 'check it with: acmg status');
        return ip;
      });
      for (const n of namespacesOf(plan)) r.addresses[n] = doors.get(n)!;
      const addresses = [...new Set(entries.map((e) => e.ip))].join(', ');
      // The intent first: a failure after the write (a state write, a CoreDNS restart, Ctrl-C)
      // must find 'dns' in the journal, or the rollback would leave the names at the gateway.
      // Undoing a write that never happened changes nothing.
      await journal(kube, plan.install, keys, 'dns');
      const dns = await changeDns(
        kube,
        dnsSettings(plan.install),
        { title: 'switch DNS (one CoreDNS write)', edit: switchedTo(entries), force: plan.force },
        { task: rt.task, readinessTimeoutMs: rt.readinessTimeoutMs },
      );
      r.dnsWrites += dns.writes;
      const resolver = rt.resolver;
      if (resolver) {
        await rt.task(`wait for DNS to answer ${addresses} (via ${resolver.describe})`, async (update) => {
          const check = await dns.answers(resolver, new Map(entries.map((e) => [e.fqdn, e.ip])), { timeoutMs: rt.dnsTimeoutMs, onProgress: update });
          r.dnsWrites += check.writes;
          if (check.wrong.length)
            throw clusterError(
              check.wrong.map((x) => `DNS for ${describeWrong(x)}`),
              'CoreDNS may not have reloaded yet; check its logs, or raise --dns-timeout',
            );
        });
      }
      // A rollback of the same namespace running at the same time may have closed the door (and
      // reopened it on a new address): DNS would then send the names nowhere. This run is undone.
      const now = await doorAddresses(kube, plan.install);
      const moved = namespacesOf(plan).filter((n) => now.get(n) !== doors.get(n));
      if (moved.length)
        throw clusterError(
          moved.map((n) => `the gateway's door for namespace ${n} changed while DNS was switched (${doors.get(n)} -> ${now.get(n) ?? 'gone'})`),
          'another acmg run (a rollback of that namespace?) ran at the same time; run acmg migrate again',
        );
    },
  },
  {
    // Only now: sidecar injection off in each namespace (previous value recorded), optional restart.
    name: 'injection-label',
    describe: (plan) => namespacesOf(plan).map((n) => `label namespace ${n} ${INJECTION}=disabled${plan.restart ? ' and restart its Deployments' : ''}`),
    run: async ({ kube, plan, rt, keys }) => {
      const namespaces = namespacesOf(plan);
      const keysIn = (n: string) => keys.filter((k) => k.startsWith(`${n}/`));
      // Each namespace touches only its own shard: a few at a time (one after another, 100
      // namespaces took 1.3 s of a 10,000-service run, issue #25). In each, the previous value is
      // recorded before the patch and the journal written after it, as before.
      const title = namespaces.length === 1 ? `namespace ${namespaces[0]}` : `${namespaces.length} namespaces`;
      await rt.task(`label ${title} ${INJECTION}=disabled`, async (update) => {
        let done = 0;
        await forEachBounded(namespaces, async (n) => {
          const nsKeys = keysIn(n);
          const nsObj = await kube.get('v1', 'Namespace', n);
          const previous = nsObj?.metadata.labels?.[INJECTION] ?? null;
          await updateState(
            kube,
            plan.install.values.namespace,
            (st) => {
              // Another migration in this namespace may have recorded the true original already.
              const earlier = Object.values(st.migrations).find((m) => m.namespace === n && m.previousInjection !== undefined);
              for (const k of nsKeys) if (st.migrations[k]) st.migrations[k]!.previousInjection = earlier ? earlier.previousInjection : previous;
            },
            { namespaces: [n] },
          );
          if (previous !== 'disabled') await kube.mergePatch('v1', 'Namespace', n, undefined, { metadata: { labels: { [INJECTION]: 'disabled' } } });
          await journal(kube, plan.install, nsKeys, 'injection-label');
          // Plain output prints each update: one line per tenth.
          if (namespaces.length > 1 && (++done % Math.ceil(namespaces.length / 10) === 0 || done === namespaces.length)) update(`${done}/${namespaces.length}`);
        });
      });
      if (plan.restart)
        for (const n of namespaces) {
          await rt.task(`restart Deployments in ${n} (sidecars go)`, (update) => restartDeployments(kube, n, rt.readinessTimeoutMs, update));
          await journal(kube, plan.install, keysIn(n), 'restart');
        }
    },
  },
  {
    // The original Service goes last; its definition is kept for rollback.
    name: 'delete-original',
    appliesTo: (plan) => plan.approach === 'replace-service',
    describe: (plan) =>
      plan.candidates.map((c) => `delete Service ${c.service.metadata.namespace}/${c.service.metadata.name} (kept in acmg's state for rollback)`),
    run: async ({ kube, plan, rt }) => {
      // Per namespace: every definition is kept (one state write) before any Service goes, so an
      // interruption between the deletes leaves each deleted one recreatable by the rollback
      // (it recreates any recorded original that is missing, journal or not).
      for (const n of namespacesOf(plan)) {
        const here = plan.candidates.filter((c) => c.service.metadata.namespace === n);
        const keys = here.map(keyOf);
        const byKey = new Map(here.map((c) => [keyOf(c), c.service]));
        await updateRecords(kube, plan.install, keys, (m) => {
          m.originalService = keepableService(byKey.get(`${m.namespace}/${m.service}`)!);
        });
        await rt.task(`delete ${here.length} original Service(s) in ${n}`, async () => {
          // Only the Service as it was planned (and copied into the replacement and the state): one
          // its owner changed or made again meanwhile (a Helm upgrade during the DNS wait) stays, and
          // the run fails and is undone rather than delete it and later restore a stale copy. What
          // counts is what rollback would restore (metadata and spec), not a status update; the
          // delete is guarded by the uid and the resourceVersion of the copy just compared.
          await forEachBounded(here, async (c) => {
            const { name, uid } = c.service.metadata;
            const changed = () =>
              clusterError(
                `Service ${n}/${name} was changed since migrate read it: not deleted`,
                'its owner changed it during the run; this run is rolled back, run migrate again',
              );
            // Most Services are as planned: one DELETE guarded by the planned uid and resourceVersion.
            // Only one changed since (409: a status write, or a real change) is read and compared.
            try {
              await kube.delete('v1', 'Service', name, n, { preconditions: { uid, resourceVersion: c.service.metadata.resourceVersion } });
              return;
            } catch (e) {
              if (!(e instanceof ApiError && e.status === 409)) throw e;
            }
            const live = await kube.get('v1', 'Service', name, n);
            if (!live) return;
            const same = (s: KObject) => JSON.stringify(sortKeysDeep(keepableService(s)));
            if (live.metadata.uid !== uid || same(live) !== same(c.service)) throw changed();
            try {
              await kube.delete('v1', 'Service', name, n, { preconditions: { uid, resourceVersion: live.metadata.resourceVersion } });
            } catch (e) {
              if (e instanceof ApiError && e.status === 409) throw changed();
              throw e;
            }
          });
        });
        await journal(kube, plan.install, keys, 'delete-original');
      }
    },
  },
  {
    name: 'complete',
    describe: () => [],
    run: ({ kube, plan, keys }) => updateRecords(kube, plan.install, keys, (m) => (m.phase = 'complete')),
  },
];

/** The names of every step a migration can have, in order (the rollback checks it undoes each). */
export const MIGRATION_STEP_NAMES: readonly MigrationStepName[] = MIGRATION_STEPS.map((s) => s.name);

/** This plan's steps, in order: the same list drives the dry run, the apply and the journal. */
export const migrationSteps = (plan: MigratePlan): MigrationStep[] =>
  plan.candidates.length === 0 ? [] : MIGRATION_STEPS.filter((s) => s.appliesTo?.(plan) ?? true);

/** What --dry-run and the confirmation print: each step's description of this plan. */
export const describeMigration = (plan: MigratePlan): string[] => migrationSteps(plan).flatMap((s) => s.describe(plan));
