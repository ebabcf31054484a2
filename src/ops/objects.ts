// Comparing desired objects with live ones, and small helpers on object references.
import { sortKeysDeep } from '../render/serialize.js';

import type { KObject } from '../model/object.js';
import type { ObjectRef } from '../model/state.js';

export const refOf = (o: Pick<KObject, 'apiVersion' | 'kind' | 'metadata'>): ObjectRef => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  name: o.metadata.name,
  ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
});
/** An object's identity: its API group (not the version: v1beta1 and v1 name one object), kind, namespace, name. */
const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');
export const refKey = (r: ObjectRef) => `${groupOf(r.apiVersion)}/${r.kind}/${r.namespace ?? ''}/${r.name}`;
export const refText = (r: ObjectRef) => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;

const VOLATILE_META = ['managedFields', 'resourceVersion', 'generation', 'creationTimestamp', 'uid', 'selfLink'];

/** An object without server-maintained fields, for comparing and diffing. */
export function normalize(o: KObject): KObject {
  const copy = JSON.parse(JSON.stringify(o)) as KObject;
  for (const k of VOLATILE_META) delete copy.metadata[k];
  if (copy.metadata.annotations) {
    delete copy.metadata.annotations['deployment.kubernetes.io/revision'];
    if (Object.keys(copy.metadata.annotations).length === 0) delete copy.metadata.annotations;
  }
  delete copy.status;
  return sortKeysDeep(copy);
}

export const sameObject = (a: KObject, b: KObject) => JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
