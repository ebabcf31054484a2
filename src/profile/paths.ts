// Dotted paths with list indices and escaped dots: `gateway.ports[0].port`,
// `gateway.placement.nodeSelector.node-role\.acmg\.io/gateway`.
import { usageError } from '../errors.js';

export type PathSegment = string | number;

export function parsePath(path: string): PathSegment[] {
  if (path === '') throw usageError('empty path');
  const segs: PathSegment[] = [];
  let cur = '';
  let i = 0;
  const flush = () => {
    if (cur === '') throw usageError(`invalid path "${path}": empty segment`, 'write paths like gateway.ports[0].port');
    segs.push(cur);
    cur = '';
  };
  while (i < path.length) {
    const c = path[i]!;
    if (c === '\\' && path[i + 1] === '.') {
      cur += '.';
      i += 2;
    } else if (c === '.') {
      flush();
      i++;
    } else if (c === '[') {
      if (cur !== '') flush();
      else if (segs.length === 0) throw usageError(`invalid path "${path}": index without a field`);
      const end = path.indexOf(']', i);
      const idx = end < 0 ? '' : path.slice(i + 1, end);
      if (!/^\d+$/.test(idx)) throw usageError(`invalid path "${path}": list index must be a number, like [0]`);
      segs.push(Number(idx));
      i = end + 1;
      if (i < path.length && path[i] !== '.' && path[i] !== '[') throw usageError(`invalid path "${path}": expected "." or "[" after "]"`);
      if (path[i] === '.') {
        i++;
        if (i === path.length) throw usageError(`invalid path "${path}": ends with "."`);
      }
    } else {
      cur += c;
      i++;
    }
  }
  if (cur !== '') segs.push(cur);
  else if (typeof segs[segs.length - 1] !== 'number') throw usageError(`invalid path "${path}": ends with "."`);
  return segs;
}

export function formatPath(segs: PathSegment[]): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += (out === '' ? '' : '.') + s.replace(/\./g, '\\.');
  }
  return out;
}

export function getPath(root: unknown, segs: PathSegment[]): unknown {
  let cur: unknown = root;
  for (const s of segs) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[s];
  }
  return cur;
}

/** Sets a value, creating objects and lists on the way. Returns a new root; the input is not mutated. */
export function setPath(root: unknown, segs: PathSegment[], value: unknown): unknown {
  if (segs.length === 0) return value;
  const [head, ...rest] = segs as [PathSegment, ...PathSegment[]];
  if (typeof head === 'number') {
    const list = Array.isArray(root) ? [...root] : [];
    if (root !== undefined && !Array.isArray(root)) {
      throw usageError(`cannot index [${head}] into a value that is not a list`);
    }
    if (head > list.length) throw usageError(`list index [${head}] is past the end (the list has ${list.length} items; the next is [${list.length}])`);
    list[head] = setPath(list[head], rest, value);
    return list;
  }
  const obj = root !== null && typeof root === 'object' && !Array.isArray(root) ? { ...(root as Record<string, unknown>) } : {};
  obj[head] = setPath(obj[head], rest, value);
  return obj;
}
