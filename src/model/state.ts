// acmg's record of what it did (the data, no I/O): the install (profile, values, version, objects)
// and every migration with its journal. kube/state.ts reads and writes it in a ConfigMap.
import type { Spec } from '../profile/schema.js';
import type { KObject } from './object.js';

/** The install namespace when nothing says otherwise (acmg looks for its state there first). */
export const DEFAULT_INSTALL_NAMESPACE = 'istio-system';

export const STATE_NAME = 'acmg-state';
/** The ConfigMap that holds the migrations of one namespace (kube/state.ts). */
export const shardName = (namespace: string) => `${STATE_NAME}-${namespace}`;

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface InstallRecord {
  version: string;
  profile: string;
  values: Spec;
  clusterDomain: string;
  /**
   * The CoreDNS Deployment acmg restarts where CoreDNS does not reload by itself: found by install
   * (labelled k8s-app=kube-dns, else named coredns), the one the controller's Role grants. Absent in
   * a record an older acmg wrote, or with dns.enabled=false: found by label when needed.
   */
  corednsDeployment?: string;
  objects: ObjectRef[];
  installedAt: string;
  /** Set while an install is applying; cleared when it completed. */
  inProgress?: boolean;
}

export type Approach = 'keep-service' | 'replace-service';
export type StepName = 'gateway-ports' | 'route' | 'replacement-service' | 'dns' | 'injection-label' | 'restart' | 'delete-original';

export interface MigrationRecord {
  namespace: string;
  service: string;
  approach: Approach;
  fqdn: string;
  /** The ports the gateway opened for this service. */
  ports: { name: string; port: number; protocol: string }[];
  /** Approach 2: the replacement Service's name, and the original Service to recreate on rollback. */
  replacement?: string;
  originalService?: KObject;
  /** The namespace's istio-injection label before acmg changed it (null: it had none). */
  previousInjection?: string | null;
  /** Completed steps, in order. */
  journal: StepName[];
  /**
   * complete when every step is done; an interrupted run leaves in-progress; a rollback marks its
   * migrations rolling-back before it changes anything, so acmg sync (the controller) stops
   * writing their DNS entries instead of putting them back.
   */
  phase: 'in-progress' | 'complete' | 'rolling-back';
  migratedAt: string;
  /**
   * The user's rules that cannot hold at the gateway, accepted at migrate (--accept-rule-changes):
   * each by its key (what makes it the same rule, not its position) with the message shown then. A
   * plain string is a record written before keys: its message, matched by text.
   */
  acceptedRuleChanges?: (RuleChange | string)[];
  /**
   * declarative: the controller migrated it because it was marked (acmg.io/migrate), and rolls it
   * back when the mark goes. Absent: `acmg migrate` did, and the controller never rolls it back.
   */
  origin?: MigrationOrigin;
}

export type MigrationOrigin = 'declarative';

/**
 * A user's rule that cannot hold at the gateway. key: the same for the same rule however the rules
 * around it move (its object, the reason, a fingerprint of the part of the rule refused), so what
 * the user accepted at migrate stays accepted; message: for the user, with the rule's position.
 */
export interface RuleChange {
  key: string;
  message: string;
}

/** Whether a rule change is among those accepted: by key, or by message for a record written before keys. */
export function acceptedRuleChange(accepted: readonly (RuleChange | string)[] | undefined, c: RuleChange): boolean {
  return (accepted ?? []).some((a) => (typeof a === 'string' ? a === c.message : a.key === c.key));
}

/** What `acmg sync` derived from VirtualServices bound to the acmg Gateway (gateway ports). */
export interface SyncedRecord {
  ports: { name: string; port: number; protocol: string }[];
  syncedAt: string;
}

export interface State {
  install?: InstallRecord;
  migrations: Record<string, MigrationRecord>; // key: namespace/service
  synced?: SyncedRecord;
  /**
   * The gateway listener port each migrated namespace's service port arrives on ("namespace/port" ->
   * listener port; render/namespace-gateway.ts). In the main ConfigMap, so handing out a port is
   * guarded by one resourceVersion across all runs.
   */
  listeners?: Record<string, number>;
}

/** The key of a namespace's service port in State.listeners. */
export const listenerKey = (namespace: string, port: number) => `${namespace}/${port}`;

export const migrationKey = (ns: string, svc: string) => `${ns}/${svc}`;

/** Each of acmg's state ConfigMaps (the main one, each namespace's shard): the API server refuses data over 1 MiB. */
export const STATE_LIMIT_BYTES = 1024 * 1024;

/** Bytes the state's data takes (what the ConfigMap stores). */
export function stateBytes(st: State): number {
  return (
    Buffer.byteLength(JSON.stringify(st.migrations)) +
    (st.install ? Buffer.byteLength(JSON.stringify(st.install)) : 0) +
    (st.synced ? Buffer.byteLength(JSON.stringify(st.synced)) : 0) +
    (st.listeners ? Buffer.byteLength(JSON.stringify(st.listeners)) : 0)
  );
}
