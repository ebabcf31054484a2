// A small line diff (LCS) for profile diff and install --dry-run, printed in unified style.
import { palette } from './color.js';

export interface DiffLine {
  op: ' ' | '-' | '+';
  text: string;
}

/** A text's lines, without the empty "line" after a final newline. */
export function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
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

export interface Hunk {
  /** 1-based first line and line count in a and in b, as in "@@ -aStart,aCount +bStart,bCount @@". */
  aStart: number;
  aCount: number;
  bStart: number;
  bCount: number;
  lines: DiffLine[];
}

/** Groups a diff into unified-diff hunks with `context` lines around each change. */
export function hunks(diff: DiffLine[], context = 3): Hunk[] {
  const out: Hunk[] = [];
  const changed = diff.map((d, i) => (d.op === ' ' ? -1 : i)).filter((i) => i >= 0);
  if (changed.length === 0) return out;
  // Line numbers in a and b before each diff index.
  const aBefore: number[] = [];
  const bBefore: number[] = [];
  let a = 0;
  let b = 0;
  for (const d of diff) {
    aBefore.push(a);
    bBefore.push(b);
    if (d.op !== '+') a++;
    if (d.op !== '-') b++;
  }
  let start = Math.max(0, changed[0]! - context);
  let end = Math.min(diff.length - 1, changed[0]! + context);
  const flush = () => {
    const lines = diff.slice(start, end + 1);
    const aCount = lines.filter((l) => l.op !== '+').length;
    const bCount = lines.filter((l) => l.op !== '-').length;
    // An empty side starts at the line before (GNU diff: "-0,0" for an empty file).
    out.push({ aStart: aCount ? aBefore[start]! + 1 : aBefore[start]!, aCount, bStart: bCount ? bBefore[start]! + 1 : bBefore[start]!, bCount, lines });
  };
  for (const i of changed.slice(1)) {
    if (i - context <= end + 1) end = Math.min(diff.length - 1, i + context);
    else {
      flush();
      start = Math.max(0, i - context);
      end = Math.min(diff.length - 1, i + context);
    }
  }
  flush();
  return out;
}

/** A unified diff (valid for patch/git apply) with 3 lines of context around each change. */
export function renderDiff(diff: DiffLine[], fromLabel: string, toLabel: string, stream: NodeJS.WriteStream, context = 3): string {
  const c = palette(stream);
  const lines = [c.bold(`--- ${fromLabel}`), c.bold(`+++ ${toLabel}`)];
  for (const h of hunks(diff, context)) {
    lines.push(c.cyan(`@@ -${h.aStart},${h.aCount} +${h.bStart},${h.bCount} @@`));
    for (const d of h.lines) {
      const text = `${d.op}${d.text}`;
      lines.push(d.op === '-' ? c.red(text) : d.op === '+' ? c.green(text) : text);
    }
  }
  return lines.join('\n') + '\n';
}
