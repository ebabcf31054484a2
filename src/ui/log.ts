// Progress and diagnostics on stderr. Plain, timestamped lines when stderr is not a TTY (CI logs).
import { palette } from './color.js';
import { mentionSelf } from './self-name.js';

let verbosity = 0;
export function setVerbosity(level: number): void {
  verbosity = level;
}

function stamp(): string {
  return process.stderr.isTTY ? '' : `${new Date().toISOString().slice(11, 19)} `;
}

// Every message names acmg's commands as the user invokes them (acmg or kubectl acmg).
export const log = {
  info(msg: string): void {
    process.stderr.write(`${stamp()}${mentionSelf(msg)}\n`);
  },
  step(msg: string): void {
    process.stderr.write(`${stamp()}${palette().cyan('•')} ${mentionSelf(msg)}\n`);
  },
  ok(msg: string): void {
    process.stderr.write(`${stamp()}${palette().green('✔')} ${mentionSelf(msg)}\n`);
  },
  warn(msg: string): void {
    process.stderr.write(`${stamp()}${palette().yellow('warning:')} ${mentionSelf(msg)}\n`);
  },
  error(msg: string): void {
    process.stderr.write(`${palette().red('error:')} ${mentionSelf(msg)}\n`);
  },
  debug(msg: string): void {
    if (verbosity > 0) process.stderr.write(`${stamp()}${palette().gray(msg)}\n`);
  },
};
