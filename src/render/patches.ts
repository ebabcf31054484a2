// spec.patches: the user's last word on the objects acmg renders, as kustomize's patches and
// istioctl's k8s.overlays give it. Each patch names one rendered object and gives an RFC 7386
// merge patch and/or an RFC 6902 JSON patch (the merge patch first). They are applied at the end
// of every render (render/index.ts: install, manifest generate, precheck, and the gateway Service's
// re-render on migrate), so they hold across upgrades and migrations. Not patched: the migrated
// namespaces' doors and routes, and acmg's state, which acmg writes per migration.
import { usageError } from '../errors.js';
import { applyJsonPatch, JsonPatchError, type JsonPatchOperation } from '../profile/json-patch.js';
import type { KObject } from '../model/object.js';
import { deepMerge } from '../profile/merge.js';
import type { ObjectPatch } from '../profile/schema.js';
import { COMPONENT, MANAGED_BY, PART_OF, VERSION_LABEL } from './labels.js';

/** What uninstall, purge, status and the controller find acmg's objects by: never patched. */
const PROTECTED_LABELS = [MANAGED_BY, COMPONENT, PART_OF, VERSION_LABEL];

const refOf = (o: KObject) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

function identity(o: unknown): string {
  const x = o as Partial<KObject> | undefined;
  const labels = x?.metadata?.labels ?? {};
  return JSON.stringify([x?.apiVersion, x?.kind, x?.metadata?.name, x?.metadata?.namespace, PROTECTED_LABELS.map((l) => labels[l])]);
}

const HINT = 'fix or remove that entry of spec.patches; acmg manifest generate, with your values but without the patch, prints the objects patches apply to';

/** Whether a patch names this object. */
export const patchNames = (p: Pick<ObjectPatch, 'kind' | 'name' | 'namespace'>, o: KObject): boolean =>
  o.kind === p.kind && o.metadata.name === p.name && (!p.namespace || o.metadata.namespace === p.namespace);

/** The rendered objects with the patches applied, in the same order; a patch that cannot apply is a usage error. */
export function applyPatches(objects: KObject[], patches: ObjectPatch[] | undefined): KObject[] {
  if (!patches?.length) return objects;
  const out = [...objects];
  patches.forEach((p, i) => {
    const at = `patches[${i}] (${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name})`;
    const matches = out.flatMap((o, j) => (patchNames(p, o) ? [j] : []));
    if (matches.length === 0)
      throw usageError(`${at}: acmg renders no such object; it renders ${out.map(refOf).join(', ') || 'nothing with these values'}`, HINT);
    if (matches.length > 1) throw usageError(`${at}: names ${matches.map((j) => refOf(out[j]!)).join(' and ')}; add namespace: to say which`, HINT);
    const j = matches[0]!;
    const before = out[j]!;
    let patched: unknown = p.mergePatch === undefined ? before : deepMerge(before, p.mergePatch);
    try {
      if (p.jsonPatch?.length) patched = applyJsonPatch(patched, p.jsonPatch as JsonPatchOperation[]);
    } catch (e) {
      if (e instanceof JsonPatchError) throw usageError(`${at}: jsonPatch ${e.message}`, HINT);
      throw e;
    }
    if (identity(patched) !== identity(before))
      throw usageError(
        `${at}: changes what acmg finds its objects by (apiVersion, kind, metadata.name, metadata.namespace, or the labels ${PROTECTED_LABELS.join(', ')})`,
        'patch other fields; to rename acmg objects use the values (gateway.name, controller.name, istioGateway.name, namespace)',
      );
    out[j] = patched as KObject;
  });
  return out;
}
