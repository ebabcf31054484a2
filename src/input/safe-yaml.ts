// YAML that cannot blow up: js-yaml keeps aliases as shared references, so a "billion laughs"
// document parses fast but becomes huge as soon as anything walks or prints it. Every document acmg
// reads is walked once here, counting each node as often as it is reached, and refused past a limit.
import yaml from 'js-yaml';
import { usageError } from '../errors.js';

export const YAML_LIMITS = { maxNodes: 100_000, maxDepth: 64 } as const;

/** Text cut to `max` characters (with an ellipsis) for error messages. */
export function clip(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A short, single-line excerpt of any value for error messages. */
export function excerpt(value: unknown, max = 60): string {
  let s: string;
  if (typeof value === 'string') s = JSON.stringify(value.length > max * 2 ? value.slice(0, max * 2) : value);
  else {
    try {
      s = JSON.stringify(boundedCopy(value, 8)) ?? String(value);
    } catch {
      s = String(value);
    }
  }
  return clip(s, max);
}

/** A copy with at most `width` entries per level and 3 levels: enough for an excerpt. */
function boundedCopy(v: unknown, width: number, depth = 0): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (depth >= 3) return Array.isArray(v) ? ['…'] : { '…': '…' };
  if (Array.isArray(v)) return v.slice(0, width).map((x) => boundedCopy(x, width, depth + 1));
  return Object.fromEntries(
    Object.entries(v)
      .slice(0, width)
      .map(([k, x]) => [k, boundedCopy(x, width, depth + 1)]),
  );
}

/** Throws a usage error when `value` has more nodes (aliases counted each time) or depth than allowed. */
export function assertBoundedTree(value: unknown, what: string, limits = YAML_LIMITS): void {
  let nodes = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (++nodes > limits.maxNodes) {
      throw usageError(
        `${what} expands to more than ${limits.maxNodes} values (YAML aliases are counted each time they are used)`,
        'write the values out without anchors and aliases; an acmg overlay is small',
      );
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth > limits.maxDepth) throw usageError(`${what} is nested more than ${limits.maxDepth} levels deep`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
}

/** Parses every document of a YAML stream with the limits above; syntax errors name line and column. */
export function loadAllBounded(text: string, what: string): unknown[] {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text);
  } catch (e) {
    if (e instanceof RangeError) throw usageError(`${what} is nested too deeply to parse`);
    const err = e as yaml.YAMLException;
    const where = err.mark ? ` at line ${err.mark.line + 1}, column ${err.mark.column + 1}` : '';
    throw usageError(`${what} is not valid YAML${where}: ${clip(err.reason ?? err.message)}`);
  }
  for (const d of docs) assertBoundedTree(d, what);
  return docs;
}
