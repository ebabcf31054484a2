// Which Service ports the gateway can carry, and as what (pure). Istio's rules: appProtocol first,
// then the port name's prefix; an unnamed port is plain TCP.
export type GatewayProtocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'TCP';

export interface ClassifiedPort {
  name: string;
  port: number;
  protocol: GatewayProtocol;
}

export interface PortProblem {
  port: number;
  name: string;
  problem: string;
}

const byAppProtocol: Record<string, GatewayProtocol> = {
  http: 'HTTP',
  http2: 'HTTP2',
  'kubernetes.io/h2c': 'HTTP2',
  grpc: 'GRPC',
  'grpc-web': 'HTTP',
  tcp: 'TCP',
};

export function classifyPort(p: { name?: string; port: number; protocol?: string; appProtocol?: string }): ClassifiedPort | PortProblem {
  const name = p.name ?? '';
  if ((p.protocol ?? 'TCP') !== 'TCP') return { port: p.port, name, problem: `${p.protocol} is not supported by the gateway (TCP-based protocols only)` };
  const ap = p.appProtocol?.toLowerCase();
  if (ap) {
    const proto = byAppProtocol[ap];
    if (proto) return { name, port: p.port, protocol: proto };
    return { port: p.port, name, problem: `appProtocol "${p.appProtocol}" is not supported (supported: ${Object.keys(byAppProtocol).join(', ')})` };
  }
  const prefix = name.toLowerCase().split('-')[0] ?? '';
  if (prefix === 'http') return { name, port: p.port, protocol: 'HTTP' };
  if (prefix === 'http2') return { name, port: p.port, protocol: 'HTTP2' };
  if (prefix === 'grpc') return { name, port: p.port, protocol: name.toLowerCase().startsWith('grpc-web') ? 'HTTP' : 'GRPC' };
  if (prefix === 'https' || prefix === 'tls')
    return { port: p.port, name, problem: `TLS ports ("${name}") need TLS passthrough, which the centralized gateway does not configure` };
  return { name, port: p.port, protocol: 'TCP' };
}

export const isProblem = (x: ClassifiedPort | PortProblem): x is PortProblem => 'problem' in x;

/** A port already open on the gateway: by whom and with which protocol. */
export interface PortUse {
  port: number;
  protocol: GatewayProtocol | string;
  owner: string; // "profile" or "namespace/service"
}

/**
 * Problems of carrying `ports` of `owner` on a gateway that already carries `used`. HTTP-family
 * ports can be shared (routes match by host); a TCP port belongs to exactly one service.
 */
export function portConflicts(owner: string, ports: ClassifiedPort[], used: PortUse[]): string[] {
  const problems: string[] = [];
  for (const p of ports) {
    for (const u of used.filter((x) => x.port === p.port && x.owner !== owner)) {
      const httpish = (x: string) => x === 'HTTP' || x === 'HTTP2' || x === 'GRPC';
      if (p.protocol === 'TCP' || u.protocol === 'TCP') {
        problems.push(
          `port ${p.port} (${p.protocol}) is already used on the gateway by ${u.owner} (${u.protocol}); two services cannot share a TCP port on the gateway`,
        );
      } else if (httpish(p.protocol) && httpish(String(u.protocol)) && p.protocol !== u.protocol) {
        problems.push(`port ${p.port} is ${p.protocol} here but ${u.protocol} for ${u.owner}; one gateway port has one protocol`);
      }
    }
  }
  return problems;
}
