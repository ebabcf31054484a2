import { usageError } from '../errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations: 90s, 5m, 1m30s, 500ms, 1h. */
export function parseDuration(value: string, flag: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = '';
  for (const m of value.matchAll(re)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    consumed += m[0];
  }
  if (value === '' || consumed !== value) throw usageError(`invalid ${flag} "${value}": use a duration like 90s, 5m or 1m30s`);
  return total;
}
