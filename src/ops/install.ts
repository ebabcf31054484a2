// acmg install: precheck -> plan (server-side dry run against the live cluster) -> confirm ->
// apply in dependency order -> wait for the gateway by watching -> prune -> record.
import { checkFailed, AcmgError, ExitCode, usageError } from '../errors.js';
import { failed, type CheckResult } from '../model/check.js';
import { runPrecheck } from '../check/precheck.js';
import { ApiError, type KubeApi } from '../kube/api.js';
import type { KObject } from '../model/object.js';
import { readState, updateState } from '../kube/state.js';
import { type InstallRecord, type ObjectRef } from '../model/state.js';
import type { AcmgOperator } from '../profile/schema.js';
import { installRecord, renderInstallObjects, sameInstallRecord } from '../render/install.js';
import { patchNames } from '../render/patches.js';

import { DEFAULT_COREDNS_DEPLOYMENT } from '../render/types.js';
import { VERSION } from '../version.js';
import { corednsDeployment } from './coredns-restart.js';
import { withEffectivePorts } from './gateway-ports.js';
import { normalize, refKey, refOf, refText, sameObject } from './objects.js';
import { waitForDeployment } from './wait.js';
import { applyRoutingSwitch, planRoutingSwitch, type RoutingSwitchPlan } from './routing-switch.js';

export interface PlannedObject {
  object: KObject;
  action: 'create' | 'update' | 'unchanged';
  live?: KObject;
  /** What the object would be after apply (server-side dry run), for diffs. */
  after?: KObject;
}

export interface InstallPlan {
  doc: AcmgOperator;
  clusterDomain: string;
  /** The CoreDNS Deployment install found (corednsDeployment; coredns where none is), with DNS on. */
  corednsDeployment?: string;
  objects: PlannedObject[];
  prune: ObjectRef[];
  createNamespace: boolean;
  checks: CheckResult[];
  unreachable?: boolean;
  previous?: InstallRecord;
  /** With migrated services and another routing.api: their routes move to it, in place. */
  routingSwitch?: RoutingSwitchPlan;
}

export const planIsEmpty = (p: InstallPlan) =>
  !p.createNamespace && p.prune.length === 0 && p.objects.every((o) => o.action === 'unchanged') && !p.routingSwitch;

export async function planInstall(kube: KubeApi, doc: AcmgOperator): Promise<InstallPlan> {
  const pre = await runPrecheck(kube, doc);
  const checks = pre.results;
  if (failed(checks).length) return { doc, clusterDomain: '', objects: [], prune: [], createNamespace: false, checks, unreachable: pre.unreachable };
  const s = doc.spec;
  const clusterDomain = pre.layout?.clusterDomain ?? (s.dns.clusterDomain === 'auto' ? 'cluster.local' : s.dns.clusterDomain);
  const state = await readState(kube, s.namespace);
  const spec = withEffectivePorts(s, state);
  // The CoreDNS Deployment as a restart would find it by label (RKE2 and Helm name it otherwise):
  // the controller's Role grants its restart by this name, and the record tells the controller it.
  const corednsName = pre.layout ? ((await corednsDeployment(kube, s.dns))?.metadata.name ?? DEFAULT_COREDNS_DEPLOYMENT) : undefined;
  const layout = pre.layout && corednsName ? { ...pre.layout, deployment: corednsName } : undefined;
  // The one object list, shared with manifest generate (render/install.ts), for the detected layout.
  const rendered = renderInstallObjects({ ...doc, spec }, { clusterDomain, version: VERSION, layout });
  const createNamespace = !(await kube.get('v1', 'Namespace', s.namespace));

  const patched = (o: KObject) => s.patches.some((p) => patchNames(p, o));
  const objects = await Promise.all(
    rendered.map(async (object): Promise<PlannedObject> => {
      const live = createNamespace ? undefined : await kube.get(object.apiVersion, object.kind, object.metadata.name, object.metadata.namespace);
      if (!live) {
        // Validated values render objects the API server accepts (test/e2e/values-property proves
        // it); a patch can write anything, so what one touched is judged before anything is written.
        if (patched(object)) await dryRunPatched(kube, object, createNamespace && object.metadata.namespace === s.namespace);
        return { object, action: 'create' };
      }
      const after = patched(object) ? await dryRunPatched(kube, object, false) : await kube.apply(object, { dryRun: true });
      return { object, action: sameObject(live, after) ? 'unchanged' : 'update', live: normalize(live), after: normalize(after) };
    }),
  );
  const keep = new Set(rendered.map((o) => refKey(refOf(o))));
  const prune = (state.install?.objects ?? []).filter((r) => !keep.has(refKey(r)));
  const routingSwitch = await planRoutingSwitch(kube, state, s);
  // A switch that cannot be made now fails the install as a check does, before anything is written.
  const switchChecks: CheckResult[] = (routingSwitch?.problems ?? []).map((detail) => ({
    category: 'install',
    check: `routing.api switch to ${routingSwitch!.to} in place`,
    status: 'fail',
    detail,
  }));
  return {
    doc,
    clusterDomain,
    ...(corednsName ? { corednsDeployment: corednsName } : {}),
    objects,
    prune,
    createNamespace,
    checks: [...checks, ...switchChecks],
    previous: state.install,
    ...(routingSwitch ? { routingSwitch } : {}),
  };
}

/**
 * A server-side dry run of a patched object; a refusal of its content is the patch's (exit 2). In
 * a namespace install is yet to create, it is judged in "default": validation is the same there.
 */
async function dryRunPatched(kube: KubeApi, o: KObject, namespaceToCreate: boolean): Promise<KObject> {
  const judged = namespaceToCreate ? { ...o, metadata: { ...o.metadata, namespace: 'default' } } : o;
  try {
    return await kube.apply(judged, { dryRun: true });
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 422 && e.status !== 400)) throw e;
    throw usageError(
      `the API server refuses ${refText(refOf(o))} as spec.patches leave it: ${e.message}`,
      'fix that entry of spec.patches; acmg manifest generate with the same values prints the object as patched',
    );
  }
}

export interface ApplyOptions {
  readinessTimeoutMs: number;
  task: <T>(title: string, fn: (update: (text: string) => void) => Promise<T>) => Promise<T>;
}

export interface InstallResult {
  gatewayClusterIP?: string;
  ports: { name: string; port: number; protocol: string }[];
  applied: number;
  pruned: number;
}

export async function applyInstall(kube: KubeApi, plan: InstallPlan, o: ApplyOptions): Promise<InstallResult> {
  const s = plan.doc.spec;
  const desired = plan.objects.map((p) => refOf(p.object));
  if (plan.createNamespace) {
    await o.task(`create namespace ${s.namespace}`, () => kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: s.namespace } }));
  }
  // Record first (objects = old ∪ new): an interrupted install is still fully removable.
  const recordAll = [...(plan.previous?.objects ?? []), ...desired].filter((r, i, all) => all.findIndex((x) => refKey(x) === refKey(r)) === i);
  // The record as manifest generate renders it (render/install.ts). When it says what the record
  // before this install said (the same values, version, domain and objects: a GitOps tool's record,
  // or an install run again to repair drifted objects), its installedAt, or its absence, is kept, so
  // the final write leaves the bytes Git declares.
  const final = installRecord(s, { version: VERSION, clusterDomain: plan.clusterDomain, corednsDeployment: plan.corednsDeployment, objects: desired });
  const installedAt = plan.previous && sameInstallRecord(plan.previous, final) ? plan.previous.installedAt : new Date().toISOString();
  const record = (objects: ObjectRef[], inProgress: boolean) =>
    updateState(
      kube,
      s.namespace,
      (st) => {
        // installedAt is absent only where the previous record had none (model/state.ts types it as always there).
        st.install = installRecord(s, {
          version: VERSION,
          clusterDomain: plan.clusterDomain,
          corednsDeployment: plan.corednsDeployment,
          objects,
          installedAt,
          inProgress,
        }) as InstallRecord;
      },
      { namespaces: [] },
    );
  await record(recordAll, true);
  let applied = 0;
  for (const p of plan.objects) {
    if (p.action === 'unchanged') continue;
    const ref = refOf(p.object);
    await o.task(`${p.action === 'create' ? 'create' : 'update'} ${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`, () =>
      kube.apply(p.object),
    );
    applied++;
  }
  if (s.gateway.enabled && s.gateway.replicas > 0) {
    // With an HPA the Deployment starts at 1 replica and the HPA raises it to its minimum one
    // sync period later: wait for that too, or an "ha" install would report success at 1 pod.
    const min = s.gateway.autoscaling.enabled ? s.gateway.autoscaling.minReplicas : 0;
    await o.task(`gateway ${s.namespace}/${s.gateway.name} Available${min ? ` (${min}+ replicas, scaled by the HPA)` : ''}`, (update) =>
      waitForDeployment(kube, s.namespace, s.gateway.name, o.readinessTimeoutMs, update, min),
    );
  }
  // The routes of migrated services move to the new API before the old API's shared Gateway is pruned.
  if (plan.routingSwitch) await applyRoutingSwitch(kube, plan.routingSwitch, { ...final, installedAt } as InstallRecord, o.task);
  for (const r of plan.prune) {
    await o.task(`prune ${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`, () => kube.delete(r.apiVersion, r.kind, r.name, r.namespace));
  }
  await record(desired, false);
  const svc = s.gateway.enabled ? await kube.get('v1', 'Service', s.gateway.name, s.namespace) : undefined;
  return {
    gatewayClusterIP: svc?.spec?.clusterIP,
    ports: (svc?.spec?.ports ?? []).map((p: any) => ({ name: p.name, port: p.port, protocol: p.appProtocol ?? p.protocol })),
    applied,
    pruned: plan.prune.length,
  };
}

export function precheckFailure(checks: CheckResult[], unreachable = false): AcmgError {
  const f = failed(checks);
  return (unreachable ? (p: string[], h?: string) => new AcmgError(ExitCode.Cluster, p, h) : checkFailed)(
    f.map((c) => `precheck failed: ${c.check}${c.detail ? `: ${c.detail}` : ''}`),
    f
      .map((c) => c.hint)
      .filter(Boolean)
      .join('; ') || undefined,
  );
}
