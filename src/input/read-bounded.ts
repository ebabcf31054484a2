// Reads a file (or standard input for "-") whole, but never more than a limit: /dev/zero, a FIFO
// or a 50 MB file must end in a clear error, not in gigabytes of memory.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { usageError } from '../errors.js';

export const STDIN = '-';

/** The limits acmg applies to what it reads whole (README, "Limits"). */
export const INPUT_LIMITS = {
  /** An overlay (-f) is a few KB; 1 MiB leaves room for comments and long lists. */
  valuesFileBytes: 1024 * 1024,
  /** Kubeconfigs with many embedded certificates are some hundred KB. */
  kubeconfigBytes: 8 * 1024 * 1024,
  /** One --set flag. */
  setFlagBytes: 16 * 1024,
} as const;

export function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${n / (1024 * 1024)} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} bytes`;
}

/** Reads at most `limit` bytes; more is a usage error naming the file and the limit. */
export function readBounded(path: string, limit: number, what: string): string {
  const shown = path === STDIN ? 'standard input' : `"${path}"`;
  let fd: number;
  try {
    fd = path === STDIN ? 0 : openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw usageError(
      `cannot read ${what} ${shown}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`,
    );
  }
  try {
    if (path !== STDIN && fstatSync(fd).isDirectory()) throw usageError(`cannot read ${what} ${shown}: it is a directory`);
    // Read in chunks whatever the file claims to be (/dev/zero and pipes report size 0).
    const chunks: Buffer[] = [];
    let total = 0;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') continue; // a non-blocking stdin: wait for more
        if (code === 'EOF') break;
        throw usageError(`cannot read ${what} ${shown}: ${code === 'EISDIR' ? 'it is a directory' : (e as Error).message}`);
      }
      if (n === 0) break;
      total += n;
      if (total > limit)
        throw usageError(
          `${what} ${shown} is larger than ${formatBytes(limit)}, the most acmg reads`,
          `is this the right file? ${what === 'overlay file' ? 'An overlay holds only the values that differ from the profile.' : ''}`.trim(),
        );
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    const bytes = Buffer.concat(chunks);
    if (bytes.includes(0)) throw usageError(`${what} ${shown} is not text (it contains NUL bytes)`);
    return bytes.toString('utf8');
  } finally {
    if (path !== STDIN) closeSync(fd);
  }
}
