// Validates a merged AcmgOperator document against the schema. Collects every problem (one line
// each, with its path) instead of stopping at the first, so a user fixes them all in one go.
import { excerpt } from '../input/safe-yaml.js';
import * as f from './k8s-formats.js';
import { closest } from './suggest.js';
import { documentSchema, type AcmgOperator, type Field, type Resources, type StringFormat } from './schema.js';
import { formatPath, type PathSegment } from './paths.js';
import { isPlainObject } from './merge.js';
import { operationProblems } from './json-patch.js';

const DOMAIN = /^(auto|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

/** Values are quoted in short excerpts: a bad value may be huge (an alias bomb, a pasted file). */
const show = (v: unknown): string => excerpt(v);

const FORMAT_CHECKS: Record<StringFormat, (v: string) => string | undefined> = {
  dns1123label: f.dns1123Label,
  dns1123subdomain: f.dns1123Subdomain,
  quantity: f.quantity,
  domain: (v) => (DOMAIN.test(v) ? undefined : 'is not a DNS domain (for example cluster.local) or "auto"'),
  image: (v) => (v === '' ? 'must not be empty' : f.imagePart(v)),
  imageTag: f.imageTag,
  qualifiedName: f.qualifiedName,
  labelValue: f.labelValue,
  revision: f.revision,
  portName: f.portName,
  gatewayHost: f.gatewayHost,
  optionalSubdomain: (v) => (v === '' ? undefined : f.dns1123Subdomain(v)),
  duration: f.goDuration,
};

export function checkStringFormat(value: string, format: StringFormat): string | undefined {
  const bad = FORMAT_CHECKS[format](value);
  if (!bad) return undefined;
  return bad.startsWith('must') ? bad : `${show(value)} ${bad}`;
}

export function validateAgainst(field: Field, value: unknown, path: PathSegment[], problems: string[]): void {
  const at = formatPath(path) || '(document)';
  switch (field.kind) {
    case 'any':
      return;
    case 'object': {
      if (typeName(value) !== 'object') {
        problems.push(`${at}: expected an object, got ${typeName(value)} ${show(value)}`);
        return;
      }
      for (const k of Object.keys(field.fields)) {
        if ((value as Record<string, unknown>)[k] === undefined && !field.optional?.includes(k)) {
          problems.push(`${formatPath([...path, k])}: missing (it has no default; was it set to null by an overlay?)`);
        }
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const sub = field.fields[k];
        if (!sub) {
          const near = closest(k, Object.keys(field.fields));
          problems.push(
            `${formatPath([...path, k])}: unknown field${near ? ` (did you mean "${formatPath([...path, near])}"?)` : `; valid fields here: ${Object.keys(field.fields).sort().join(', ')}`}`,
          );
          continue;
        }
        validateAgainst(sub, v, [...path, k], problems);
      }
      return;
    }
    case 'map': {
      if (typeName(value) !== 'object') {
        problems.push(`${at}: expected a map of key: value, got ${typeName(value)} ${show(value)}`);
        return;
      }
      const entries = Object.entries(value as Record<string, unknown>);
      for (const [k, v] of entries) {
        const badKey = field.keys ? FORMAT_CHECKS[field.keys](k) : undefined;
        if (badKey) problems.push(`${at}: key ${show(k)} ${badKey}`);
        validateAgainst(field.values, v, [...path, k], problems);
      }
      const bytes = entries.reduce((n, [k, v]) => n + k.length + (typeof v === 'string' ? v.length : 0), 0);
      if (field.maxBytes !== undefined && bytes > field.maxBytes)
        problems.push(`${at}: ${bytes} bytes in total, more than Kubernetes allows (${field.maxBytes})`);
      return;
    }
    case 'toleration':
      for (const p of f.tolerationProblems(value)) problems.push(`${at}: ${p}`);
      return;
    case 'array':
      if (!Array.isArray(value)) {
        problems.push(`${at}: expected a list, got ${typeName(value)} ${show(value)}`);
        return;
      }
      value.forEach((v, i) => validateAgainst(field.items, v, [...path, i], problems));
      return;
    case 'string': {
      if (typeof value !== 'string') {
        problems.push(
          `${at}: expected a string, got ${typeName(value)} ${show(value)}${typeof value === 'number' || typeof value === 'boolean' ? ` (quote it: "${String(value)}")` : ''}`,
        );
        return;
      }
      const bad = field.format ? checkStringFormat(value, field.format) : undefined;
      if (bad) problems.push(`${at}: ${bad}`);
      return;
    }
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        problems.push(`${at}: expected a whole number, got ${typeName(value)} ${show(value)}`);
        return;
      }
      if ((field.min !== undefined && value < field.min) || (field.max !== undefined && value > field.max)) {
        problems.push(`${at}: ${value} is out of range (${field.min ?? '-∞'}..${field.max ?? '∞'})`);
      }
      return;
    case 'boolean':
      if (typeof value !== 'boolean') problems.push(`${at}: expected true or false, got ${typeName(value)} ${show(value)}`);
      return;
    case 'enum':
      if (typeof value !== 'string' || !field.values.includes(value)) {
        const near = typeof value === 'string' ? closest(value, field.values) : undefined;
        problems.push(
          `${at}: ${show(value)} is not one of ${field.values.map((v) => (v === '' ? '"" (none)' : v)).join(', ')}${near ? ` (did you mean "${near}"?)` : ''}`,
        );
      }
      return;
  }
}

/** Ports the Istio proxy uses itself (istio.io "Ports used by Istio"), other than the status port. */
export const PROXY_RESERVED_PORTS = [15000, 15001, 15004, 15006, 15008, 15020, 15053, 15090];

/** The API server refuses a request above its limit. */
function resourceProblems(at: string, r: Resources): string[] {
  const problems: string[] = [];
  for (const k of ['cpu', 'memory'] as const) {
    const req = r.requests?.[k];
    const lim = r.limits?.[k];
    if (req !== undefined && lim !== undefined && f.quantityValue(req) > f.quantityValue(lim)) {
      problems.push(`${at}.requests.${k}: ${req} is more than the limit ${lim} (${at}.limits.${k}); the API server refuses that`);
    }
  }
  return problems;
}

/** Rules that involve more than one field. */
function crossFieldProblems(doc: AcmgOperator): string[] {
  const problems: string[] = [];
  const g = doc.spec.gateway;
  const seenNames = new Map<string, number>();
  const seenPorts = new Map<number, number>();
  const seenTargets = new Map<number, number>();
  g.ports.forEach((p, i) => {
    if (seenNames.has(p.name)) problems.push(`gateway.ports[${i}].name: "${p.name}" is already used by gateway.ports[${seenNames.get(p.name)}]`);
    else seenNames.set(p.name, i);
    if (seenPorts.has(p.port)) problems.push(`gateway.ports[${i}].port: ${p.port} is already used by gateway.ports[${seenPorts.get(p.port)}]`);
    else seenPorts.set(p.port, i);
    if (p.port === g.statusPort) problems.push(`gateway.ports[${i}].port: ${p.port} collides with gateway.statusPort`);
    if (p.name === 'status-port') problems.push(`gateway.ports[${i}].name: "status-port" is the name of the gateway's status port; choose another`);
    const target = p.targetPort ?? p.port;
    if (seenTargets.has(target))
      problems.push(`gateway.ports[${i}]: target port ${target} is already the target of gateway.ports[${seenTargets.get(target)}] (one container port each)`);
    else seenTargets.set(target, i);
    if (target === g.statusPort && p.port !== g.statusPort)
      problems.push(`gateway.ports[${i}]: target port ${target} is gateway.statusPort; the proxy serves its health checks there`);
    else if (PROXY_RESERVED_PORTS.includes(target))
      problems.push(
        `gateway.ports[${i}]: target port ${target} is reserved by the Istio proxy (${PROXY_RESERVED_PORTS.join(', ')}); set targetPort to another port`,
      );
  });
  if (PROXY_RESERVED_PORTS.includes(g.statusPort))
    problems.push(
      `gateway.statusPort: ${g.statusPort} is reserved by the Istio proxy for something else (${PROXY_RESERVED_PORTS.join(', ')}); the usual value is 15021`,
    );
  if (g.autoscaling.enabled && g.podDisruptionBudget.enabled && g.podDisruptionBudget.minAvailable >= g.autoscaling.minReplicas) {
    problems.push(
      `gateway.podDisruptionBudget.minAvailable (${g.podDisruptionBudget.minAvailable}) must be below gateway.autoscaling.minReplicas (${g.autoscaling.minReplicas}), or at the minimum scale no gateway pod could ever be evicted (node drains would hang)`,
    );
  }
  if (g.image.tag === '') problems.push('gateway.image.tag: must not be empty (the proxy image to run when gateway.injection is false)');
  problems.push(...resourceProblems('gateway.resources', g.resources), ...resourceProblems('controller.resources', doc.spec.controller.resources));
  if (g.autoscaling.enabled && g.autoscaling.minReplicas > g.autoscaling.maxReplicas) {
    problems.push(`gateway.autoscaling: minReplicas (${g.autoscaling.minReplicas}) is greater than maxReplicas (${g.autoscaling.maxReplicas})`);
  }
  if (g.podDisruptionBudget.enabled && !g.autoscaling.enabled && g.podDisruptionBudget.minAvailable >= g.replicas && g.replicas > 0) {
    problems.push(
      `gateway.podDisruptionBudget.minAvailable (${g.podDisruptionBudget.minAvailable}) must be below gateway.replicas (${g.replicas}), or no gateway pod could ever be evicted`,
    );
  }
  // Istio's validation rejects a Gateway without servers or a server without hosts.
  if (doc.spec.istioGateway.enabled && g.ports.length === 0) {
    problems.push(
      'gateway.ports: empty, but the Istio Gateway needs at least one server (one per gateway port); add a port, for example { name: http, port: 80, protocol: HTTP }',
    );
  }
  if (doc.spec.istioGateway.enabled && doc.spec.istioGateway.hosts.length === 0) {
    problems.push('istioGateway.hosts: empty, but every Istio Gateway server needs a host; use ["*"] (routes narrow by host)');
  }
  // A Gateway API listener takes routes from namespaces (allowedRoutes), not by host.
  const badHosts = doc.spec.istioGateway.hosts.filter((h) => h !== '*' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/\*$/.test(h));
  if (doc.spec.routing.api === 'gateway-api' && badHosts.length) {
    problems.push(
      `istioGateway.hosts: ${badHosts.map((h) => JSON.stringify(h)).join(', ')} with routing.api gateway-api: use "*" or "namespace/*" entries (a Gateway API listener takes routes by namespace; narrow by host in the HTTPRoutes' hostnames)`,
    );
  }
  if (doc.spec.istioGateway.enabled && !g.enabled) {
    problems.push('istioGateway.enabled: the Istio Gateway selects the acmg gateway pods; enable gateway.enabled too, or disable istioGateway');
  }
  // Server-side apply keys the list by name: a repeated one is refused.
  for (const part of ['gateway', 'controller'] as const) {
    doc.spec[part].imagePullSecrets.forEach((n, i, all) => {
      if (all.indexOf(n) !== i) problems.push(`${part}.imagePullSecrets[${i}]: "${n}" is already ${part}.imagePullSecrets[${all.indexOf(n)}]`);
    });
  }
  doc.spec.patches.forEach((p, i) => {
    if (p.mergePatch === undefined && !p.jsonPatch?.length) problems.push(`patches[${i}]: give a mergePatch or a jsonPatch (or both)`);
    if (p.mergePatch !== undefined && !isPlainObject(p.mergePatch))
      problems.push(`patches[${i}].mergePatch: expected an object (the fields to merge into ${p.kind} ${p.name}), got ${typeName(p.mergePatch)}`);
    (p.jsonPatch ?? []).forEach((o, j) => {
      for (const problem of operationProblems(o as never)) problems.push(`patches[${i}].jsonPatch[${j}].${problem}`);
    });
  });
  // Never empty: the replacement would be the original Service itself, which approach 2 deletes.
  if (!/^-[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(doc.spec.migration.replacementSuffix)) {
    problems.push(
      `migration.replacementSuffix: "${doc.spec.migration.replacementSuffix}" must start with "-" and continue as a DNS-1123 label (for example -acmg)`,
    );
  }
  return problems;
}

/** Returns one line per problem; empty when the document is valid. Paths are relative to spec. */
export function validateDocument(doc: unknown): string[] {
  const problems: string[] = [];
  validateAgainst(documentSchema, doc, [], problems);
  // Report spec fields relative to spec (the paths --set uses).
  const rel = problems.map((p) => p.replace(/^spec\./, '').replace(/"spec\./g, '"'));
  if (rel.length > 0) return rel;
  return crossFieldProblems(doc as AcmgOperator);
}
