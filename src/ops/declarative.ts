// Declarative migrations, the I/O: one pass of the controller (the leader, after sync's reconcile).
// It decides from the caches (plan/declarative.ts), then runs the CLI's own use cases: planMigration
// and applyMigration (the same refusals, journal and automatic rollback), rollbackMigrations for a
// migration it made whose mark is gone. A refused or failed service is recorded with why and
// retried with backoff (kube/declarative-status.ts); the others of its namespace still go.
import type { Resolver } from '../dns/resolver.js';
import { AcmgError, ExitCode } from '../errors.js';
import { readDeclarativeStatus, writeDeclarativeStatus } from '../kube/declarative-status.js';
import { explainApiError, type KubeApi } from '../kube/api.js';
import { readState } from '../kube/state.js';
import type { KObject } from '../model/object.js';
import type { Approach, InstallRecord } from '../model/state.js';
import { decideDeclarative, nextDeclarativeStatus, nextRetryIn, type DeclarativeOutcome } from '../plan/declarative.js';
import { SYSTEM_NAMESPACES } from '../plan/selection.js';
import { applyMigration, planMigration } from './migrate/index.js';
import { rollbackMigrations } from './rollback.js';
import { silentTask } from './task.js';
import { DEFAULT_ROLLOUT_TIMEOUT_MS } from './wait.js';

export interface DeclarativeOptions {
  /** Services and Namespaces from the controller's caches, projected with withMark. */
  services: Iterable<KObject>;
  namespaces: ReadonlyMap<string, KObject>;
  /** Asks DNS after the migrations' and rollbacks' writes, as the CLI does; without one the waits are skipped. */
  resolver?: Resolver;
  dnsTimeoutMs: number;
  readinessTimeoutMs?: number;
  now?: () => number;
  /**
   * Whether this replica still holds the Lease: asked before each migration and rollback, so a
   * replica that lost it mid-pass stops there (the new leader's pass runs them) and writes no status.
   */
  isLeader?: () => boolean;
}

const problemsOf = (e: unknown): string => {
  const x = explainApiError(e);
  return x instanceof AcmgError ? x.problems.join('; ') : x instanceof Error ? x.message : String(x);
};
const isRefusal = (e: unknown) => e instanceof AcmgError && e.code === ExitCode.Usage;

export interface DeclarativeResult {
  /** What it did, as log lines (refusals and failures are recorded in the status, and logged too). */
  log: string[];
  /** When the earliest refused or failed service is due again (ms from now). */
  retryInMs?: number;
  /** The Lease was lost mid-pass: it stopped, and wrote no status. */
  stopped?: boolean;
}

/** One pass: the marked services migrated, the unmarked ones rolled back, the status written if it changed. */
export async function declarativePass(kube: KubeApi, install: InstallRecord, o: DeclarativeOptions): Promise<DeclarativeResult> {
  const ns = install.values.namespace;
  const now = o.now ?? Date.now;
  const state = await readState(kube, ns);
  const read = await readDeclarativeStatus(kube, ns);
  const d = decideDeclarative(
    {
      services: o.services,
      namespaces: o.namespaces,
      migrations: Object.values(state.migrations),
      excluded: new Set([...SYSTEM_NAMESPACES, ns]),
    },
    read.status,
    now(),
  );
  const log: string[] = [];
  const failed: DeclarativeOutcome = new Map();
  const rt = { task: silentTask, resolver: o.resolver, dnsTimeoutMs: o.dnsTimeoutMs, readinessTimeoutMs: o.readinessTimeoutMs ?? DEFAULT_ROLLOUT_TIMEOUT_MS };

  // As `acmg migrate NAMES -n NS --APPROACH -y` would, recorded as the controller's.
  const migrate = async (namespace: string, approach: Approach, services: string[]) => {
    const plan = await planMigration(kube, { services, namespace }, { approach, origin: 'declarative' });
    const r = await applyMigration(kube, plan, rt);
    if (r.migrated.length) log.push(`declarative: migrated ${r.migrated.join(', ')} (--${approach})`);
  };
  const fail = (keys: string[], want: Approach | 'rollback', e: unknown, what: string) => {
    const reason = `${isRefusal(e) ? 'refused' : 'failed'}: ${problemsOf(e)}`;
    for (const k of keys) failed.set(k, { want, reason });
    log.push(`declarative: ${what} ${keys.join(', ')} ${reason}`);
  };
  const leading = o.isLeader ?? (() => true);
  const stop = (): DeclarativeResult => ({ log: [...log, 'declarative: lost the lease: the pass stops (the new leader runs the rest)'], stopped: true });
  for (const g of d.migrate) {
    if (!leading()) return stop();
    const keys = g.services.map((s) => `${g.namespace}/${s}`);
    try {
      await migrate(g.namespace, g.approach, g.services);
    } catch (e) {
      // A refusal or failure names problems, not whose (a failed run was rolled back whole): each
      // service is tried on its own, so one bad service does not hold back the others of its namespace.
      if (g.services.length === 1) {
        fail(keys, g.approach, e, 'not migrated:');
        continue;
      }
      for (const s of g.services) {
        if (!leading()) return stop();
        await migrate(g.namespace, g.approach, [s]).catch((x: unknown) => fail([`${g.namespace}/${s}`], g.approach, x, 'not migrated:'));
      }
    }
  }
  // One rollback per namespace, as migrations are planned: one that fails (an API error, a
  // label it cannot restore) holds back no other namespace's.
  const byNamespace = new Map<string, string[]>();
  for (const k of d.rollback) byNamespace.set(k.slice(0, k.indexOf('/')), [...(byNamespace.get(k.slice(0, k.indexOf('/'))) ?? []), k]);
  for (const keys of byNamespace.values()) {
    if (!leading()) return stop();
    try {
      const done = await rollbackMigrations(kube, install, keys, {
        ...rt,
        restart: install.values.migration.restart,
        // As the state is now: a migration that became the CLI's, or that a CLI rollback took, since this pass decided stays.
        only: (m) => m.origin === 'declarative' && m.phase === 'complete',
      });
      const removed = done.filter((k) => !d.reapproach.has(k));
      const switched = done.filter((k) => d.reapproach.has(k));
      if (removed.length) log.push(`declarative: rolled back ${removed.join(', ')} (the mark was removed)`);
      if (switched.length) log.push(`declarative: rolled back ${switched.join(', ')} (the mark asks for the other approach: migrated at the next pass)`);
    } catch (e) {
      fail(keys, 'rollback', e, 'not rolled back:');
    }
  }
  const next = nextDeclarativeStatus(read.status, d, failed, now());
  await writeDeclarativeStatus(kube, ns, read, next);
  return { log, retryInMs: nextRetryIn(next, now()) };
}
