// acmg's journal of migrations: which steps each migration has done, in the namespace shards of its
// state. Migrate writes it after each step; rollback reads it to know what to undo.
import type { KubeApi } from '../kube/api.js';
import { updateState } from '../kube/state.js';
import type { InstallRecord, MigrationRecord, StepName } from '../model/state.js';

/** The shards of acmg's state a change to these migration keys ("namespace/service") touches. */
export const scopeOf = (keys: string[]) => ({ namespaces: [...new Set(keys.map((k) => k.slice(0, k.indexOf('/'))))] });

/** Records that `step` is done for these migrations (and applies `patch` to each in the same write). */
export async function journal(
  kube: KubeApi,
  install: InstallRecord,
  keys: string[],
  step: StepName,
  patch: (m: MigrationRecord) => void = () => {},
): Promise<void> {
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

/** Changes the records of these migrations in one write per shard (no journal entry). */
export async function updateRecords(kube: KubeApi, install: InstallRecord, keys: string[], patch: (m: MigrationRecord) => void): Promise<void> {
  await updateState(
    kube,
    install.values.namespace,
    (st) => {
      for (const k of keys) if (st.migrations[k]) patch(st.migrations[k]!);
    },
    scopeOf(keys),
  );
}
