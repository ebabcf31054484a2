// Checks that need no cluster, run before acmg connects: bad input must fail with exit 2 at once,
// never with exit 3 after a precheck, and never after something was written.
import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { usageError } from '../errors.js';
import { parseHostPort } from '../dns/client.js';
import { canPrompt, refusalWithoutTerminal } from '../ui/prompt.js';

/** Without -y (or --dry-run) a change needs a terminal to ask on. */
export function requireConfirmable(opts: { yes?: boolean; dryRun?: boolean }, what: string): void {
  if (opts.yes || opts.dryRun || canPrompt()) return;
  throw refusalWithoutTerminal(what);
}

export function parseNameserver(value: string | undefined): { host: string; port: number } | undefined {
  if (value === undefined) return undefined;
  try {
    return parseHostPort(value);
  } catch (e) {
    throw usageError(`invalid --nameserver: ${(e as Error).message}`);
  }
}

/** A report file acmg writes at the end: its directory must exist and be writable now. */
/** Writes a report (--junit) after the results were shown: a failure is exit 2 that says the results above are complete. */
export function writeReport(path: string, flag: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw usageError(
      `${flag} "${path}": cannot write the report: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      'the results above are complete; pass a writable path to get the JUnit file',
    );
  }
}

export function requireWritableFile(path: string, flag: string): void {
  const abs = resolve(path);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
    accessSync(abs, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw usageError(`${flag} "${path}": the file is not writable`);
    if (code === 'ENOTDIR') throw usageError(`${flag} "${path}": a part of the path is not a directory`);
    if (code !== 'ENOENT') throw usageError(`${flag} "${path}": ${(e as Error).message}`);
    try {
      if (!statSync(dirname(abs)).isDirectory()) throw new Error('not a directory');
      accessSync(dirname(abs), constants.W_OK);
    } catch (e2) {
      const why =
        (e2 as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'does not exist'
          : (e2 as NodeJS.ErrnoException).code === 'EACCES'
            ? 'is not writable'
            : 'is not a directory';
      throw usageError(`${flag} "${path}": the directory ${dirname(abs)} ${why}`, 'create the directory first, or pass a path in an existing one');
    }
  }
  if (isDir) throw usageError(`${flag} "${path}" is a directory; pass a file name`);
}
