// acmg rollback: undoes migrations phase by phase, judged from their journal, so interrupted runs
// are undone too. Used by `acmg rollback`, by migrate's automatic rollback and by `uninstall --purge`.
import { clusterError } from '../errors.js';
import { describeWrong, type Resolver } from '../dns/resolver.js';
import { ApiError, listPages, type KubeApi } from '../kube/api.js';
import { readState, updateState } from '../kube/state.js';
import type { KObject } from '../model/object.js';
import { migrationKey, type InstallRecord, type MigrationRecord } from '../model/state.js';
import { MIGRATE_ANNOTATION } from '../plan/declarative.js';
import { MANAGED_SELECTOR } from '../render/labels.js';
import { replacementName, routeName } from '../render/routes.js';
import { refreshNamespaceRoutes } from './route-refresh.js';
import { routingApiOf } from '../render/gateway-api.js';
import { ownedServiceRoutes } from './route-lists.js';
import { forEachBounded } from './bounded.js';
import { currentDnsEntries } from '../kube/dns-store.js';
import { changeDns } from './dns-change.js';
import { syncGatewayPorts } from './gateway-sync.js';
import { dnsSettings } from './install-record.js';
import { scopeOf, updateRecords } from './journal.js';
import type { MigrationStepName } from './migrate/steps.js';
import type { Task } from './task.js';
import { DEFAULT_ROLLOUT_TIMEOUT_MS, restartDeployments } from './wait.js';

const INJECTION = 'istio-injection';

export interface RollbackOptions {
  resolver?: Resolver;
  dnsTimeoutMs: number;
  task: Task;
  /** Restart the Deployments of namespaces whose injection label was restored, so sidecars come back. */
  restart?: boolean;
  readinessTimeoutMs?: number;
  /**
   * Only the migrations this run may undo, judged on the state as read here (not when the caller
   * decided): the controller's own, say, so one that became the CLI's meanwhile stays. The others
   * of keys are left as they are.
   */
  only?: (m: MigrationRecord) => boolean;
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
  readinessTimeoutMs: number;
}

export interface RollbackPhase {
  name: string;
  /** The migration steps whose effect this phase takes away (every step is undone by exactly one phase). */
  undoes: MigrationStepName[];
  run(c: RollbackContext): Promise<void>;
}

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
      if (e instanceof ApiError && e.status === 404) return; // its namespace is gone: nothing to come back to
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
 * A declarative migration's original as it comes back: without its mark (acmg.io/migrate), which
 * asked for the migration this rollback undoes (the controller's, once unmarked, or `acmg
 * rollback`'s). Kept, it would have the controller migrate it again at once; Git that still holds
 * the mark puts it back, and then the controller migrates it as asked.
 */
function unmarked(original: KObject): KObject {
  const { [MIGRATE_ANNOTATION]: _mark, ...annotations } = original.metadata.annotations ?? {};
  return { ...original, metadata: { ...original.metadata, annotations } };
}

/**
 * The rollback, as data. The order is not a mirror of the apply: original Services come back first
 * so their names resolve on their own; sidecars come back only once DNS answers the services' own
 * addresses; ports close once no migration needs them.
 */
export const ROLLBACK_PHASES: readonly RollbackPhase[] = [
  {
    name: 'recreate-originals',
    undoes: ['delete-original'],
    async run({ kube, records, o }) {
      // Which originals are missing: a paged list per namespace, not a GET per Service (10,000).
      const kept = records.filter((m) => m.originalService);
      const present = new Set<string>();
      await forEachBounded([...new Set(kept.map((m) => m.namespace))].sort(), (n) =>
        listPages(kube, 'v1', 'Service', { namespace: n }, (svc) => present.add(migrationKey(n, svc.metadata.name))),
      );
      const missing = kept.filter((m) => !present.has(migrationKey(m.namespace, m.service)));
      if (!missing.length) return;
      await o.task(`recreate ${missing.length} original Service(s)`, async (update) => {
        let done = 0;
        await forEachBounded(missing, async (m) => {
          await recreateOriginal(kube, m.origin === 'declarative' ? unmarked(m.originalService!) : m.originalService!, update);
          // A line per 500 (plain output prints each update): 20 lines for 10,000.
          if (++done % 500 === 0 || done === missing.length) update(`${done}/${missing.length} recreated`);
        });
      });
    },
  },
  {
    name: 'restore-labels',
    undoes: ['injection-label'],
    async run(c) {
      for (const n of [...new Set(c.records.map((m) => m.namespace))].sort()) {
        const rec = c.records.find((m) => m.namespace === n && m.previousInjection !== undefined);
        if (!rec || c.remaining.some((m) => m.namespace === n)) continue;
        const restored = await c.o.task(`restore ${INJECTION} on namespace ${n}`, () =>
          c.kube.mergePatch('v1', 'Namespace', n, undefined, { metadata: { labels: { [INJECTION]: rec.previousInjection ?? null } } }).then(
            () => true,
            // A namespace deleted since: no label to restore, and its migrations are still forgotten.
            (e: unknown) => (e instanceof ApiError && e.status === 404 ? false : Promise.reject(e)),
          ),
        );
        if (restored) c.restored.push(n);
      }
    },
  },
  {
    // One write (only for migrations that reached the DNS step), then each name must answer its
    // own Service again.
    name: 'remove-dns',
    undoes: ['dns'],
    async run({ kube, install, records, o, readinessTimeoutMs }) {
      const switched = records.filter((m) => m.journal.includes('dns'));
      if (switched.length === 0) return;
      const fqdns = new Set(switched.map((m) => m.fqdn));
      const dns = await changeDns(
        kube,
        dnsSettings(install),
        { title: 'remove DNS entries (one CoreDNS write)', edit: (cur) => cur.filter((e) => !fqdns.has(e.fqdn)), force: true },
        { task: o.task, readinessTimeoutMs },
      );
      const resolver = o.resolver;
      if (!resolver) return;
      // The services' own addresses: a paged list per namespace, not a GET per Service (10,000).
      const ips = new Map<string, string>();
      for (const n of [...new Set(switched.map((m) => m.namespace))].sort())
        await listPages(kube, 'v1', 'Service', { namespace: n }, (svc) => {
          if (svc.spec?.clusterIP && svc.spec.clusterIP !== 'None') ips.set(migrationKey(n, svc.metadata.name), svc.spec.clusterIP);
        });
      const expect = new Map<string, string>();
      for (const m of switched) {
        const ip = ips.get(migrationKey(m.namespace, m.service));
        if (ip) expect.set(m.fqdn, ip);
      }
      await o.task(`wait for DNS to answer the services' own ClusterIPs (via ${resolver.describe})`, async (update) => {
        const check = await dns.answers(resolver, expect, { timeoutMs: o.dnsTimeoutMs, onProgress: update });
        if (check.wrong.length) throw clusterError(check.wrong.map((x) => `DNS for ${describeWrong(x)}`));
      });
    },
  },
  {
    name: 'restart-workloads',
    undoes: ['restart'],
    async run({ kube, restored, o, readinessTimeoutMs }) {
      if (!o.restart) return;
      for (const n of restored)
        await o.task(`restart Deployments in ${n} (sidecars come back)`, (update) => restartDeployments(kube, n, readinessTimeoutMs, update));
    },
  },
  {
    name: 'remove-routes',
    undoes: ['route', 'replacement-service'],
    async run({ kube, install, records, remaining, o }) {
      await o.task('remove routes', async () => {
        // The namespace's remaining migrations whose carried rules send to a service this rollback
        // restores: back to it (restored already), before its replacement goes.
        if (records.some((m) => m.approach === 'replace-service')) {
          const namespaces = [...new Set(records.map((m) => m.namespace))].sort();
          const restored = records.filter((m) => m.approach === 'replace-service').map((m) => `${m.namespace}/${m.service}`);
          await refreshNamespaceRoutes(kube, install, await readState(kube, install.values.namespace, { namespaces: [] }), remaining, namespaces, restored);
        }
        // Only acmg's own routes: a route of the same name that someone else made stays.
        const routes = await ownedServiceRoutes(kube, records, routingApiOf(install.values));
        // Approach 2's DestinationRule copies (acmg's, by the service they are for) and replacement
        // Services (by the Service they replace), listed, not read one by one.
        const copies = new Map<string, string | undefined>();
        const replacements = new Map<string, string | undefined>();
        // Namespaces a few at a time (the sets do not depend on the order).
        await forEachBounded([...new Set(records.map((m) => m.namespace))].sort(), async (n) => {
          if (records.some((m) => m.namespace === n && m.approach === 'replace-service'))
            await listPages(kube, 'networking.istio.io/v1', 'DestinationRule', { namespace: n, labelSelector: MANAGED_SELECTOR }, (o) =>
              copies.set(`${n}/${o.metadata.name}`, o.metadata.labels?.['acmg.io/service']),
            );
          await listPages(kube, 'v1', 'Service', { namespace: n, labelSelector: 'acmg.io/replaces' }, (o) =>
            replacements.set(`${n}/${o.metadata.name}`, o.metadata.labels?.['acmg.io/replaces']),
          );
        });
        await forEachBounded(routes, (r) => kube.delete(r.apiVersion, r.kind, r.name, r.namespace));
        await forEachBounded(records, async (m) => {
          // Approach 2's copy of the user's DestinationRule, only if it is acmg's.
          if (m.approach === 'replace-service' && copies.get(`${m.namespace}/${routeName(m.service)}`) === m.service)
            await kube.delete('networking.istio.io/v1', 'DestinationRule', routeName(m.service), m.namespace);
          // Also a replacement created just before an interruption, before it was journaled: found by
          // its name and acmg's label, never a Service acmg did not make.
          const name = m.replacement ?? replacementName(m.service, install.values.migration.replacementSuffix);
          if (replacements.get(`${m.namespace}/${name}`) === m.service) await kube.delete('v1', 'Service', name, m.namespace);
        });
      });
    },
  },
  {
    // Ports no remaining migration needs, and the doors of namespaces with none left (computed from
    // the state, leaving out the migrations this rollback undoes). Before forgetting, so a rollback
    // killed here finds its records again and closes the door on the next run.
    name: 'close-ports',
    undoes: ['gateway-ports'],
    async run({ kube, install, records, keys, o }) {
      await o.task('close gateway ports', () =>
        syncGatewayPorts(kube, install, { namespaces: [...new Set(records.map((m) => m.namespace))], excluding: keys }),
      );
    },
  },
  {
    name: 'forget',
    undoes: ['record', 'complete'],
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
];

/** Undoes migrations phase by phase (ROLLBACK_PHASES), from the journal: also interrupted runs. */
export async function rollbackMigrations(kube: KubeApi, install: InstallRecord, asked: string[], o: RollbackOptions): Promise<string[]> {
  const st = await readState(kube, install.values.namespace);
  const records = asked.map((k) => st.migrations[k]).filter((m): m is MigrationRecord => m !== undefined && (!o.only || o.only(m)));
  if (records.length === 0) return [];
  const keys = records.map((m) => migrationKey(m.namespace, m.service));
  // A set: keys.includes per record was 10,000 x 10,000 comparisons, 1.1 s of a rollback of all (issue #25).
  const undoing = new Set(keys);
  const remaining = Object.values(st.migrations).filter((m) => !undoing.has(migrationKey(m.namespace, m.service)));
  const readinessTimeoutMs = o.readinessTimeoutMs ?? DEFAULT_ROLLOUT_TIMEOUT_MS;
  // Before anything changes: the DNS write must be possible (a damaged acmg region is refused with
  // exit 2 now, not after labels and Services were put back).
  const switched = new Set(records.filter((m) => m.journal.includes('dns')).map((m) => m.fqdn));
  if (switched.size) await currentDnsEntries(kube, dnsSettings(install), { mutate: (cur) => cur.filter((e) => !switched.has(e.fqdn)), force: true });
  // And a controller running alongside (acmg sync --watch) must not put back what it takes away.
  await updateRecords(kube, install, keys, (m) => (m.phase = 'rolling-back'));
  const ctx: RollbackContext = { kube, install, keys, records, remaining, restored: [], o, readinessTimeoutMs };
  for (const phase of ROLLBACK_PHASES) await phase.run(ctx);
  return keys;
}
