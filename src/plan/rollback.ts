// Which migrations a rollback undoes (pure): named services in a namespace, a whole namespace, or all.
import { usageError } from '../errors.js';
import { migrationKey, type State } from '../model/state.js';

export interface RollbackSelection {
  services: string[];
  namespace?: string;
  all?: boolean;
}

/** Checked before any cluster call. */
export function checkRollbackSelection(sel: RollbackSelection): void {
  if (!sel.all && !sel.namespace) throw usageError('say what to roll back: SERVICE... -n NAMESPACE, -n NAMESPACE (all there), or --all');
  if (sel.all && (sel.namespace || sel.services.length)) throw usageError('--all rolls back everything; do not combine it with -n or service names');
}

/** The migration keys to roll back, sorted; a usage error for a named service that is not migrated. */
export function rollbackKeys(state: Pick<State, 'migrations'>, sel: RollbackSelection): string[] {
  const keys = Object.keys(state.migrations).sort();
  if (sel.services.length) {
    const want = sel.services.map((s) => migrationKey(sel.namespace!, s));
    const unknown = want.filter((k) => !state.migrations[k]);
    if (unknown.length)
      throw usageError(
        unknown.map((k) => `${k} is not migrated`),
        'acmg status lists the migrated services',
      );
    return want;
  }
  return sel.namespace ? keys.filter((k) => k.startsWith(`${sel.namespace}/`)) : keys;
}
