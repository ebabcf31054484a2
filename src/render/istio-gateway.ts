// The one Istio Gateway that binds to the acmg gateway pods: one server per gateway port.
// Hosts here stay broad ("*" by default); each migrated service's VirtualService narrows by host.
import type { Spec } from '../profile/schema.js';
import { gatewaySelector } from './gateway.js';
import { acmgLabels } from './labels.js';
import type { KObject } from '../model/object.js';
import type { RenderContext } from './types.js';

export const ISTIO_NETWORKING_VERSION = 'networking.istio.io/v1';

export function istioGatewayServers(spec: Spec): Record<string, unknown>[] {
  return spec.gateway.ports.map((p) => ({
    port: { number: p.port, name: p.name, protocol: p.protocol },
    hosts: spec.istioGateway.hosts,
  }));
}

export function renderIstioGateway(spec: Spec, ctx: RenderContext): KObject[] {
  return [
    {
      apiVersion: ISTIO_NETWORKING_VERSION,
      kind: 'Gateway',
      metadata: { name: spec.istioGateway.name, namespace: spec.namespace, labels: acmgLabels('istio-gateway', ctx.version) },
      spec: { selector: gatewaySelector(spec), servers: istioGatewayServers(spec) },
    },
  ];
}
