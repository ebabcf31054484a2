// Overlay semantics (as istioctl and helm): objects merge key by key, lists and scalars replace,
// null deletes the key so an overlay can drop a default.
export function deepMerge(base: unknown, overlay: unknown): unknown {
  if (overlay === undefined) return base;
  if (isPlainObject(base) && isPlainObject(overlay)) {
    const out: Record<string, unknown> = { ...base };
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
