// Declarative migrations, the pure part: from the marks on Services and Namespaces
// (acmg.io/migrate), acmg's migration records and the last pass's status, which services the
// controller migrates and rolls back now, and the status it records for the rest. The migrations
// and rollbacks themselves are the CLI's use cases (ops/declarative.ts runs them).
import type { KObject } from '../model/object.js';
import { migrationKey, type Approach, type MigrationRecord } from '../model/state.js';

/** The mark: on a Service, or on a Namespace for each of its Services (a Service's own mark wins). */
export const MIGRATE_ANNOTATION = 'acmg.io/migrate';
/** On a Service: not this one, whatever its namespace's mark says. */
export const NO_MIGRATION = 'none';
/**
 * On a Namespace, set by an admin: marks in it count (a Service's or the Namespace's). Without it
 * a mark is ignored: whoever may edit a Service must not thereby have the controller patch its
 * Namespace's injection label, restart its Deployments or take gateway ports (tenants can
 * annotate Services, and normally cannot label Namespaces).
 */
export const DECLARATIVE_LABEL = 'acmg.io/declarative';
export const DECLARATIVE_ALLOWED = 'enabled';
const MANAGED_BY = 'app.kubernetes.io/managed-by';
const REPLACES = 'acmg.io/replaces';
/** The labels the caches keep: whether acmg made a Service (or replaces one with it), whether a Namespace is allowed. */
const KEPT_LABELS = [MANAGED_BY, REPLACES, DECLARATIVE_LABEL];

/** A refused or failed attempt is retried after this, doubling up to DECLARATIVE_BACKOFF_MAX_MS. */
export const DECLARATIVE_BACKOFF_MS = 30_000;
export const DECLARATIVE_BACKOFF_MAX_MS = 10 * 60_000;

/**
 * Whether an entry still waits for its retry at now. A retry time further off than the longest
 * backoff (a clock that was ahead, a hand-edited ConfigMap: the status is data, not a decision)
 * waits no longer than that: it is due.
 */
export const waitingAt = (e: DeclarativeEntry | undefined, now: number): boolean => {
  const t = e?.retryAt === undefined ? NaN : Date.parse(e.retryAt);
  return t > now && t <= now + DECLARATIVE_BACKOFF_MAX_MS;
};

export const declarativeBackoff = (attempts: number): number => Math.min(DECLARATIVE_BACKOFF_MS * 2 ** Math.max(0, attempts - 1), DECLARATIVE_BACKOFF_MAX_MS);

/** Why a marked service is not migrated (or an unmarked one not rolled back), by "namespace/service". */
export interface DeclarativeEntry {
  /** What the mark asks for: an approach, or rollback (the mark was removed); absent for a mark that is not understood. */
  want?: Approach | 'rollback';
  reason: string;
  /** Attempts that were refused or failed (0: a bad mark, never attempted). */
  attempts: number;
  /** Not attempted again before this (ISO time); absent for a bad mark (fixed by editing it). */
  retryAt?: string;
  /** Another run is changing its migration: it waits for that run, not for a retry time. */
  held?: true;
}
export type DeclarativeStatus = Record<string, DeclarativeEntry>;

/** What the controller's caches keep of a Service or Namespace for this: its mark, whether acmg made it, whether it is allowed. */
export function withMark(projected: KObject, full: KObject): KObject {
  const mark = full.metadata.annotations?.[MIGRATE_ANNOTATION];
  const kept = KEPT_LABELS.flatMap((l) => (full.metadata.labels?.[l] !== undefined ? [[l, full.metadata.labels[l]!] as const] : []));
  return {
    ...projected,
    metadata: {
      ...projected.metadata,
      ...(mark !== undefined ? { annotations: { [MIGRATE_ANNOTATION]: mark } } : {}),
      ...(kept.length ? { labels: { ...projected.metadata.labels, ...Object.fromEntries(kept) } } : {}),
    },
  };
}

/** A Namespace as the controller caches it: its name, mark and allow label. */
export const projectNamespace = (n: KObject): KObject => withMark({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n.metadata.name } }, n);

export interface DeclarativeView {
  /** The live Services (projected with withMark). */
  services: Iterable<KObject>;
  /** The Namespaces (projected with withMark), by name. */
  namespaces: ReadonlyMap<string, KObject>;
  migrations: readonly MigrationRecord[];
  /** Namespaces no mark reaches (the system namespaces, acmg's own). */
  excluded: ReadonlySet<string>;
}

export interface DeclarativeDecision {
  /** Due now, one plan per namespace and approach (names sorted), as `acmg migrate NAMES -n NS --APPROACH`. */
  migrate: { namespace: string; approach: Approach; services: string[] }[];
  /** Migrations the controller made whose mark is gone, or asks for the other approach: due now. */
  rollback: string[];
  /** Those of rollback whose mark asks for the other approach: migrated again at the next pass. */
  reapproach: Set<string>;
  /** Every service the controller should act on (due or waiting for its retry); the status keeps entries of these only. */
  pending: Set<string>;
  /** Marks the controller cannot read: recorded, never acted on (a declarative migration stays). */
  badMarks: DeclarativeStatus;
  /**
   * Its records another run is changing: rolling-back (acmg rollback, uninstall --purge) or
   * in-progress. Left alone, not retried: acting on them would race that run (a re-migration
   * between its phases leaves injection off with no record of the label it had). An interrupted
   * run of the controller's own is left to `acmg rollback` too (then the mark migrates it again).
   */
  held: DeclarativeStatus;
}

const APPROACHES: readonly string[] = ['keep-service', 'replace-service'];

/**
 * The mark that applies to a Service: its own, else its namespace's. None (ignored, not retried)
 * outside the Namespaces an admin allowed, in the excluded namespaces, on default/kubernetes and on
 * the Services acmg made (a replacement or door is never a candidate), whoever marked it.
 */
function markOf(svc: KObject, view: DeclarativeView): string | undefined {
  if (svc.metadata.labels?.[MANAGED_BY] === 'acmg' || svc.metadata.labels?.[REPLACES] !== undefined) return undefined;
  const n = svc.metadata.namespace!;
  if (view.excluded.has(n) || (n === 'default' && svc.metadata.name === 'kubernetes')) return undefined;
  const ns = view.namespaces.get(n);
  if (ns?.metadata.labels?.[DECLARATIVE_LABEL] !== DECLARATIVE_ALLOWED) return undefined;
  return svc.metadata.annotations?.[MIGRATE_ANNOTATION] ?? ns.metadata.annotations?.[MIGRATE_ANNOTATION];
}

export function decideDeclarative(view: DeclarativeView, status: DeclarativeStatus, now: number): DeclarativeDecision {
  const records = new Map(view.migrations.map((m) => [migrationKey(m.namespace, m.service), m]));
  const services = new Map<string, KObject>();
  for (const s of view.services) services.set(migrationKey(s.metadata.namespace!, s.metadata.name), s);
  // Approach 2 deleted the original: its recorded copy carries the mark (GitOps may bring it back;
  // then the live one counts). A mark on the copy cannot be edited, so `none` on acmg's replacement
  // (the Service that is there) unmarks it: the rollback then restores the original without the mark.
  for (const [k, m] of records) {
    if (services.has(k) || m.origin !== 'declarative' || !m.originalService) continue;
    const replacement = m.replacement && services.get(migrationKey(m.namespace, m.replacement));
    const unmarked = replacement && replacement.metadata.annotations?.[MIGRATE_ANNOTATION] === NO_MIGRATION;
    const o = m.originalService;
    services.set(k, unmarked ? { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, [MIGRATE_ANNOTATION]: NO_MIGRATION } } } : o);
  }
  // A mark changed since the last attempt (a refusal fixed in Git) is due at once, not after the old backoff.
  const due = (k: string, want: Approach | 'rollback') => status[k]?.want !== want || !waitingAt(status[k], now);

  const groups = new Map<string, { namespace: string; approach: Approach; services: string[] }>();
  const rollback: string[] = [];
  const pending = new Set<string>();
  const reapproach = new Set<string>();
  const badMarks: DeclarativeStatus = {};
  const held: DeclarativeStatus = {};
  for (const [k, m] of records)
    if (m.origin === 'declarative' && m.phase !== 'complete')
      held[k] = {
        reason:
          m.phase === 'rolling-back'
            ? 'rolling back (another run)'
            : 'in progress (another run, or one interrupted: acmg rollback undoes it, then the mark migrates it again)',
        attempts: 0,
        held: true,
      };
  for (const [k, svc] of services) {
    if (held[k]) continue;
    const mark = markOf(svc, view);
    const rec = records.get(k);
    if (mark === undefined || mark === NO_MIGRATION) continue;
    if (!APPROACHES.includes(mark)) {
      badMarks[k] = { reason: `${MIGRATE_ANNOTATION} is "${mark}"; expected keep-service, replace-service or ${NO_MIGRATION}`, attempts: 0 };
      continue;
    }
    const approach = mark as Approach;
    if (rec && rec.origin !== 'declarative') continue; // acmg migrate's: the controller leaves it
    if (rec?.phase === 'complete' && rec.approach === approach) continue;
    pending.add(k);
    if (rec?.phase === 'complete') {
      // The other approach now: migrate cannot change a migration in place, so it is rolled back
      // here and, still marked, migrated as asked at the next pass.
      reapproach.add(k);
      if (due(k, 'rollback')) rollback.push(k);
      continue;
    }
    if (!due(k, approach)) continue;
    const n = svc.metadata.namespace!;
    const g = groups.get(`${n}/${approach}`) ?? { namespace: n, approach, services: [] };
    g.services.push(svc.metadata.name);
    groups.set(`${n}/${approach}`, g);
  }
  for (const [k, m] of records) {
    if (m.origin !== 'declarative' || pending.has(k) || badMarks[k] || held[k]) continue;
    const svc = services.get(k);
    const mark = svc && markOf(svc, view);
    if (mark !== undefined && mark !== NO_MIGRATION) continue; // still marked: migrated as asked
    pending.add(k);
    if (due(k, 'rollback')) rollback.push(k);
  }
  const migrate = [...groups.keys()].sort().map((g) => ({ ...groups.get(g)!, services: groups.get(g)!.services.sort() }));
  return { migrate, rollback: rollback.sort(), reapproach, pending, badMarks, held };
}

/** How this pass's attempts came out: the services refused or failed, with why (the rest succeeded). */
export type DeclarativeOutcome = Map<string, { want: Approach | 'rollback'; reason: string }>;

/** The status after a pass: failures counted and given a retry time, successes and services no longer pending dropped. */
export function nextDeclarativeStatus(prev: DeclarativeStatus, d: DeclarativeDecision, failed: DeclarativeOutcome, now: number): DeclarativeStatus {
  const next: DeclarativeStatus = {};
  const noted = { ...d.badMarks, ...d.held };
  // Attempted this pass and not failed: done, whatever an older entry (of another mark) says.
  const attempted = new Set([...d.rollback, ...d.migrate.flatMap((g) => g.services.map((s) => migrationKey(g.namespace, s)))]);
  for (const k of [...d.pending, ...Object.keys(noted)].sort()) {
    const f = failed.get(k);
    if (noted[k]) next[k] = noted[k]!;
    else if (f) {
      const attempts = (prev[k]?.want === f.want ? prev[k]!.attempts : 0) + 1;
      next[k] = { want: f.want, reason: f.reason, attempts, retryAt: new Date(now + declarativeBackoff(attempts)).toISOString() };
    } else if (!attempted.has(k) && waitingAt(prev[k], now)) next[k] = prev[k]!; // waiting for its retry
  }
  return next;
}

/** How long until the earliest retry the status holds (undefined: none), so the controller passes again then. */
export function nextRetryIn(status: DeclarativeStatus, now: number): number | undefined {
  const times = Object.values(status).flatMap((e) => (e.retryAt ? [Math.min(Date.parse(e.retryAt) - now, DECLARATIVE_BACKOFF_MAX_MS)] : []));
  return times.length ? Math.max(0, Math.min(...times)) : undefined;
}
