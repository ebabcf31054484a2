// Kubernetes' and Istio's own rules for names, labels and quantities, so that values acmg accepts
// render objects the API server and Istio's validation accept too (see test/e2e/values-property).
// Each check returns why a value is wrong, or undefined.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[+-]?\d+)?$/;
const IMAGE_PART = /^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?$/;
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

export function dns1123Label(v: string): string | undefined {
  return v.length <= 63 && DNS1123_LABEL.test(v)
    ? undefined
    : 'is not a valid DNS-1123 label: use at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit';
}

export function dns1123Subdomain(v: string): string | undefined {
  return v.length <= 253 && DNS1123_SUBDOMAIN.test(v) ? undefined : 'is not a valid DNS-1123 subdomain: lowercase letters, digits, "-" and "."';
}

/** A label or annotation key: an optional DNS subdomain prefix and "/", then a name of at most 63. */
export function qualifiedName(v: string): string | undefined {
  const slash = v.lastIndexOf('/');
  const [prefix, name] = slash >= 0 ? [v.slice(0, slash), v.slice(slash + 1)] : [undefined, v];
  if (prefix !== undefined && (prefix === '' || dns1123Subdomain(prefix)))
    return 'has a prefix that is not a DNS subdomain (the part before "/", e.g. example.com/)';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME_PART.test(name)) {
    return 'is not a valid label or annotation key: at most 63 letters, digits, "-", "_" and "." (alphanumeric at both ends), optionally after a DNS prefix and "/"';
  }
  return undefined;
}

export function labelValue(v: string): string | undefined {
  return v.length <= 63 && LABEL_VALUE.test(v)
    ? undefined
    : 'is not a valid label value: at most 63 letters, digits, "-", "_" and "." (alphanumeric at both ends), or empty';
}

/** IANA service name, as Kubernetes requires of container port names. */
export function portName(v: string): string | undefined {
  if (v.length > 15 || !DNS1123_LABEL.test(v) || v.includes('--') || !/[a-z]/.test(v)) {
    return 'is not a valid port name: at most 15 lowercase letters, digits and "-" (no "--"), with at least one letter';
  }
  return undefined;
}

export function revision(v: string): string | undefined {
  return v === '' || !dns1123Label(v) ? undefined : 'is not a valid Istio revision: "" (the default revision) or a DNS-1123 label such as 1-24 or canary';
}

export function quantity(v: string): string | undefined {
  return QUANTITY.test(v) ? undefined : 'is not a Kubernetes quantity (for example 500m, 2, 256Mi, 1Gi)';
}

export function imagePart(v: string): string | undefined {
  return IMAGE_PART.test(v)
    ? undefined
    : 'is not a valid image registry or name: lowercase letters, digits, ".", "_", "-", "/" and ":" (for example docker.io/istio)';
}

/** "" is allowed by the schema where a default applies (the controller's tag). */
export function imageTag(v: string): string | undefined {
  return v === '' || IMAGE_TAG.test(v) ? undefined : 'is not a valid image tag: up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"';
}

export function goDuration(v: string): string | undefined {
  return GO_DURATION.test(v) ? undefined : 'is not a duration (for example 30s, 5m, 1h)';
}

/** Hosts of an Istio Gateway server: [namespace/]host with "*" or a leading "*." allowed. */
export function gatewayHost(v: string): string | undefined {
  const slash = v.indexOf('/');
  const [ns, host] = slash >= 0 ? [v.slice(0, slash), v.slice(slash + 1)] : [undefined, v];
  if (ns !== undefined && ns !== '*' && ns !== '.' && dns1123Label(ns)) return 'has a namespace part that is not "*", "." or a namespace name';
  if (host === '*') return undefined;
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (name.length === 0 || name.length > 253 || dns1123Subdomain(name))
    return 'is not a valid Gateway host: "*", "*.example.com", "example.com" or "namespace/host"';
  return undefined;
}

const SUFFIX: Record<string, number> = {
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The number a valid quantity stands for (precise enough to compare requests with limits). */
export function quantityValue(v: string): number {
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(.*)$/.exec(v);
  if (!m) return NaN;
  const n = Number(m[1]);
  const s = m[2] ?? '';
  if (s === '') return n;
  if (s.startsWith('e')) return n * 10 ** Number(s.slice(1));
  return n * (SUFFIX[s] ?? NaN);
}

/** A toleration as the API server validates it (ValidateTolerations). */
export function tolerationProblems(t: unknown): string[] {
  if (t === null || typeof t !== 'object' || Array.isArray(t)) return ['expected a toleration object ({ key, operator, value, effect, tolerationSeconds })'];
  const o = t as Record<string, unknown>;
  const problems: string[] = [];
  const known = ['key', 'operator', 'value', 'effect', 'tolerationSeconds'];
  for (const k of Object.keys(o)) if (!known.includes(k)) problems.push(`unknown toleration field "${k}" (valid: ${known.join(', ')})`);
  const str = (k: string) => (o[k] === undefined ? '' : typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const key = str('key');
  const operator = str('operator') || 'Equal';
  const value = str('value');
  const effect = str('effect');
  for (const k of ['key', 'operator', 'value', 'effect']) if (str(k) === undefined) problems.push(`${k} must be a string`);
  if (key) {
    const bad = qualifiedName(key);
    if (bad) problems.push(`key ${bad}`);
  } else if (key === '' && operator !== 'Exists') problems.push('an empty key needs operator Exists (it then tolerates every taint)');
  if (operator !== 'Equal' && operator !== 'Exists') problems.push(`operator must be Equal or Exists`);
  if (operator === 'Exists' && value) problems.push('value must be empty when operator is Exists');
  if (operator === 'Equal' && value && labelValue(value)) problems.push(`value ${labelValue(value)}`);
  if (effect && !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(effect)) problems.push('effect must be NoSchedule, PreferNoSchedule or NoExecute');
  if (o.tolerationSeconds !== undefined) {
    if (typeof o.tolerationSeconds !== 'number' || !Number.isInteger(o.tolerationSeconds)) problems.push('tolerationSeconds must be a whole number');
    else if (effect !== 'NoExecute') problems.push('tolerationSeconds needs effect NoExecute');
  }
  return problems;
}
