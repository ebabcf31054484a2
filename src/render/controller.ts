// The optional `acmg sync --watch` controller with least-privilege RBAC: exactly the verbs it uses.
import { GATEWAY_API_GROUP, routingApiOf } from './gateway-api.js';
import { STATE_NAME } from '../model/state.js';
import { quantityValue } from '../profile/k8s-formats.js';
import type { Spec } from '../profile/schema.js';
import { acmgLabels } from './labels.js';
import { podSettings } from './pod-settings.js';
import type { KObject } from '../model/object.js';
import { DEFAULT_COREDNS_DEPLOYMENT, type RenderContext } from './types.js';

export const CONTROLLER_HEALTH_PORT = 9440;

/** controller.declarative.enabled; false in an install record written before the value existed. */
export const declarativeEnabled = (spec: { controller?: { declarative?: { enabled?: boolean } } }): boolean => spec.controller?.declarative?.enabled === true;

export function renderController(spec: Spec, ctx: RenderContext): KObject[] {
  const c = spec.controller;
  const labels = acmgLabels('controller', ctx.version);
  const selector = { app: c.name };
  const ns = spec.namespace;
  const clusterMeta = { name: c.name, labels };
  const meta = { name: c.name, namespace: ns, labels };
  const subject = [{ kind: 'ServiceAccount', name: c.name, namespace: ns }];
  // The two it reads and writes; the backup it only ever creates (once, before acmg's first DNS change).
  const dnsConfigMaps = [spec.dns.configMap, spec.dns.customConfigMap].sort();
  const image = `${c.image.hub}/${c.image.name}:${c.image.tag || ctx.version}`;
  const gatewayApi = routingApiOf(spec) === 'gateway-api';
  const gatewayGroup = gatewayApi ? GATEWAY_API_GROUP : 'networking.istio.io';
  // Declarative migrations: what the migrate and rollback use cases call beyond sync's needs, only when on.
  const declarative = declarativeEnabled(spec);
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: clusterMeta,
      rules: [
        // Desired state: VirtualServices bound to the acmg Gateway, and the Services they route to;
        // the user's routing of migrated services (VirtualServices, DestinationRules), which acmg's
        // routes at the doors follow: it writes those (and approach 2's DestinationRule copies).
        // Names cannot be listed ahead (one per migrated service), so the writes are cluster-wide: no
        // more than its writes to the Corefile already allow (steering any name).
        { apiGroups: ['networking.istio.io'], resources: ['virtualservices', 'destinationrules'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['networking.istio.io'], resources: ['virtualservices', 'destinationrules'], verbs: ['create', 'patch'] },
        { apiGroups: ['networking.istio.io'], resources: ['destinationrules'], verbs: ['delete'] },
        { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch'] },
        // The Gateway API routes sync reads (ops/sync.ts, routesRead), with either API: the user's
        // GAMMA routes (HTTPRoutes followed with the Gateway API; the kinds the gateway would not keep
        // named), acmg's routes, and those bound to the shared Gateway. It writes only acmg's.
        { apiGroups: [GATEWAY_API_GROUP], resources: ['grpcroutes', 'httproutes', 'tcproutes', 'tlsroutes'], verbs: ['get', 'list', 'watch'] },
        ...(gatewayApi ? [{ apiGroups: [GATEWAY_API_GROUP], resources: ['httproutes', 'tcproutes'], verbs: ['create', 'patch'] }] : []),
        ...(declarative ? declarativeClusterRules(spec, gatewayApi) : []),
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: clusterMeta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: c.name },
      subjects: subject,
    },
    {
      // The DNS ConfigMaps it writes, by name only.
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: c.name, namespace: spec.dns.namespace, labels },
      rules: [
        // Listed and watched by name (a field selector metadata.name=X), which RBAC matches to resourceNames.
        { apiGroups: [''], resources: ['configmaps'], resourceNames: dnsConfigMaps, verbs: ['get', 'list', 'watch', 'update'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
        // Only where CoreDNS does not reload by itself (or, with coredns-custom, can miss a write that
        // removed acmg's last entry): restart its Deployment, the one install found (and recorded, which
        // is where the controller takes the name from), and wait for it (a get, then a watch by name).
        ...(ctx.dnsReloads === false || ctx.dnsCanMissReload
          ? [
              {
                apiGroups: ['apps'],
                resources: ['deployments'],
                resourceNames: [ctx.corednsDeployment ?? DEFAULT_COREDNS_DEPLOYMENT],
                verbs: ['get', 'watch', 'patch'],
              },
            ]
          : []),
        // Only where CoreDNS can miss a write: ask a CoreDNS pod, through a port-forward, whether it answers it.
        // Declarative migrations wait for DNS the same way (the migrate and rollback use cases).
        ...(ctx.dnsCanMissReload || declarative
          ? [
              { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
              // Over a WebSocket a port-forward is a GET; the API server also checks create (since 1.30).
              { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
            ]
          : []),
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: c.name, namespace: spec.dns.namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: c.name },
      subjects: subject,
    },
    {
      // In its own namespace: leader election, the gateway's ports, and acmg's state record.
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: `${c.name}-self`, namespace: ns, labels },
      rules: [
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [c.name], verbs: ['get', 'update'] },
        { apiGroups: [''], resources: ['services'], resourceNames: [spec.gateway.name], verbs: ['get', 'patch'] },
        // Gateways only here, where acmg's are (the controller watches them as a trigger), of the install's API.
        { apiGroups: [gatewayGroup], resources: ['gateways'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [gatewayGroup], resources: ['gateways'], resourceNames: [spec.istioGateway.name], verbs: ['patch'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch'] },
        { apiGroups: [''], resources: ['configmaps'], resourceNames: [STATE_NAME], verbs: ['get', 'update'] },
        ...(declarative
          ? [
              // acmg's state shards (acmg-state-<namespace>, one per migrated namespace) and the declarative status.
              { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'update'] },
              // Migrate's plan: the gateway is Available; its door for a namespace has endpoints; the doors' Gateways.
              { apiGroups: ['apps'], resources: ['deployments'], resourceNames: [spec.gateway.name], verbs: ['get'] },
              { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list'] },
              { apiGroups: [gatewayGroup], resources: ['gateways'], verbs: ['create', 'patch', 'delete'] },
            ]
          : []),
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `${c.name}-self`, namespace: ns, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${c.name}-self` },
      subjects: subject,
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta,
      spec: {
        replicas: c.replicas,
        selector: { matchLabels: selector },
        template: {
          metadata: {
            labels: { ...labels, ...selector, 'sidecar.istio.io/inject': 'false' },
            // The controller reads the value from the install record when it starts: turning it on rolls the pods.
            ...(declarative ? { annotations: { 'acmg.io/declarative': 'enabled' } } : {}),
          },
          spec: {
            serviceAccountName: c.name,
            ...podSettings(c),
            containers: [
              {
                name: 'controller',
                image,
                imagePullPolicy: c.image.pullPolicy,
                args: ['sync', '--watch', `--resync-period=${c.resyncPeriod}`, `--health-port=${CONTROLLER_HEALTH_PORT}`, '--leader-elect'],
                env: [
                  ...nodeOptions(c.resources?.limits?.memory),
                  { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
                ],
                ports: [{ name: 'health', containerPort: CONTROLLER_HEALTH_PORT, protocol: 'TCP' }],
                livenessProbe: { httpGet: { path: '/healthz', port: CONTROLLER_HEALTH_PORT } },
                readinessProbe: { httpGet: { path: '/readyz', port: CONTROLLER_HEALTH_PORT } },
                resources: c.resources,
                securityContext: {
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ['ALL'] },
                  readOnlyRootFilesystem: true,
                  runAsNonRoot: true,
                  runAsUser: 65532,
                },
              },
            ],
          },
        },
      },
    },
  ];
}

/**
 * Declarative migrations, cluster-wide: what `acmg migrate` and `acmg rollback` call in the marked
 * services' namespaces (their names cannot be listed ahead, as for the routes above).
 */
function declarativeClusterRules(spec: Spec, gatewayApi: boolean): Record<string, unknown>[] {
  return [
    // Marks on Namespaces (watched), the plan's check that the namespace exists, injection off and back.
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch', 'patch'] },
    // Approach 2's replacement, deleted original and its recreation; the doors in the install namespace.
    { apiGroups: [''], resources: ['services'], verbs: ['create', 'patch', 'delete'] },
    // Rollback removes acmg's routes (DestinationRule copies already): VirtualServices with Istio's
    // API; with the Gateway API, HTTPRoutes and TCPRoutes (below) and no VirtualService.
    ...(gatewayApi ? [] : [{ apiGroups: ['networking.istio.io'], resources: ['virtualservices'], verbs: ['delete'] }]),
    // The plan's mesh-security judgement: the policies, and the pods' labels where a policy selects.
    { apiGroups: ['security.istio.io'], resources: ['authorizationpolicies', 'peerauthentications', 'requestauthentications'], verbs: ['list'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    // (The plan's reads of the GAMMA routes are the sync rules' list above.)
    ...(gatewayApi ? [{ apiGroups: [GATEWAY_API_GROUP], resources: ['httproutes', 'tcproutes'], verbs: ['delete'] }] : []),
    // migration.restart: the namespaces' Deployments are restarted and waited for.
    ...(spec.migration.restart
      ? [
          { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'patch'] },
          { apiGroups: [''], resources: ['events'], verbs: ['list'] },
        ]
      : []),
  ];
}

/**
 * V8's heap limit for the controller, from its container's memory limit: Node sizes its heap from
 * the machine's memory and collects lazily until near it, so without this a pod with a 256Mi limit
 * could be OOM-killed holding mostly garbage. 60% leaves room for buffers and code.
 */
export function nodeOptions(memoryLimit: string | undefined): { name: string; value: string }[] {
  if (!memoryLimit) return [];
  const mib = Math.floor((quantityValue(memoryLimit) * 0.6) / 2 ** 20);
  return Number.isFinite(mib) && mib >= 32 ? [{ name: 'NODE_OPTIONS', value: `--max-old-space-size=${mib}` }] : [];
}
