// Deterministic serialisation: keys sorted at every level, so output is byte-stable and diffs
// and golden files only change when content does.
import yaml from 'js-yaml';

export function sortKeysDeep<T>(value: T): T {
  if (Array.isArray(value)) return value.map(sortKeysDeep) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value as object).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeysDeep(v);
    }
    return out as T;
  }
  return value;
}

export function toYaml(value: unknown): string {
  return yaml.dump(value, { sortKeys: true, lineWidth: -1, noRefs: true, quotingType: '"' });
}

/** Multi-document YAML, each document preceded by `---`. */
export function toYamlStream(docs: unknown[]): string {
  return docs.map((d) => `---\n${toYaml(d)}`).join('');
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(sortKeysDeep(value), null, 2)}\n`;
}
