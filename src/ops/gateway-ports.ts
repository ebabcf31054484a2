// The ports the gateway listens on. The shared gateway Service and Istio Gateway carry the profile's
// ports plus those of VirtualServices bound to the acmg Gateway (acmg sync). Migrated services
// arrive through their namespace's door instead (render/namespace-gateway.ts): a Service per
// namespace whose ports map to listener ports of that namespace alone.
import type { GatewayPort, Spec } from '../profile/schema.js';
import { listenerKey, type State } from '../model/state.js';
import type { PortUse } from '../model/ports.js';
import type { NamespaceListener } from '../render/namespace-gateway.js';
import { targetPortOf } from '../render/gateway.js';

export const migratedPortName = (protocol: string, port: number) => `${protocol.toLowerCase()}-${port}`;

export function effectivePorts(spec: Spec, state: Pick<State, 'synced'>): GatewayPort[] {
  const ports: GatewayPort[] = [...spec.gateway.ports];
  const taken = new Set(ports.map((p) => p.port));
  const extra = [...(state.synced?.ports ?? [])].filter((p) => !taken.has(p.port)).sort((a, b) => a.port - b.port);
  for (const p of extra) {
    if (taken.has(p.port)) continue;
    taken.add(p.port);
    ports.push({ name: migratedPortName(p.protocol, p.port), port: p.port, protocol: p.protocol as GatewayPort['protocol'] });
  }
  return ports;
}

/** What the shared gateway already carries: the profile's ports (sync adds VirtualServices' ports beside them). */
export function sharedPortsInUse(spec: Spec): PortUse[] {
  return spec.gateway.ports.map((p) => ({ port: p.port, protocol: p.protocol, owner: 'the install profile' }));
}

/** What a namespace's door already carries: the ports of that namespace's migrations (two TCP services cannot share one). */
export function namespacePortsInUse(state: Pick<State, 'migrations'>, namespace: string): PortUse[] {
  return Object.values(state.migrations)
    .filter((m) => m.namespace === namespace)
    .flatMap((m) => m.ports.map((p) => ({ port: p.port, protocol: p.protocol, owner: `${m.namespace}/${m.service}` })));
}

export function withEffectivePorts(spec: Spec, state: Pick<State, 'synced'>): Spec {
  return { ...spec, gateway: { ...spec.gateway, ports: effectivePorts(spec, state) } };
}

/** Listener ports a namespace door must never take: the status port and every port and target port of the shared gateway Service. */
export const reservedListenerPorts = (spec: Spec): Set<number> =>
  new Set([spec.gateway.statusPort, ...spec.gateway.ports.flatMap((p) => [p.port, targetPortOf(p)])]);

/**
 * Each migrated namespace's service ports, as (namespace, port, protocol), from the migrations in
 * the state. `excluding` (keys): the migrations a rollback is undoing, whose ports it closes before
 * it forgets them; every other run counts them (their names still answer the door until then).
 */
export function namespacePorts(
  state: Pick<State, 'migrations'>,
  excluding: ReadonlySet<string> = new Set(),
): Map<string, { port: number; protocol: string }[]> {
  const out = new Map<string, Map<number, string>>();
  for (const [key, m] of Object.entries(state.migrations)) {
    if (excluding.has(key)) continue;
    const ports = out.get(m.namespace) ?? new Map<number, string>();
    for (const p of m.ports) if (!ports.has(p.port)) ports.set(p.port, p.protocol);
    out.set(m.namespace, ports);
  }
  return new Map(
    [...out]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([ns, ports]) => [ns, [...ports].sort(([a], [b]) => a - b).map(([port, protocol]) => ({ port, protocol }))]),
  );
}

/** A namespace's listeners: its service ports (namespacePorts) with their allocated listener ports (ports without one are left out). */
export function listenersOf(ports: { port: number; protocol: string }[], listeners: State['listeners'], namespace: string): NamespaceListener[] {
  return ports.flatMap((p) => {
    const listenerPort = listeners?.[listenerKey(namespace, p.port)];
    return listenerPort === undefined ? [] : [{ port: p.port, protocol: p.protocol as NamespaceListener['protocol'], listenerPort }];
  });
}
