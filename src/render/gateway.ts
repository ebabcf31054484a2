// The centralized gateway: Istio's proxy in router mode, its Service, ServiceAccount, and optional
// PodDisruptionBudget and HorizontalPodAutoscaler.
import type { GatewayPort, Spec } from '../profile/schema.js';
import { acmgLabels } from './labels.js';
import { podSettings } from './pod-settings.js';
import type { KObject } from '../model/object.js';
import type { RenderContext } from './types.js';

const ENVOY_PROM_PORT = 15090;

/** Labels the gateway pods carry; the Service, the Istio Gateway and PDB select on them. */
export function gatewaySelector(spec: Spec): Record<string, string> {
  return { app: spec.gateway.name, istio: spec.gateway.name };
}

export const targetPortOf = (p: GatewayPort): number => p.targetPort ?? p.port;

const appProtocol: Record<GatewayPort['protocol'], string> = { HTTP: 'http', HTTP2: 'http2', GRPC: 'grpc', TCP: 'tcp' };

export function gatewayServicePorts(spec: Spec): Record<string, unknown>[] {
  return [
    ...spec.gateway.ports.map((p) => ({ name: p.name, port: p.port, targetPort: targetPortOf(p), protocol: 'TCP', appProtocol: appProtocol[p.protocol] })),
    { name: 'status-port', port: spec.gateway.statusPort, targetPort: spec.gateway.statusPort, protocol: 'TCP' },
  ];
}

/** Pods over zones, at most one more in any zone; only pods of the same rollout are counted. */
function zoneSpread(spec: Spec): Record<string, unknown>[] | undefined {
  const mode = spec.gateway.placement.zoneSpread as Spec['gateway']['placement']['zoneSpread'] | undefined;
  if (!mode || mode === 'none') return undefined;
  return [
    {
      maxSkew: 1,
      topologyKey: 'topology.kubernetes.io/zone',
      whenUnsatisfiable: mode === 'required' ? 'DoNotSchedule' : 'ScheduleAnyway',
      labelSelector: { matchLabels: gatewaySelector(spec) },
      matchLabelKeys: ['pod-template-hash'],
    },
  ];
}

function affinity(spec: Spec): Record<string, unknown> | undefined {
  const term = { labelSelector: { matchLabels: gatewaySelector(spec) }, topologyKey: 'kubernetes.io/hostname' };
  switch (spec.gateway.placement.antiAffinity) {
    case 'none':
      return undefined;
    case 'preferred':
      return { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] } };
    case 'required':
      return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
  }
}

function proxyEnv(spec: Spec): Record<string, unknown>[] {
  const field = (fieldPath: string) => ({ valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });
  return [
    { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
    { name: 'CA_ADDR', value: `istiod${spec.revision ? `-${spec.revision}` : ''}.istio-system.svc:15012` },
    { name: 'NODE_NAME', ...field('spec.nodeName') },
    { name: 'POD_NAME', ...field('metadata.name') },
    { name: 'POD_NAMESPACE', ...field('metadata.namespace') },
    { name: 'INSTANCE_IP', ...field('status.podIP') },
    { name: 'SERVICE_ACCOUNT', ...field('spec.serviceAccountName') },
    { name: 'ISTIO_META_WORKLOAD_NAME', value: spec.gateway.name },
    { name: 'ISTIO_META_OWNER', value: `kubernetes://apis/apps/v1/namespaces/${spec.namespace}/deployments/${spec.gateway.name}` },
    { name: 'ISTIO_META_CLUSTER_ID', value: 'Kubernetes' },
    { name: 'ISTIO_META_ROUTER_MODE', value: 'standard' },
  ];
}

function proxyVolumes(): { volumes: unknown[]; mounts: unknown[] } {
  return {
    volumes: [
      { name: 'workload-socket', emptyDir: {} },
      { name: 'credential-socket', emptyDir: {} },
      { name: 'workload-certs', emptyDir: {} },
      { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } },
      {
        name: 'podinfo',
        downwardAPI: {
          items: [
            { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
            { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
          ],
        },
      },
      { name: 'istio-envoy', emptyDir: {} },
      { name: 'istio-data', emptyDir: {} },
      { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] } },
    ],
    mounts: [
      { name: 'workload-socket', mountPath: '/var/run/secrets/workload-spiffe-uds' },
      { name: 'credential-socket', mountPath: '/var/run/secrets/credential-uds' },
      { name: 'workload-certs', mountPath: '/var/run/secrets/workload-spiffe-credentials' },
      { name: 'istiod-ca-cert', mountPath: '/var/run/secrets/istio' },
      { name: 'podinfo', mountPath: '/etc/istio/pod' },
      { name: 'istio-envoy', mountPath: '/etc/istio/proxy' },
      { name: 'istio-data', mountPath: '/var/lib/istio/data' },
      { name: 'istio-token', mountPath: '/var/run/secrets/tokens', readOnly: true },
    ],
  };
}

const HARDENED = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  privileged: false,
  readOnlyRootFilesystem: true,
  runAsGroup: 1337,
  runAsNonRoot: true,
  runAsUser: 1337,
};

/** The gateway's own ports on the proxy container (the injector adds its own, e.g. 15090). */
const containerPorts = (spec: Spec) => [
  ...spec.gateway.ports.map((p) => ({ name: p.name, containerPort: targetPortOf(p), protocol: 'TCP' })),
  { name: 'status-port', containerPort: spec.gateway.statusPort, protocol: 'TCP' },
];

/**
 * Gateway injection, as Istio's gateway chart does it: the pod asks the revision's injector for
 * the `gateway` template and image "auto", so args, env, volumes, probes and the image come from
 * the cluster's istiod (its hub, tag and cluster domain), never from a copy here.
 */
interface ProxyPod {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  podSecurityContext?: Record<string, unknown>;
  podSpec: Record<string, unknown>;
}

function injectedPod(spec: Spec): ProxyPod {
  const g = spec.gateway;
  return {
    labels: { 'sidecar.istio.io/inject': 'true', ...(spec.revision ? { 'istio.io/rev': spec.revision } : {}) },
    // No prometheus.io annotations: the injector sets them itself (merged metrics on 15020) and
    // refuses a pod that asks to scrape Envoy's reserved port 15090.
    annotations: { 'inject.istio.io/templates': 'gateway' },
    podSpec: {
      containers: [{ name: 'istio-proxy', image: 'auto', ports: containerPorts(spec), resources: g.resources, securityContext: HARDENED }],
    },
  };
}

/** The proxy rendered by acmg from a pinned image, for clusters whose istiod has no injector. */
function pinnedPod(spec: Spec, ctx: RenderContext): ProxyPod {
  const g = spec.gateway;
  const { volumes, mounts } = proxyVolumes();
  return {
    labels: { 'sidecar.istio.io/inject': 'false', ...(spec.revision ? { 'istio.io/rev': spec.revision } : {}) },
    annotations: {
      'prometheus.io/path': '/stats/prometheus',
      'prometheus.io/port': String(ENVOY_PROM_PORT),
      'prometheus.io/scrape': 'true',
    },
    // Lets the unprivileged proxy bind ports below 1024 (port 80 and friends): a "safe" sysctl, which
    // Pod Security's baseline and restricted levels allow.
    podSecurityContext: { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] },
    podSpec: {
      containers: [
        {
          name: 'istio-proxy',
          image: `${g.image.hub}/${g.image.name}:${g.image.tag}`,
          imagePullPolicy: g.image.pullPolicy,
          args: [
            'proxy',
            'router',
            '--domain',
            `$(POD_NAMESPACE).svc.${ctx.clusterDomain}`,
            `--proxyLogLevel=${g.logLevel}`,
            '--proxyComponentLogLevel=misc:error',
            '--log_output_level=default:info',
          ],
          env: proxyEnv(spec),
          ports: [...containerPorts(spec), { name: 'http-envoy-prom', containerPort: ENVOY_PROM_PORT, protocol: 'TCP' }],
          readinessProbe: {
            httpGet: { path: '/healthz/ready', port: g.statusPort, scheme: 'HTTP' },
            initialDelaySeconds: 1,
            periodSeconds: 2,
            timeoutSeconds: 1,
            successThreshold: 1,
            failureThreshold: 30,
          },
          resources: g.resources,
          securityContext: HARDENED,
          volumeMounts: mounts,
        },
      ],
      volumes,
    },
  };
}

export function renderGateway(spec: Spec, ctx: RenderContext): KObject[] {
  const g = spec.gateway;
  const labels = acmgLabels('gateway', ctx.version);
  const meta = { name: g.name, namespace: spec.namespace, labels: { ...labels, ...gatewaySelector(spec) } };
  const pod = g.injection ? injectedPod(spec) : pinnedPod(spec, ctx);
  const podLabels: Record<string, string> = {
    ...g.podLabels,
    ...labels,
    ...gatewaySelector(spec),
    'service.istio.io/canonical-name': g.name,
    ...pod.labels,
  };
  const aff = affinity(spec);
  const spread = zoneSpread(spec);
  const trafficDistribution = g.service.trafficDistribution as string | undefined;
  const objects: KObject[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta,
      spec: {
        ...(g.autoscaling.enabled ? {} : { replicas: g.replicas }),
        selector: { matchLabels: gatewaySelector(spec) },
        // Never drop below the current capacity while rolling: traffic of migrated services flows here.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
        template: {
          metadata: {
            labels: podLabels,
            annotations: { ...pod.annotations, ...g.podAnnotations },
          },
          spec: {
            serviceAccountName: g.name,
            terminationGracePeriodSeconds: 30,
            ...(Object.keys(g.placement.nodeSelector).length ? { nodeSelector: g.placement.nodeSelector } : {}),
            ...(g.placement.tolerations.length ? { tolerations: g.placement.tolerations } : {}),
            ...(aff ? { affinity: aff } : {}),
            ...(spread ? { topologySpreadConstraints: spread } : {}),
            ...podSettings(g, pod.podSecurityContext),
            ...pod.podSpec,
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { ...meta, ...(Object.keys(g.service.annotations).length ? { annotations: g.service.annotations } : {}) },
      spec: {
        type: g.service.type,
        selector: gatewaySelector(spec),
        ports: gatewayServicePorts(spec),
        ...(trafficDistribution ? { trafficDistribution } : {}),
      },
    },
  ];
  if (g.podDisruptionBudget.enabled) {
    objects.push({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta,
      spec: { minAvailable: g.podDisruptionBudget.minAvailable, selector: { matchLabels: gatewaySelector(spec) } },
    });
  }
  if (g.autoscaling.enabled) {
    objects.push({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: meta,
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: g.name },
        minReplicas: g.autoscaling.minReplicas,
        maxReplicas: g.autoscaling.maxReplicas,
        metrics: [
          { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: g.autoscaling.targetCPUUtilizationPercentage } } },
        ],
      },
    });
  }
  return objects;
}
