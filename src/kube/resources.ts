// REST paths for the kinds acmg touches. A fixed table instead of discovery: one request fewer per
// command, and acmg only ever handles these kinds.
export interface ResourceInfo {
  group: string; // '' for core
  version: string;
  plural: string;
  namespaced: boolean;
}

const table: Record<string, ResourceInfo> = {
  'v1/Namespace': { group: '', version: 'v1', plural: 'namespaces', namespaced: false },
  'v1/ServiceAccount': { group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true },
  'v1/Service': { group: '', version: 'v1', plural: 'services', namespaced: true },
  'v1/ConfigMap': { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
  'v1/Pod': { group: '', version: 'v1', plural: 'pods', namespaced: true },
  'v1/Event': { group: '', version: 'v1', plural: 'events', namespaced: true },
  'apps/v1/Deployment': { group: 'apps', version: 'v1', plural: 'deployments', namespaced: true },
  'apps/v1/ReplicaSet': { group: 'apps', version: 'v1', plural: 'replicasets', namespaced: true },
  'apps/v1/StatefulSet': { group: 'apps', version: 'v1', plural: 'statefulsets', namespaced: true },
  'apps/v1/DaemonSet': { group: 'apps', version: 'v1', plural: 'daemonsets', namespaced: true },
  'policy/v1/PodDisruptionBudget': { group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', namespaced: true },
  'autoscaling/v2/HorizontalPodAutoscaler': { group: 'autoscaling', version: 'v2', plural: 'horizontalpodautoscalers', namespaced: true },
  'rbac.authorization.k8s.io/v1/ClusterRole': { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', namespaced: false },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterrolebindings', namespaced: false },
  'rbac.authorization.k8s.io/v1/Role': { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', namespaced: true },
  'rbac.authorization.k8s.io/v1/RoleBinding': { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', namespaced: true },
  'scheduling.k8s.io/v1/PriorityClass': { group: 'scheduling.k8s.io', version: 'v1', plural: 'priorityclasses', namespaced: false },
  'coordination.k8s.io/v1/Lease': { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true },
  'discovery.k8s.io/v1/EndpointSlice': { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true },
  'networking.istio.io/v1/Gateway': { group: 'networking.istio.io', version: 'v1', plural: 'gateways', namespaced: true },
  'networking.istio.io/v1/VirtualService': { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', namespaced: true },
  'networking.istio.io/v1/DestinationRule': { group: 'networking.istio.io', version: 'v1', plural: 'destinationrules', namespaced: true },
  'gateway.networking.k8s.io/v1/Gateway': { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways', namespaced: true },
  'gateway.networking.k8s.io/v1/HTTPRoute': { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', namespaced: true },
  'gateway.networking.k8s.io/v1/TCPRoute': { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'tcproutes', namespaced: true },
  'gateway.networking.k8s.io/v1/GRPCRoute': { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'grpcroutes', namespaced: true },
  'gateway.networking.k8s.io/v1/TLSRoute': { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'tlsroutes', namespaced: true },
  // The route kinds at the older versions acmg also reads them at (render/gateway-api.ts, ROUTE_READ_VERSIONS).
  'gateway.networking.k8s.io/v1beta1/HTTPRoute': { group: 'gateway.networking.k8s.io', version: 'v1beta1', plural: 'httproutes', namespaced: true },
  'gateway.networking.k8s.io/v1alpha2/GRPCRoute': { group: 'gateway.networking.k8s.io', version: 'v1alpha2', plural: 'grpcroutes', namespaced: true },
  'gateway.networking.k8s.io/v1alpha2/TCPRoute': { group: 'gateway.networking.k8s.io', version: 'v1alpha2', plural: 'tcproutes', namespaced: true },
  'gateway.networking.k8s.io/v1alpha3/TLSRoute': { group: 'gateway.networking.k8s.io', version: 'v1alpha3', plural: 'tlsroutes', namespaced: true },
  'gateway.networking.k8s.io/v1alpha2/TLSRoute': { group: 'gateway.networking.k8s.io', version: 'v1alpha2', plural: 'tlsroutes', namespaced: true },
  'gateway.networking.k8s.io/v1/GatewayClass': { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses', namespaced: false },
  'security.istio.io/v1/AuthorizationPolicy': { group: 'security.istio.io', version: 'v1', plural: 'authorizationpolicies', namespaced: true },
  'security.istio.io/v1/PeerAuthentication': { group: 'security.istio.io', version: 'v1', plural: 'peerauthentications', namespaced: true },
  'security.istio.io/v1/RequestAuthentication': { group: 'security.istio.io', version: 'v1', plural: 'requestauthentications', namespaced: true },
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'mutatingwebhookconfigurations',
    namespaced: false,
  },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', namespaced: false },
  'authorization.k8s.io/v1/SelfSubjectAccessReview': { group: 'authorization.k8s.io', version: 'v1', plural: 'selfsubjectaccessreviews', namespaced: false },
};

export function resourceFor(apiVersion: string, kind: string): ResourceInfo {
  const r = table[`${apiVersion}/${kind}`];
  if (!r) throw new Error(`acmg does not handle ${apiVersion} ${kind}`);
  return r;
}

/** Every kind acmg may create, for `uninstall --purge`'s label sweep (at the version it writes: not the older ones it reads). */
export const SWEEP_KINDS: [string, string][] = Object.keys(table)
  .filter((k) => !/\/v\d+(alpha|beta)\d+\//.test(k))
  .filter(
    (k) =>
      !/(Event|Pod|ReplicaSet|EndpointSlice|CustomResourceDefinition|SelfSubjectAccessReview|Namespace|StatefulSet|DaemonSet|WebhookConfiguration|GatewayClass)$/.test(
        k,
      ),
  )
  .map((k) => {
    const i = k.lastIndexOf('/');
    return [k.slice(0, i), k.slice(i + 1)];
  });

export function collectionPath(r: ResourceInfo, namespace?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return r.namespaced && namespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

export function objectPath(r: ResourceInfo, name: string, namespace?: string): string {
  return `${collectionPath(r, namespace)}/${encodeURIComponent(name)}`;
}
