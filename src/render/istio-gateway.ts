// The one Istio Gateway that binds to the acmg gateway pods: one server per gateway port (with
// routing.api gateway-api, the Gateway API Gateway on the gateway's Service: render/gateway-api.ts).
// Hosts here stay broad ("*" by default); each migrated service's VirtualService narrows by host.
import type { Spec } from '../profile/schema.js';
import { gatewaySelector } from './gateway.js';
import { acmgLabels } from './labels.js';
import type { KObject } from '../model/object.js';
import type { RenderContext } from './types.js';
import { renderSharedGatewayApiGateway, routingApiOf } from './gateway-api.js';

export const ISTIO_NETWORKING_VERSION = 'networking.istio.io/v1';

export function istioGatewayServers(spec: Spec): Record<string, unknown>[] {
  return spec.gateway.ports.map((p) => ({
    port: { number: p.port, name: p.name, protocol: p.protocol },
    hosts: spec.istioGateway.hosts,
  }));
}

export function renderIstioGateway(spec: Spec, ctx: RenderContext): KObject[] {
  if (routingApiOf(spec) === 'gateway-api') return [renderSharedGatewayApiGateway(spec, ctx)];
  return [
    {
      apiVersion: ISTIO_NETWORKING_VERSION,
      kind: 'Gateway',
      metadata: { name: spec.istioGateway.name, namespace: spec.namespace, labels: acmgLabels('istio-gateway', ctx.version) },
      spec: { selector: gatewaySelector(spec), servers: istioGatewayServers(spec) },
    },
  ];
}
