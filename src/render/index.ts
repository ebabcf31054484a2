// values -> the ordered list of objects acmg installs. Pure and deterministic: objects in
// dependency order (kind order, then namespace/name), keys sorted when serialised.
import type { AcmgOperator } from '../profile/schema.js';
import { renderController } from './controller.js';
import { renderGateway } from './gateway.js';
import { renderIstioGateway } from './istio-gateway.js';
import { applyPatches } from './patches.js';
import type { KObject } from '../model/object.js';
import type { RenderContext } from './types.js';

/** Apply order: identities and permissions first, then config, then workloads, then routing. */
export const KIND_ORDER = [
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'ConfigMap',
  'Service',
  'Deployment',
  'PodDisruptionBudget',
  'HorizontalPodAutoscaler',
  'Gateway',
  'VirtualService',
  'HTTPRoute',
  'TCPRoute',
];

const rank = (kind: string) => {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
};

export function compareObjects(a: KObject, b: KObject): number {
  return (
    rank(a.kind) - rank(b.kind) ||
    a.kind.localeCompare(b.kind) ||
    (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
    a.metadata.name.localeCompare(b.metadata.name)
  );
}

export function renderManifests(doc: AcmgOperator, ctx: RenderContext): KObject[] {
  const spec = doc.spec;
  const objects: KObject[] = [];
  if (spec.gateway.enabled) objects.push(...renderGateway(spec, ctx));
  if (spec.istioGateway.enabled) objects.push(...renderIstioGateway(spec, ctx));
  if (spec.controller.enabled) objects.push(...renderController(spec, ctx));
  // Patches cannot change kind, name or namespace, so the order holds after them.
  return applyPatches(objects, spec.patches).sort(compareObjects);
}

/** The cluster domain to render with when no cluster is consulted. */
export function offlineClusterDomain(doc: AcmgOperator): string {
  return doc.spec.dns.clusterDomain === 'auto' ? 'cluster.local' : doc.spec.dns.clusterDomain;
}
