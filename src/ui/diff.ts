// A small line diff (LCS) for profile diff and install --dry-run, printed in unified style.
import { palette } from './color.js';

export interface DiffLine {
  op: ' ' | '-' | '+';
  text: string;
}

export function lineDiff(a: string[], b: string[]): DiffLine[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j] = LCS length of a[i..] and b[j..]
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ op: ' ', text: a[i]! });
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) out.push({ op: '-', text: a[i++]! });
    else out.push({ op: '+', text: b[j++]! });
  }
  while (i < n) out.push({ op: '-', text: a[i++]! });
  while (j < m) out.push({ op: '+', text: b[j++]! });
  return out;
}

/** Unified-style output with 3 lines of context around each change. */
export function renderDiff(diff: DiffLine[], fromLabel: string, toLabel: string, stream: NodeJS.WriteStream, context = 3): string {
  const c = palette(stream);
  const keep = new Array<boolean>(diff.length).fill(false);
  diff.forEach((d, idx) => {
    if (d.op === ' ') return;
    for (let k = Math.max(0, idx - context); k <= Math.min(diff.length - 1, idx + context); k++) keep[k] = true;
  });
  const lines = [c.bold(`--- ${fromLabel}`), c.bold(`+++ ${toLabel}`)];
  let skipped = false;
  diff.forEach((d, idx) => {
    if (!keep[idx]) {
      skipped = true;
      return;
    }
    if (skipped) lines.push(c.cyan('@@ … @@'));
    skipped = false;
    const text = `${d.op}${d.text}`;
    lines.push(d.op === '-' ? c.red(text) : d.op === '+' ? c.green(text) : text);
  });
  return lines.join('\n') + '\n';
}
