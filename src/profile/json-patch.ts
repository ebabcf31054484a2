// RFC 6902 JSON Patch over RFC 6901 JSON Pointers, pure: what kubectl patch --type=json and
// kustomize's patchesJson6902 apply. Each operation either succeeds or says why, naming the path;
// the input is never mutated. (RFC 7386 merge patches are profile/merge.ts's deepMerge.)
import { isPlainObject } from './merge.js';

export const JSON_PATCH_OPS = ['add', 'remove', 'replace', 'move', 'copy', 'test'] as const;
export type JsonPatchOp = (typeof JSON_PATCH_OPS)[number];

export interface JsonPatchOperation {
  op: JsonPatchOp;
  path: string;
  from?: string;
  value?: unknown;
}

/** A pointer's reference tokens, or why it is not a pointer ("" is the whole document). */
export function parsePointer(pointer: string): string[] | { problem: string } {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) return { problem: `${JSON.stringify(pointer)} is not a JSON pointer: it must start with "/" (for example /spec/replicas)` };
  if (/~(?![01])/.test(pointer)) return { problem: `${JSON.stringify(pointer)} has a "~" not followed by 0 or 1 (write ~0 for "~" and ~1 for "/")` };
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** What an operation needs besides its op and path (RFC 6902 section 4), as problems. */
export function operationProblems(o: { op: string; path: string; from?: string } & Record<string, unknown>): string[] {
  const problems: string[] = [];
  const path = parsePointer(o.path);
  if ('problem' in path) problems.push(`path: ${path.problem}`);
  else if (path.length === 0) problems.push('path: "" (the whole object) cannot be patched; name a field, for example /spec/replicas');
  if ((o.op === 'move' || o.op === 'copy') && o.from === undefined) problems.push(`from: ${o.op} needs the pointer it takes the value from`);
  if (o.from !== undefined) {
    const from = parsePointer(o.from);
    if ('problem' in from) problems.push(`from: ${from.problem}`);
  }
  if ((o.op === 'add' || o.op === 'replace' || o.op === 'test') && !('value' in o)) problems.push(`value: ${o.op} needs a value`);
  return problems;
}

export class JsonPatchError extends Error {}

type Container = Record<string, unknown> | unknown[];

/** The array index a token names (RFC 6901: digits without leading zeros), or undefined. */
function arrayIndex(token: string): number | undefined {
  return /^(0|[1-9]\d*)$/.test(token) ? Number(token) : undefined;
}

function get(doc: unknown, tokens: string[], pointer: string): unknown {
  let cur = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) {
      const i = arrayIndex(t);
      if (i === undefined || i >= cur.length) throw new JsonPatchError(`${pointer}: no item ${JSON.stringify(t)} (the list has ${cur.length})`);
      cur = cur[i];
    } else if (isPlainObject(cur) && Object.hasOwn(cur, t)) cur = cur[t];
    else throw new JsonPatchError(`${pointer}: not found (no ${JSON.stringify(t)} there)`);
  }
  return cur;
}

/** A copy of the document with the parent of `tokens` copied along the way, and that parent. */
function parentOf(doc: unknown, tokens: string[], pointer: string): { root: unknown; parent: Container; last: string } {
  const root = structuredClone(doc);
  const parent = get(root, tokens.slice(0, -1), pointer);
  if (!Array.isArray(parent) && !isPlainObject(parent)) throw new JsonPatchError(`${pointer}: its parent is not an object or a list`);
  return { root, parent, last: tokens[tokens.length - 1]! };
}

function add(doc: unknown, tokens: string[], pointer: string, value: unknown): unknown {
  const { root, parent, last } = parentOf(doc, tokens, pointer);
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : arrayIndex(last);
    if (i === undefined || i > parent.length)
      throw new JsonPatchError(`${pointer}: index ${JSON.stringify(last)} is past the end of the list (${parent.length} items; "-" appends)`);
    parent.splice(i, 0, structuredClone(value));
  } else parent[last] = structuredClone(value);
  return root;
}

function remove(doc: unknown, tokens: string[], pointer: string): unknown {
  get(doc, tokens, pointer);
  const { root, parent, last } = parentOf(doc, tokens, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(last)!, 1);
  else delete parent[last];
  return root;
}

function equal(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && equal(a[k], b[k]));
  }
  return a === b;
}

/** Applies the operations in order; throws a JsonPatchError naming the operation that failed. */
export function applyJsonPatch(doc: unknown, ops: JsonPatchOperation[]): unknown {
  let cur = doc;
  ops.forEach((o, n) => {
    const at = `operation ${n} (${o.op} ${o.path})`;
    const problems = operationProblems(o as never);
    if (problems.length) throw new JsonPatchError(`${at}: ${problems.join('; ')}`);
    const tokens = parsePointer(o.path) as string[];
    try {
      switch (o.op) {
        case 'add':
          cur = add(cur, tokens, o.path, o.value);
          break;
        case 'remove':
          cur = remove(cur, tokens, o.path);
          break;
        case 'replace':
          cur = add(remove(cur, tokens, o.path), tokens, o.path, o.value);
          break;
        case 'copy':
          cur = add(cur, tokens, o.path, get(cur, parsePointer(o.from!) as string[], o.from!));
          break;
        case 'move': {
          if (o.path.startsWith(`${o.from}/`)) throw new JsonPatchError(`${o.path}: cannot move a value into itself (from ${o.from})`);
          const from = parsePointer(o.from!) as string[];
          const value = get(cur, from, o.from!);
          cur = add(remove(cur, from, o.from!), tokens, o.path, value);
          break;
        }
        case 'test':
          if (!equal(get(cur, tokens, o.path), o.value))
            throw new JsonPatchError(`${o.path}: test failed (the value there is ${JSON.stringify(get(cur, tokens, o.path))})`);
          break;
      }
    } catch (e) {
      if (e instanceof JsonPatchError) throw new JsonPatchError(`${at}: ${e.message}`);
      throw e;
    }
  });
  return cur;
}
