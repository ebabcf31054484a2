// The controller's record of marked services it has not migrated (and unmarked ones it has not
// rolled back), with why and when it tries again: the ConfigMap acmg-declarative in the install
// namespace. Written by the leading controller only when it changes; read by it (the retry times
// survive a new leader) and by `acmg status`.
import type { KObject } from '../model/object.js';
import type { DeclarativeEntry, DeclarativeStatus } from '../plan/declarative.js';
import { acmgLabels } from '../render/labels.js';
import { VERSION } from '../version.js';
import type { KubeApi } from './api.js';

export const DECLARATIVE_STATUS_NAME = 'acmg-declarative';

const isEntry = (e: unknown): e is DeclarativeEntry => {
  const x = e as Partial<DeclarativeEntry> | null;
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof x.reason === 'string' &&
    typeof x.attempts === 'number' &&
    (x.retryAt === undefined || typeof x.retryAt === 'string') &&
    (x.held === undefined || x.held === true) &&
    (x.want === undefined || ['keep-service', 'replace-service', 'rollback'].includes(x.want))
  );
};

/** The entries as stored; one that is not an entry is left out (it only delays or explains, never decides a write). */
function decode(cm: KObject | undefined): DeclarativeStatus {
  let parsed: unknown;
  try {
    parsed = JSON.parse(cm?.data?.services ?? '{}');
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  return Object.fromEntries(Object.entries(parsed).filter(([, e]) => isEntry(e))) as DeclarativeStatus;
}

export async function readDeclarativeStatus(kube: KubeApi, namespace: string): Promise<{ status: DeclarativeStatus; object?: KObject }> {
  const object = await kube.get('v1', 'ConfigMap', DECLARATIVE_STATUS_NAME, namespace);
  return { status: decode(object), object };
}

/** Writes the status if it changed, guarded by the read's resourceVersion (one writer: the leader). */
export async function writeDeclarativeStatus(kube: KubeApi, namespace: string, read: { status: DeclarativeStatus; object?: KObject }, next: DeclarativeStatus) {
  const data = { services: JSON.stringify(next) };
  if (read.object && read.object.data?.services === data.services) return;
  if (!read.object && !Object.keys(next).length) return;
  if (read.object) await kube.replace({ ...read.object, apiVersion: 'v1', kind: 'ConfigMap', data });
  else
    await kube.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: DECLARATIVE_STATUS_NAME, namespace, labels: acmgLabels('declarative-status', VERSION) },
      data,
    });
}
