// How big acmg's state (one ConfigMap, at most 1 MiB) would be after a migration run (pure).

import type { KObject } from '../model/object.js';
import { STATE_LIMIT_BYTES, migrationKey, stateBytes, type Approach, type State } from '../model/state.js';
import { keepableService, replacementName } from '../render/routes.js';
import type { ClassifiedPort } from '../model/ports.js';

export function projectedStateBytes(
  state: State,
  candidates: { service: KObject; ports: ClassifiedPort[]; fqdn: string }[],
  approach: Approach,
  suffix: string,
): number {
  const migrations = { ...state.migrations };
  for (const c of candidates) {
    const m = c.service.metadata;
    migrations[migrationKey(m.namespace!, m.name)] = {
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
  return stateBytes({ ...state, migrations });
}

export const fitsInState = (bytes: number) => bytes <= STATE_LIMIT_BYTES;
