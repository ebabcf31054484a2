// The gateway's door for one migrated namespace: a Service (in the install namespace, selecting the
// gateway pods) whose ClusterIP that namespace's migrated names answer, each service port mapped to
// a listener port of its own on the gateway, and an Istio Gateway with one server per listener port
// that binds only that namespace's VirtualServices (hosts "NS/*"); with routing.api gateway-api, a
// Gateway API Gateway on the door Service whose listeners take only that namespace's routes.
//
// Why: a request for `http://reviews:9080` carries `Host: reviews`, which does not say which
// namespace it meant; the port it arrives on at the gateway does. Istio builds a route configuration
// per listener port (http.<port>), so each namespace's routes live apart and can match bare names.
//
// Istio facts this relies on (pilot/pkg/model/gateway.go resolvePorts): a selector-based Gateway's
// server port is translated to the targetPort of the first (oldest) Service selecting the pod with
// that port; with no such Service the number is the listener port as it is. So the servers here use
// the listener port itself, no Service selecting the gateway has a `port` equal to a listener port,
// and these Services carry Istio's label that keeps them out of that translation altogether (else
// the shared Gateway's server 9080 could resolve to a namespace's listener).
import { createHash } from 'node:crypto';
import type { KObject } from '../model/object.js';
import type { GatewayProtocol } from '../model/ports.js';
import { ISTIO_NETWORKING_VERSION } from './istio-gateway.js';
import { acmgLabels } from './labels.js';
import { renderDoorGatewayApiGateway, type RoutingApi } from './gateway-api.js';

/** Listener ports for namespaces: above every Service port acmg's profiles use, below the ephemeral range. */
export const LISTENER_PORT_MIN = 20000;
export const LISTENER_PORT_MAX = 29999;

export const DISABLE_PORT_TRANSLATION = 'experimental.istio.io/disable-gateway-port-translation';
export const NAMESPACE_LABEL = 'acmg.io/namespace';

/** One service port of the namespace and the gateway listener port it arrives on. */
export interface NamespaceListener {
  port: number;
  protocol: GatewayProtocol;
  listenerPort: number;
}

/** `acmg-NS`, shortened with a hash where a namespace name would make it longer than a Service name may be (63). */
export function namespaceGatewayName(namespace: string): string {
  const name = `acmg-${namespace}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(namespace).digest('hex').slice(0, 8);
  return `acmg-${namespace.slice(0, 63 - 'acmg-'.length - 9).replace(/-+$/, '')}-${hash}`;
}

/**
 * The door Service's name for a port (what its EndpointSlices name, and what migrate waits for).
 * Always tcp: a client's sidecar then forwards the connection to the gateway whatever its Host
 * says (an http port would let it route by Host, which names a Service approach 2 deleted, and
 * fail under REGISTRY_ONLY); the gateway's server speaks the service's own protocol.
 */
export const doorPortName = (l: Pick<NamespaceListener, 'port'>) => `tcp-${l.port}`;
const serverName = (l: NamespaceListener) => `${l.protocol.toLowerCase()}-${l.port}-${l.listenerPort}`;

export interface NamespaceGatewayInput {
  namespace: string;
  installNamespace: string;
  selector: Record<string, string>;
  listeners: NamespaceListener[];
  version: string;
  /** The install's routing API: an Istio Gateway (default) or a Gateway API Gateway on the door Service. */
  api?: RoutingApi;
}

export function renderNamespaceGateway(i: NamespaceGatewayInput): KObject[] {
  const name = namespaceGatewayName(i.namespace);
  const labels = { ...acmgLabels('namespace-gateway', i.version), [NAMESPACE_LABEL]: i.namespace };
  const listeners = [...i.listeners].sort((a, b) => a.port - b.port);
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: i.installNamespace, labels: { ...labels, [DISABLE_PORT_TRANSLATION]: 'true' } },
      spec: {
        type: 'ClusterIP',
        selector: i.selector,
        ports: listeners.map((l) => ({ name: doorPortName(l), port: l.port, targetPort: l.listenerPort, protocol: 'TCP' })),
      },
    },
    i.api === 'gateway-api'
      ? renderDoorGatewayApiGateway({ name, namespace: i.namespace, installNamespace: i.installNamespace, listeners, labels })
      : {
          apiVersion: ISTIO_NETWORKING_VERSION,
          kind: 'Gateway',
          metadata: { name, namespace: i.installNamespace, labels },
          spec: {
            selector: i.selector,
            servers: listeners.map((l) => ({
              port: { number: l.listenerPort, name: serverName(l), protocol: l.protocol },
              hosts: [`${i.namespace}/*`],
            })),
          },
        },
  ];
}

/**
 * Listener ports for the wanted (namespace, port) pairs: the ones already given keep theirs (live
 * traffic arrives on them), new ones get the lowest free port. Pure; the caller keeps the result in
 * acmg's state under optimistic concurrency, so two runs cannot hand out the same port.
 */
export function allocateListenerPorts(current: Record<string, number>, wanted: string[], reserved: Set<number> = new Set()): Record<string, number> {
  const out: Record<string, number> = {};
  const taken = new Set<number>(reserved);
  for (const k of wanted) if (current[k] !== undefined) taken.add((out[k] = current[k]!));
  let next = LISTENER_PORT_MIN;
  for (const k of [...wanted].sort()) {
    if (out[k] !== undefined) continue;
    while (taken.has(next)) next++;
    if (next > LISTENER_PORT_MAX) throw new Error(`no free gateway listener port left in ${LISTENER_PORT_MIN}-${LISTENER_PORT_MAX}`);
    taken.add((out[k] = next));
  }
  return out;
}
