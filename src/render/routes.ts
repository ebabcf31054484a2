// What migrate creates per service: a VirtualService bound to the acmg Gateway that matches the
// service by its names (never "*": several services share a gateway port), and for approach 2 the
// replacement Service.

import type { KObject } from '../model/object.js';
import type { ClassifiedPort } from '../model/ports.js';
import { ISTIO_NETWORKING_VERSION } from './istio-gateway.js';
import { acmgLabels } from './labels.js';

export const routeName = (service: string) => `acmg-${service}`;

/**
 * The names the gateway matches a service's requests by (their Host header): the FQDN and the
 * namespaced short forms. Not the bare name: Istio resolves a host without a dot against the
 * VirtualService's namespace (it would only repeat the FQDN), and a gateway shared by every
 * namespace cannot tell which namespace a bare `Host: web` meant. Clients that call a migrated
 * service by its bare name reach the gateway through the DNS search path and get a 404 there
 * (README, Trade-offs).
 */
export function serviceHosts(service: string, namespace: string, clusterDomain: string): string[] {
  return [`${service}.${namespace}.svc.${clusterDomain}`, `${service}.${namespace}.svc`, `${service}.${namespace}`];
}

export interface RouteInput {
  service: string;
  namespace: string;
  clusterDomain: string;
  gateway: { namespace: string; name: string };
  /** Where traffic goes: the service itself (approach 1) or its replacement (approach 2). */
  destination: string;
  ports: ClassifiedPort[];
  version: string;
}

export function renderVirtualService(r: RouteInput): KObject {
  const destHost = `${r.destination}.${r.namespace}.svc.${r.clusterDomain}`;
  const http = r.ports.filter((p) => p.protocol !== 'TCP');
  const tcp = r.ports.filter((p) => p.protocol === 'TCP');
  return {
    apiVersion: ISTIO_NETWORKING_VERSION,
    kind: 'VirtualService',
    metadata: {
      name: routeName(r.service),
      namespace: r.namespace,
      labels: { ...acmgLabels('route', r.version), 'acmg.io/service': r.service },
    },
    spec: {
      hosts: serviceHosts(r.service, r.namespace, r.clusterDomain),
      gateways: [`${r.gateway.namespace}/${r.gateway.name}`],
      ...(http.length
        ? {
            http: http.map((p) => ({
              name: `port-${p.port}`,
              match: [{ port: p.port }],
              route: [{ destination: { host: destHost, port: { number: p.port } } }],
            })),
          }
        : {}),
      ...(tcp.length ? { tcp: tcp.map((p) => ({ match: [{ port: p.port }], route: [{ destination: { host: destHost, port: { number: p.port } } }] })) } : {}),
    },
  };
}

/** Approach 2: the replacement Service's name. */
export const replacementName = (service: string, suffix: string) => `${service}${suffix}`;

/** Approach 2: a Service with the original's selector and ports, named with the suffix. */
export function renderReplacementService(original: KObject, suffix: string, version: string): KObject {
  const spec = original.spec ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: replacementName(original.metadata.name, suffix),
      namespace: original.metadata.namespace,
      labels: { ...(original.metadata.labels ?? {}), ...acmgLabels('replacement-service', version), 'acmg.io/replaces': original.metadata.name },
    },
    spec: {
      type: 'ClusterIP',
      selector: spec.selector,
      ports: (spec.ports ?? []).map((p: any) => ({
        name: p.name,
        port: p.port,
        targetPort: p.targetPort,
        protocol: p.protocol ?? 'TCP',
        ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
      })),
      ...(spec.sessionAffinity ? { sessionAffinity: spec.sessionAffinity } : {}),
    },
  };
}

/** The original Service as acmg keeps it to recreate on rollback (server-set fields dropped, ClusterIP kept). */
export function keepableService(svc: KObject): KObject {
  const { uid, resourceVersion, creationTimestamp, managedFields, generation, selfLink, ...meta } = svc.metadata as Record<string, unknown>;
  void uid;
  void resourceVersion;
  void creationTimestamp;
  void managedFields;
  void generation;
  void selfLink;
  return { apiVersion: 'v1', kind: 'Service', metadata: meta as KObject['metadata'], spec: svc.spec };
}
