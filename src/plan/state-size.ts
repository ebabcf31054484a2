// How big each namespace's shard of acmg's state (one ConfigMap each, at most 1 MiB) would be
// after a migration run (pure). The shards are what grows with the mesh; the main ConfigMap holds
// only the install record.
import type { KObject } from '../model/object.js';
import { STATE_LIMIT_BYTES, migrationKey, type Approach, type MigrationRecord, type State } from '../model/state.js';
import { keepableService, replacementName } from '../render/routes.js';
import type { ClassifiedPort } from '../model/ports.js';

/** Bytes each touched namespace's shard would take, by namespace. */
export function projectedShardBytes(
  state: Pick<State, 'migrations'>,
  candidates: { service: KObject; ports: ClassifiedPort[]; fqdn: string }[],
  approach: Approach,
  suffix: string,
): Map<string, number> {
  const byNs = new Map<string, Record<string, MigrationRecord>>();
  const shard = (ns: string) =>
    byNs.get(ns) ?? byNs.set(ns, Object.fromEntries(Object.entries(state.migrations).filter(([, m]) => m.namespace === ns))).get(ns)!;
  for (const c of candidates) {
    const m = c.service.metadata;
    shard(m.namespace!)[migrationKey(m.namespace!, m.name)] = {
      namespace: m.namespace!,
      service: m.name,
      approach,
      fqdn: c.fqdn,
      ports: c.ports,
      journal: ['gateway-ports', 'replacement-service', 'route', 'dns', 'injection-label', 'restart', 'delete-original'],
      phase: 'in-progress',
      migratedAt: new Date(0).toISOString(),
      previousInjection: 'enabled',
      // Approach 2 keeps each original Service so rollback can recreate it.
      ...(approach === 'replace-service' ? { replacement: replacementName(m.name, suffix), originalService: keepableService(c.service) } : {}),
    };
  }
  return new Map([...byNs].map(([ns, records]) => [ns, Buffer.byteLength(JSON.stringify(records))]));
}

export const fitsInState = (bytes: number) => bytes <= STATE_LIMIT_BYTES;
