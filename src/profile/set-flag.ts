// `--set path=value`: typed values the way istioctl and helm users expect.
//   true/false -> boolean, 12 / 1.5 -> number, null -> null, "quoted" or 'quoted' -> string as is,
//   [a,b] -> list of typed values, anything else -> string.
import { AcmgError, usageError } from '../errors.js';
import { formatBytes, INPUT_LIMITS } from '../input/read-bounded.js';
import { clip } from '../input/safe-yaml.js';
import { parsePath, setPath, type PathSegment } from './paths.js';

export interface SetAssignment {
  path: PathSegment[];
  value: unknown;
  raw: string;
}

export function parseScalar(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (raw === 'null' || raw === '~') return null;
  if (/^-?(0|[1-9]\d*)$/.test(raw)) return Number(raw);
  if (/^-?(0|[1-9]\d*)\.\d+$/.test(raw)) return Number(raw);
  if (raw.length >= 2 && ((raw.startsWith('"') && raw.endsWith('"')) || (raw.startsWith("'") && raw.endsWith("'")))) {
    return raw.slice(1, -1);
  }
  return raw;
}

export function parseSetValue(raw: string): unknown {
  if (raw.startsWith('[') && raw.endsWith(']')) {
    const inner = raw.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((s) => parseScalar(s.trim()));
  }
  return parseScalar(raw);
}

export function parseSetFlag(raw: string): SetAssignment {
  if (raw.length > INPUT_LIMITS.setFlagBytes) {
    throw usageError(
      `invalid --set "${clip(raw, 60)}": longer than ${formatBytes(INPUT_LIMITS.setFlagBytes)}`,
      'put large values in a file and pass it with -f',
    );
  }
  const eq = raw.indexOf('=');
  if (eq <= 0) {
    throw usageError(`invalid --set "${clip(raw, 60)}": expected path=value`, 'for example: --set gateway.replicas=3');
  }
  const path = parsePath(raw.slice(0, eq).replace(/^spec\./, ''));
  return { path, value: parseSetValue(raw.slice(eq + 1)), raw };
}

export function applySets(spec: unknown, sets: SetAssignment[]): unknown {
  return sets.reduce((acc, s) => {
    try {
      return setPath(acc, s.path, s.value);
    } catch (e) {
      if (e instanceof AcmgError) throw usageError(`invalid --set "${clip(s.raw, 60)}": ${e.message}`, e.hint);
      throw e;
    }
  }, spec);
}
