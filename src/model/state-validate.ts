// The rules acmg's state must satisfy when it is read (pure, no I/O). The state is ConfigMaps in the
// install namespace, so whoever can edit those could make the next run act on anything: an
// `originalService` that is a ClusterRoleBinding would be created by rollback, an `fqdn` goes into
// the Corefile, a `namespace` picks what is relabelled. kube/state.ts refuses (exit 2) state that
// breaks these rules, naming the ConfigMap, the record and the field. Unknown fields are allowed
// (a newer acmg may add some); known fields must have their type.
import { usageError, type AcmgError } from '../errors.js';
import { dns1123Label } from '../profile/k8s-formats.js';
import { migrationKey, type Approach, type MigrationRecord, type StepName } from './state.js';

// Records, not lists, so the compiler fails here when a step, approach or phase is added or renamed.
const STEPS: Record<StepName, true> = {
  'gateway-ports': true,
  route: true,
  'replacement-service': true,
  dns: true,
  'injection-label': true,
  restart: true,
  'delete-original': true,
};
const APPROACHES: Record<Approach, true> = { 'keep-service': true, 'replace-service': true };
const PHASES: Record<MigrationRecord['phase'], true> = { 'in-progress': true, complete: true, 'rolling-back': true };
/** The protocols acmg records for a port (model/ports.ts, GatewayProtocol). */
const PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'TCP']);

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_NAME_LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;
const LISTENER_KEY = /^([^/]*)\/(0|[1-9][0-9]*)$/;

const has = (set: Record<string, true>, v: unknown): boolean => typeof v === 'string' && Object.prototype.hasOwnProperty.call(set, v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;

/** A value as a short single line (a hand-edited value may be huge or hold newlines). */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 59)}…` : v);
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

const list = (keys: Record<string, true>) =>
  Object.keys(keys)
    .map((k) => `"${k}"`)
    .join(', ');

/** Why a Service name is not one (Services need a DNS-1035 label: it must start with a letter), or undefined. */
export function dns1035Label(v: string): string | undefined {
  return v.length <= 63 && DNS1035_LABEL.test(v)
    ? undefined
    : 'is not a valid DNS-1035 label: use at most 63 lowercase letters, digits and "-", starting with a letter and ending with a letter or digit';
}

/** A DNS name: dot-separated labels of letters, digits and "-" (at most 63 each, 253 in all). */
const isDnsName = (v: string): boolean => v.length > 0 && v.length <= 253 && v.split('.').every((l) => l.length <= 63 && DNS_NAME_LABEL.test(l));

export interface RecordContext {
  /** The install record's cluster domain (the fqdn must end in it); undefined without an install record. */
  clusterDomain?: string;
  /** The namespace of the shard the record was read from (undefined: the main ConfigMap, state from before sharding). */
  shardNamespace?: string;
}

/** Problems of one migration record, each as "field ...". */
export function migrationRecordProblems(key: string, r: unknown, ctx: RecordContext = {}): string[] {
  if (!isObject(r)) return [`is ${show(r)}, not a migration record (an object)`];
  const p: string[] = [];
  const { namespace: ns, service: svc } = r;

  let nsOk = false;
  if (typeof ns !== 'string') p.push(`namespace is ${show(ns)}; expected a namespace name`);
  else if (dns1123Label(ns)) p.push(`namespace ${show(ns)} ${dns1123Label(ns)}`);
  else if (ctx.shardNamespace !== undefined && ns !== ctx.shardNamespace)
    p.push(`namespace ${show(ns)} is not the namespace of its shard ("${ctx.shardNamespace}")`);
  else nsOk = true;
  let svcOk = false;
  if (typeof svc !== 'string') p.push(`service is ${show(svc)}; expected a Service name`);
  else if (dns1035Label(svc)) p.push(`service ${show(svc)} ${dns1035Label(svc)}`);
  else svcOk = true;
  const names = nsOk && svcOk ? { ns: ns as string, svc: svc as string } : undefined;
  if (names && key !== migrationKey(names.ns, names.svc))
    p.push(`the record's key is not "<namespace>/<service>" of its fields ("${migrationKey(names.ns, names.svc)}")`);

  if (!has(APPROACHES, r.approach)) p.push(`approach is ${show(r.approach)}; expected one of ${list(APPROACHES)}`);
  if (!has(PHASES, r.phase)) p.push(`phase is ${show(r.phase)}; expected one of ${list(PHASES)}`);

  // The fqdn goes into the Corefile as is.
  if (typeof r.fqdn !== 'string') p.push(`fqdn is ${show(r.fqdn)}; expected the Service's DNS name`);
  else if (names) {
    const prefix = `${names.svc}.${names.ns}.svc.`;
    if (ctx.clusterDomain !== undefined) {
      if (r.fqdn !== prefix + ctx.clusterDomain) p.push(`fqdn ${show(r.fqdn)} is not the Service's DNS name "${prefix}${ctx.clusterDomain}"`);
    } else if (!r.fqdn.startsWith(prefix) || !isDnsName(r.fqdn.slice(prefix.length)))
      p.push(`fqdn ${show(r.fqdn)} is not the Service's DNS name "${prefix}<cluster domain>"`);
  }

  if (!Array.isArray(r.ports)) p.push(`ports is ${show(r.ports)}; expected a list of {name, port, protocol}`);
  else
    r.ports.forEach((x: unknown, i) => {
      if (!isObject(x)) return void p.push(`ports[${i}] is ${show(x)}; expected {name, port, protocol}`);
      if (typeof x.name !== 'string') p.push(`ports[${i}].name is ${show(x.name)}; expected a string`);
      if (!isPort(x.port)) p.push(`ports[${i}].port is ${show(x.port)}; expected a port number (an integer 1-65535)`);
      if (typeof x.protocol !== 'string' || !PROTOCOLS.has(x.protocol))
        p.push(`ports[${i}].protocol is ${show(x.protocol)}; expected one of ${[...PROTOCOLS].map((s) => `"${s}"`).join(', ')}`);
    });

  if (!Array.isArray(r.journal)) p.push(`journal is ${show(r.journal)}; expected a list of steps`);
  else
    r.journal.forEach((s: unknown, i) => {
      if (!has(STEPS, s)) p.push(`journal[${i}] is ${show(s)}; expected one of ${list(STEPS)}`);
    });

  if (r.replacement !== undefined) {
    if (typeof r.replacement !== 'string') p.push(`replacement is ${show(r.replacement)}; expected a Service name`);
    else if (dns1035Label(r.replacement)) p.push(`replacement ${show(r.replacement)} ${dns1035Label(r.replacement)}`);
  }

  // Rollback creates this object as is: it must be this record's own Service, nothing else.
  const o = r.originalService;
  if (o !== undefined) {
    if (!isObject(o)) p.push(`originalService is ${show(o)}; expected the Service rollback recreates`);
    else {
      if (o.apiVersion !== 'v1') p.push(`originalService.apiVersion is ${show(o.apiVersion)}, not "v1" (rollback recreates this object)`);
      if (o.kind !== 'Service') p.push(`originalService.kind is ${show(o.kind)}, not "Service" (rollback recreates this object)`);
      const m = o.metadata;
      if (!isObject(m)) p.push(`originalService.metadata is ${show(m)}; expected the Service's metadata`);
      else {
        if (typeof svc === 'string' && m.name !== svc) p.push(`originalService.metadata.name is ${show(m.name)}, not the record's service ${show(svc)}`);
        if (m.namespace !== undefined && (typeof ns !== 'string' || m.namespace !== ns))
          p.push(`originalService.metadata.namespace is ${show(m.namespace)}, not the record's namespace ${show(ns)}`);
      }
      if (o.spec !== undefined && !isObject(o.spec)) p.push(`originalService.spec is ${show(o.spec)}; expected the Service's spec (an object)`);
    }
  }

  const pi = r.previousInjection;
  if (pi !== undefined && pi !== null && typeof pi !== 'string') p.push(`previousInjection is ${show(pi)}; expected a label value, null or nothing`);
  const arc = r.acceptedRuleChanges;
  // Each a rule change ({key, message}), or its message alone (a record written before keys).
  const ruleChangeLike = (x: unknown) => typeof x === 'string' || (isObject(x) && typeof x.key === 'string' && typeof x.message === 'string');
  if (arc !== undefined && (!Array.isArray(arc) || !arc.every(ruleChangeLike)))
    p.push(
      `acceptedRuleChanges is ${Array.isArray(arc) ? 'a list with an entry that is neither a {key, message} object nor a string' : show(arc)}; expected a list of accepted rule changes`,
    );
  if (r.origin !== undefined && r.origin !== 'declarative') p.push(`origin is ${show(r.origin)}; expected "declarative" or nothing`);
  if (r.migratedAt !== undefined && typeof r.migratedAt !== 'string') p.push(`migratedAt is ${show(r.migratedAt)}; expected a timestamp (a string)`);
  return p;
}

/** Problems of a ConfigMap's `migrations` (key -> record), each as `record "key": ...`, in key order. */
export function migrationsProblems(value: unknown, ctx: RecordContext = {}): string[] {
  if (!isObject(value)) return [`data.migrations is ${show(value)}; expected a JSON object of migration records`];
  return Object.keys(value)
    .sort()
    .flatMap((k) => migrationRecordProblems(k, value[k], ctx).map((x) => `record ${show(k)}: ${x}`));
}

/** Problems of the main ConfigMap's `listeners` ("namespace/port" -> listener port). */
export function listenersProblems(value: unknown): string[] {
  if (!isObject(value)) return [`data.listeners is ${show(value)}; expected a JSON object of "namespace/port" -> listener port`];
  const p: string[] = [];
  for (const k of Object.keys(value).sort()) {
    const m = LISTENER_KEY.exec(k);
    if (!m || dns1123Label(m[1]!) || !isPort(Number(m[2]))) p.push(`listeners: key ${show(k)} is not "<namespace>/<port>"`);
    if (!isPort(value[k])) p.push(`listeners[${show(k)}] is ${show(value[k])}; expected a port number (an integer 1-65535)`);
  }
  return p;
}

/** Problems of a shard's identity: its label names a namespace, and its name is that namespace's shard name. */
export function shardProblems(name: string, namespaceLabel: string, expectedName: string): string[] {
  if (dns1123Label(namespaceLabel)) return [`its namespace label ${show(namespaceLabel)} ${dns1123Label(namespaceLabel)}`];
  return name === expectedName ? [] : [`its namespace label says ${show(namespaceLabel)}, but that namespace's shard is "${expectedName}"`];
}

/** Problems of a part of the main ConfigMap that must be a JSON object (install, synced). */
export const objectProblems = (field: string, value: unknown): string[] =>
  value === undefined || isObject(value) ? [] : [`data.${field} is ${show(value)}; expected a JSON object`];

/**
 * The refusal of state that breaks these rules: every problem (each prefixed with its ConfigMap),
 * and how to get out (restore the ConfigMap, or remove the record). Undefined when there is none.
 */
export function stateRefusal(installNamespace: string, byConfigMap: ReadonlyMap<string, string[]>): AcmgError | undefined {
  const bad = [...byConfigMap].filter(([, ps]) => ps.length);
  if (!bad.length) return undefined;
  const problems = bad.flatMap(([name, ps]) => ps.map((x) => `state ConfigMap ${installNamespace}/${name}: ${x}`));
  const names = bad.map(([name]) => name);
  const more = names.length > 1 ? ` (likewise ${names.slice(1, 4).join(', ')}${names.length > 4 ? ` and ${names.length - 4} more` : ''})` : '';
  return usageError(
    problems,
    `acmg's state was edited by hand or damaged, and acmg will not act on it: restore ${names.length > 1 ? 'these ConfigMaps' : 'it'} from a backup, ` +
      `or fix or remove the record named above with kubectl -n ${installNamespace} edit configmap ${names[0]}${more}`,
  );
}
