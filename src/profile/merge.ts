// Overlay semantics (as istioctl and helm), which are RFC 7386 JSON merge patch semantics: objects
// merge key by key, lists and scalars replace, null deletes the key so an overlay can drop a
// default. spec.patches' mergePatch is applied with this too (render/patches.ts).
export function deepMerge(base: unknown, overlay: unknown): unknown {
  if (overlay === undefined) return base;
  if (isPlainObject(overlay)) {
    // Over a missing or non-object value, the overlay's nulls delete nothing, and are dropped.
    const out: Record<string, unknown> = isPlainObject(base) ? { ...base } : {};
    for (const [k, v] of Object.entries(overlay)) {
      if (v === null) delete out[k];
      else out[k] = deepMerge(out[k], v);
    }
    return out;
  }
  return overlay;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
