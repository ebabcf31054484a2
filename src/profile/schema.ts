// The shape of an AcmgOperator document, as data: validation walks it to report unknown fields
// (with the closest valid name), wrong types and out-of-range values, each with its full path.
// The TypeScript types of the values (Spec, GatewayPort, ...) are inferred from the same data, so
// the schema is the one source of truth.
import { JSON_PATCH_OPS } from './json-patch.js';

export type Field =
  | { kind: 'object'; fields: Record<string, Field>; optional?: readonly string[]; doc?: string }
  | { kind: 'toleration'; doc?: string } // a Kubernetes toleration, checked as the API server does
  | { kind: 'map'; keys?: StringFormat; values: Field; maxBytes?: number; doc?: string } // free-form keys (labels, nodeSelector)
  | { kind: 'array'; items: Field; doc?: string }
  | { kind: 'string'; format?: StringFormat; doc?: string }
  | { kind: 'integer'; min?: number; max?: number; doc?: string }
  | { kind: 'boolean'; doc?: string }
  | { kind: 'enum'; values: readonly string[]; doc?: string }
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
  /** "" (none) or a DNS-1123 subdomain: a priorityClassName. */
  | 'optionalSubdomain'
  | 'duration';

// Builders keep their literal types (enum values, object fields, optional keys) for Infer below.
const str = (format?: StringFormat) => ({ kind: 'string', format }) as const;
const int = (min?: number, max?: number) => ({ kind: 'integer', min, max }) as const;
const bool = { kind: 'boolean' } as const;
const obj = <const T extends Record<string, Field>>(fields: T) => ({ kind: 'object', fields }) as { kind: 'object'; fields: T; optional?: readonly never[] };
/** An object some of whose fields may be left out. */
const objWith = <const T extends Record<string, Field>, const O extends keyof T & string>(fields: T, optional: readonly O[]) =>
  ({ kind: 'object', fields, optional }) as { kind: 'object'; fields: T; optional: readonly O[] };
const map = <const V extends Field>(keys: StringFormat, values: V, maxBytes?: number) => ({ kind: 'map', keys, values, maxBytes }) as const;
const arr = <const I extends Field>(items: I) => ({ kind: 'array', items }) as const;
const oneOf = <const V extends string>(...values: V[]) => ({ kind: 'enum', values }) as { kind: 'enum'; values: readonly V[] };

/** A Kubernetes toleration (checked as the API server checks it, see k8s-formats.ts). */
export interface Toleration {
  key?: string;
  operator?: 'Equal' | 'Exists';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

/** The TypeScript type of the values a field accepts. */
export type Infer<F> = F extends { kind: 'string' }
  ? string
  : F extends { kind: 'integer' }
    ? number
    : F extends { kind: 'boolean' }
      ? boolean
      : F extends { kind: 'enum'; values: readonly (infer V)[] }
        ? V
        : F extends { kind: 'array'; items: infer I }
          ? Infer<I>[]
          : F extends { kind: 'map'; values: infer V }
            ? Record<string, Infer<V>>
            : F extends { kind: 'toleration' }
              ? Toleration
              : F extends { kind: 'object'; fields: infer T; optional?: infer O }
                ? InferObject<T, O extends readonly string[] ? O[number] : never>
                : unknown;
type InferObject<T, Opt> = { -readonly [K in keyof T as K extends Opt ? never : K]: Infer<T[K]> } & {
  -readonly [K in keyof T as K extends Opt ? K : never]?: Infer<T[K]>;
};

const port = int(1, 65535);
/** Kubernetes' limit on a pod's (or any object's) annotations, keys and values together. */
export const ANNOTATIONS_MAX_BYTES = 256 * 1024;
const labels = map('qualifiedName', str('labelValue'));
const annotations = map('qualifiedName', str(), ANNOTATIONS_MAX_BYTES);

const image = obj({ hub: str('image'), name: str('image'), tag: str('imageTag'), pullPolicy: oneOf('Always', 'IfNotPresent', 'Never') });
const resourceList = objWith({ cpu: str('quantity'), memory: str('quantity') }, ['cpu', 'memory']);
const resources = objWith({ requests: resourceList, limits: resourceList }, ['requests', 'limits']);

/** Protocols the gateway can carry (Istio Gateway server protocols). */
export const PORT_PROTOCOLS = ['HTTP', 'HTTP2', 'GRPC', 'TCP'] as const;

/** Pod settings the gateway and the controller share (render/pod-settings.ts). */
const podSettings = {
  /** "" = none (the cluster's default priority). */
  priorityClassName: str('optionalSubdomain'),
  imagePullSecrets: arr(str('dns1123subdomain')),
  /** RuntimeDefault: Pod Security "restricted" admits the pod. */
  seccompProfile: oneOf('RuntimeDefault', 'none'),
} as const;

/** An RFC 6902 operation (profile/json-patch.ts). */
const jsonPatchOperation = objWith({ op: oneOf(...JSON_PATCH_OPS), path: str(), from: str(), value: { kind: 'any' } as const }, ['from', 'value']);

/** spec.patches: a merge patch and/or a JSON patch on one rendered object (render/patches.ts). */
export const objectPatch = objWith(
  {
    kind: str(),
    name: str('dns1123subdomain'),
    namespace: str('dns1123label'),
    mergePatch: { kind: 'any' } as const,
    jsonPatch: arr(jsonPatchOperation),
  },
  ['namespace', 'mergePatch', 'jsonPatch'],
);

export const gatewayPort = objWith(
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
    service: obj({ type: oneOf('ClusterIP'), annotations, trafficDistribution: oneOf('', 'PreferClose', 'PreferSameZone', 'PreferSameNode') }),
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
      tolerations: arr({ kind: 'toleration' } as const),
      antiAffinity: oneOf('none', 'preferred', 'required'),
      zoneSpread: oneOf('none', 'preferred', 'required'),
    }),
    logLevel: oneOf('trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'),
    ...podSettings,
  }),
  istioGateway: obj({ enabled: bool, name: str('dns1123label'), hosts: arr(str('gatewayHost')) }),
  routing: obj({ api: oneOf('istio', 'gateway-api') }),
  controller: obj({
    enabled: bool,
    name: str('dns1123label'),
    replicas: int(0, 100),
    image,
    resources,
    resyncPeriod: str('duration'),
    declarative: obj({ enabled: bool }),
    ...podSettings,
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
  patches: arr(objectPatch),
});

export const documentSchema = objWith(
  {
    apiVersion: oneOf('acmg.io/v1alpha1'),
    kind: oneOf('AcmgOperator'),
    metadata: objWith({ name: str('dns1123label'), description: str() }, ['name', 'description']),
    spec: specSchema,
  },
  ['metadata'],
);

/** Fully-merged values (base + profile + overlays + --set). */
export type Spec = Infer<typeof specSchema>;
export type GatewayPort = Infer<typeof gatewayPort>;
export type ImageValues = Spec['gateway']['image'];
export type Resources = Spec['gateway']['resources'];
export type AcmgOperator = Infer<typeof documentSchema>;
export type ObjectPatch = Infer<typeof objectPatch>;
export type PodSettings = Pick<Spec['gateway'], keyof typeof podSettings>;
