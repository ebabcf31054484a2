// Everything an install puts in the cluster, in one place: the objects `acmg install` applies
// (ops/install.ts) and acmg's install record, the state ConfigMap it writes before them. `acmg
// manifest generate` prints both, so that what a GitOps tool (or `kubectl apply -f -`) applies from
// it is the same install: `acmg status` recognises it, the controller finds its record and starts,
// and `acmg uninstall --purge` removes it.
//
// The record is rendered deterministically: keys sorted, no time in it. `installedAt` is left out
// of a rendered record (a timestamp would make every render a diff in Git and every sync a change),
// and `acmg install` keeps the record's installedAt, or its absence, when nothing else in the record
// changes (ops/install.ts), so installing again with the values Git holds writes the same bytes.
import { STATE_NAME, type InstallRecord, type ObjectRef } from '../model/state.js';
import type { KObject } from '../model/object.js';
import type { AcmgOperator, Spec } from '../profile/schema.js';
import { compareObjects, renderManifests } from './index.js';
import { acmgLabels } from './labels.js';
import { sortKeysDeep } from './serialize.js';
import { DEFAULT_COREDNS_DEPLOYMENT, type RenderContext } from './types.js';

/**
 * What of the cluster's DNS changes what acmg renders: where acmg writes (the Corefile, or
 * coredns-custom) and whether CoreDNS reloads by itself (a coredns Layout has these fields), and
 * the name of the CoreDNS Deployment (the one the controller may restart, named in its Role and
 * in the install record).
 */
export interface DnsLayoutTraits {
  kind: 'corefile' | 'custom';
  reloads: boolean;
  deployment: string;
}

/**
 * The render context's DNS part for a layout (none: no DNS layout known, as with dns.enabled=false).
 * CoreDNS can miss a write only to an imported file (coredns-custom) it reloads by itself: the same
 * rule as canMissReload (ops/coredns-restart.ts), which a unit test holds them to.
 */
export function dnsRenderContext(layout: DnsLayoutTraits | undefined): Pick<RenderContext, 'dnsReloads' | 'dnsCanMissReload' | 'corednsDeployment'> {
  if (!layout) return {};
  return { dnsReloads: layout.reloads, dnsCanMissReload: layout.kind === 'custom' && layout.reloads, corednsDeployment: layout.deployment };
}

export interface InstallRenderOptions {
  clusterDomain: string;
  version: string;
  /** The cluster's DNS layout and CoreDNS Deployment: detected by install, told to manifest generate (offlineLayout). */
  layout?: DnsLayoutTraits;
}

/** The objects an install applies, in apply order: the one list install and manifest generate share. */
export function renderInstallObjects(doc: AcmgOperator, o: InstallRenderOptions): KObject[] {
  return renderManifests(doc, { clusterDomain: o.clusterDomain, version: o.version, ...dnsRenderContext(o.layout) });
}

/** An object's reference as the install record lists it. */
export const objectRef = (o: Pick<KObject, 'apiVersion' | 'kind' | 'metadata'>): ObjectRef => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  name: o.metadata.name,
  ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
});

/**
 * A rendered install record may have no installedAt (manifest generate leaves it out). Readers
 * already treat it as optional (status); model/state.ts still types it as always there.
 */
export type RenderedInstallRecord = Omit<InstallRecord, 'installedAt'> & { installedAt?: string };

/** acmg's install record, canonical (keys sorted at every level): the same install is the same bytes. */
export function installRecord(
  spec: Spec,
  o: { version: string; clusterDomain: string; corednsDeployment?: string; objects: ObjectRef[]; installedAt?: string; inProgress?: boolean },
): RenderedInstallRecord {
  return sortKeysDeep({
    version: o.version,
    profile: spec.profile,
    values: spec,
    clusterDomain: o.clusterDomain,
    ...(o.corednsDeployment !== undefined ? { corednsDeployment: o.corednsDeployment } : {}),
    objects: o.objects,
    ...(o.installedAt !== undefined ? { installedAt: o.installedAt } : {}),
    ...(o.inProgress ? { inProgress: true } : {}),
  });
}

/** Whether two records say the same apart from when they were written. */
export function sameInstallRecord(a: RenderedInstallRecord | undefined, b: RenderedInstallRecord | undefined): boolean {
  if (!a || !b) return a === b;
  const strip = ({ installedAt: _at, ...rest }: RenderedInstallRecord) => JSON.stringify(sortKeysDeep(rest));
  return strip(a) === strip(b);
}

/**
 * acmg's main state ConfigMap holding only the install record, as kube/state.ts's updateState
 * creates it (same name, labels and data key; the record as compact JSON, which is what it writes
 * back after reading, byte for byte). Migrations, listener ports and sync's record are added to it
 * (and to the per-namespace shards) by acmg at run time, as keys Git does not declare.
 */
export function renderStateConfigMap(namespace: string, record: RenderedInstallRecord, version: string): KObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: STATE_NAME, namespace, labels: acmgLabels('state', version) },
    data: { install: JSON.stringify(record) },
  };
}

/**
 * Everything an install puts in the cluster, in apply order: the objects install applies and the
 * state ConfigMap with the install record it writes (what `acmg manifest generate` prints). The
 * install namespace itself is not rendered: install creates it when missing and never labels or
 * removes it (istio-system is Istio's); a GitOps tool creates it (Argo CD: CreateNamespace=true).
 */
export function renderInstall(doc: AcmgOperator, o: InstallRenderOptions): KObject[] {
  const objects = renderInstallObjects(doc, o);
  const record = installRecord(doc.spec, {
    version: o.version,
    clusterDomain: o.clusterDomain,
    corednsDeployment: o.layout?.deployment,
    objects: objects.map(objectRef),
  });
  return [...objects, renderStateConfigMap(doc.spec.namespace, record, o.version)].sort(compareObjects);
}

/**
 * The DNS layout manifest generate renders for, offline: where acmg writes comes from dns.mode
 * (`auto` cannot be known without the cluster: rendered as coredns-custom, the layout whose
 * controller needs the most, so it works on any; install then renders less on a Corefile layout),
 * whether CoreDNS reloads by itself and the CoreDNS Deployment's name from the caller (every
 * shipped layout reloads; the name is coredns but on RKE2 and Helm installs of CoreDNS). None when
 * DNS is off, as install has none then.
 */
export function offlineLayout(spec: Spec, reloads: boolean, deployment = DEFAULT_COREDNS_DEPLOYMENT): DnsLayoutTraits | undefined {
  if (!spec.dns.enabled) return undefined;
  return { kind: spec.dns.mode === 'corefile' ? 'corefile' : 'custom', reloads, deployment };
}
