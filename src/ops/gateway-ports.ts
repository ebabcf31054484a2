// The gateway listens on the profile's ports plus every port a migrated service needs. Install and
// migrate both render the gateway Service and the Istio Gateway from this one merged list, so a
// re-install never drops a port a migrated service uses.
import type { GatewayPort, Spec } from '../profile/schema.js';
import type { State } from '../model/state.js';
import type { PortUse } from '../model/ports.js';

export const migratedPortName = (protocol: string, port: number) => `${protocol.toLowerCase()}-${port}`;

export function effectivePorts(spec: Spec, state: Pick<State, 'migrations' | 'synced'>): GatewayPort[] {
  const ports: GatewayPort[] = [...spec.gateway.ports];
  const taken = new Set(ports.map((p) => p.port));
  const extra = [...Object.values(state.migrations).flatMap((m) => m.ports), ...(state.synced?.ports ?? [])]
    .filter((p) => !taken.has(p.port))
    .sort((a, b) => a.port - b.port);
  for (const p of extra) {
    if (taken.has(p.port)) continue;
    taken.add(p.port);
    ports.push({ name: migratedPortName(p.protocol, p.port), port: p.port, protocol: p.protocol as GatewayPort['protocol'] });
  }
  return ports;
}

/** What the gateway already carries and for whom: the profile's ports and every migration's. */
export function portsInUse(spec: Spec, state: Pick<State, 'migrations'>): PortUse[] {
  return [
    ...spec.gateway.ports.map((p) => ({ port: p.port, protocol: p.protocol, owner: 'the install profile' })),
    ...Object.values(state.migrations).flatMap((m) => m.ports.map((p) => ({ port: p.port, protocol: p.protocol, owner: `${m.namespace}/${m.service}` }))),
  ];
}

export function withEffectivePorts(spec: Spec, state: Pick<State, 'migrations' | 'synced'>): Spec {
  return { ...spec, gateway: { ...spec.gateway, ports: effectivePorts(spec, state) } };
}
