// The shape of an AcmgOperator document, as data: validation walks it to report unknown fields
// (with the closest valid name), wrong types and out-of-range values, each with its full path.

export type Field =
  | { kind: 'object'; fields: Record<string, Field>; optional?: string[]; doc?: string }
  | { kind: 'toleration'; doc?: string } // a Kubernetes toleration, checked as the API server does
  | { kind: 'map'; keys?: StringFormat; values: Field; maxBytes?: number; doc?: string } // free-form keys (labels, nodeSelector)
  | { kind: 'array'; items: Field; doc?: string }
  | { kind: 'string'; format?: StringFormat; doc?: string }
  | { kind: 'integer'; min?: number; max?: number; doc?: string }
  | { kind: 'boolean'; doc?: string }
  | { kind: 'enum'; values: string[]; doc?: string }
  | { kind: 'any'; doc?: string }; // passed through (e.g. raw Kubernetes tolerations)

export type StringFormat =
  | 'dns1123label'
  | 'dns1123subdomain'
  | 'quantity'
  | 'image'
  | 'imageTag'
  | 'domain'
  /** A label or annotation key: [prefix/]name (Kubernetes "qualified name"). */
  | 'qualifiedName'
  /** A label value: at most 63 characters, alphanumeric at both ends, - _ . inside. */
  | 'labelValue'
  /** An Istio revision: "" (the default revision) or a DNS-1123 label. */
  | 'revision'
  /** A port name: an IANA service name (at most 15 characters, at least one letter). */
  | 'portName'
  /** An Istio Gateway server host: [namespace/]host, host "*", "*.example.com" or a DNS name. */
  | 'gatewayHost'
  | 'duration';

const str = (format?: StringFormat): Field => ({ kind: 'string', format });
const int = (min?: number, max?: number): Field => ({ kind: 'integer', min, max });
const bool: Field = { kind: 'boolean' };
const obj = (fields: Record<string, Field>, optional?: string[]): Field => ({ kind: 'object', fields, optional });
const map = (keys: StringFormat, values: Field, maxBytes?: number): Field => ({ kind: 'map', keys, values, maxBytes });
const arr = (items: Field): Field => ({ kind: 'array', items });
const oneOf = (...values: string[]): Field => ({ kind: 'enum', values });

const port = int(1, 65535);
/** Kubernetes' limit on a pod's (or any object's) annotations, keys and values together. */
export const ANNOTATIONS_MAX_BYTES = 256 * 1024;
const labels = map('qualifiedName', str('labelValue'));
const annotations = map('qualifiedName', str(), ANNOTATIONS_MAX_BYTES);

const image = obj({ hub: str('image'), name: str('image'), tag: str('imageTag'), pullPolicy: oneOf('Always', 'IfNotPresent', 'Never') });
const resourceList = obj({ cpu: str('quantity'), memory: str('quantity') }, ['cpu', 'memory']);
const resources = obj({ requests: resourceList, limits: resourceList }, ['requests', 'limits']);

/** Protocols the gateway can carry (Istio Gateway server protocols). */
export const PORT_PROTOCOLS = ['HTTP', 'HTTP2', 'GRPC', 'TCP'] as const;

export const gatewayPort = obj(
  {
    name: str('portName'),
    port,
    targetPort: port,
    protocol: oneOf(...PORT_PROTOCOLS),
  },
  ['targetPort'],
);

export const specSchema = obj({
  profile: str('dns1123label'),
  namespace: str('dns1123label'),
  revision: str('revision'),
  gateway: obj({
    enabled: bool,
    name: str('dns1123label'),
    replicas: int(0, 1000),
    injection: bool,
    image,
    resources,
    statusPort: port,
    ports: arr(gatewayPort),
    service: obj({ type: oneOf('ClusterIP'), annotations }),
    podLabels: labels,
    podAnnotations: annotations,
    podDisruptionBudget: obj({ enabled: bool, minAvailable: int(0, 1000) }),
    autoscaling: obj({
      enabled: bool,
      minReplicas: int(1, 1000),
      maxReplicas: int(1, 1000),
      targetCPUUtilizationPercentage: int(1, 100),
    }),
    placement: obj({
      nodeSelector: labels,
      tolerations: arr({ kind: 'toleration' }),
      antiAffinity: oneOf('none', 'preferred', 'required'),
    }),
    logLevel: oneOf('trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'),
  }),
  istioGateway: obj({ enabled: bool, name: str('dns1123label'), hosts: arr(str('gatewayHost')) }),
  controller: obj({
    enabled: bool,
    name: str('dns1123label'),
    replicas: int(0, 100),
    image,
    resources,
    resyncPeriod: str('duration'),
  }),
  dns: obj({
    enabled: bool,
    mode: oneOf('auto', 'corefile', 'custom'),
    namespace: str('dns1123label'),
    configMap: str('dns1123subdomain'),
    customConfigMap: str('dns1123subdomain'),
    clusterDomain: str('domain'),
    ttl: int(0, 3600),
  }),
  migration: obj({ replacementSuffix: str(), restart: bool }),
});

export const documentSchema = obj(
  {
    apiVersion: oneOf('acmg.io/v1alpha1'),
    kind: oneOf('AcmgOperator'),
    metadata: obj({ name: str('dns1123label'), description: str() }, ['name', 'description']),
    spec: specSchema,
  },
  ['metadata'],
);

export interface ImageValues {
  hub: string;
  name: string;
  tag: string;
  pullPolicy: 'Always' | 'IfNotPresent' | 'Never';
}
export interface Resources {
  requests: { cpu?: string; memory?: string };
  limits: { cpu?: string; memory?: string };
}
export interface GatewayPort {
  name: string;
  port: number;
  targetPort?: number;
  protocol: (typeof PORT_PROTOCOLS)[number];
}

/** Fully-merged values (base + profile + overlays + --set). */
export interface Spec {
  profile: string;
  namespace: string;
  revision: string;
  gateway: {
    enabled: boolean;
    name: string;
    replicas: number;
    /** true: Istio's injector fills in the proxy (template `gateway`); false: the pinned image. */
    injection: boolean;
    image: ImageValues;
    resources: Resources;
    statusPort: number;
    ports: GatewayPort[];
    service: { type: 'ClusterIP'; annotations: Record<string, string> };
    podLabels: Record<string, string>;
    podAnnotations: Record<string, string>;
    podDisruptionBudget: { enabled: boolean; minAvailable: number };
    autoscaling: { enabled: boolean; minReplicas: number; maxReplicas: number; targetCPUUtilizationPercentage: number };
    placement: { nodeSelector: Record<string, string>; tolerations: unknown[]; antiAffinity: 'none' | 'preferred' | 'required' };
    logLevel: string;
  };
  istioGateway: { enabled: boolean; name: string; hosts: string[] };
  controller: { enabled: boolean; name: string; replicas: number; image: ImageValues; resources: Resources; resyncPeriod: string };
  dns: {
    enabled: boolean;
    mode: 'auto' | 'corefile' | 'custom';
    namespace: string;
    configMap: string;
    customConfigMap: string;
    clusterDomain: string;
    ttl: number;
  };
  migration: { replacementSuffix: string; restart: boolean };
}

export interface AcmgOperator {
  apiVersion: 'acmg.io/v1alpha1';
  kind: 'AcmgOperator';
  metadata: { name?: string; description?: string };
  spec: Spec;
}
