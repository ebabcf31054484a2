// How the user invoked acmg: as `acmg`, or as the kubectl plugin `kubectl acmg` (an executable
// named kubectl-acmg on the PATH, which kubectl runs for `kubectl acmg ...`). Help, hints and
// messages then name the command the way the user types it.
import { basename } from 'node:path';

let self = 'acmg';
let mention: RegExp | undefined;

/** The name the user types: "acmg" or "kubectl acmg". */
export const selfName = (): string => self;

/** The invoked name from argv[1]: kubectl-acmg (also kubectl-acmg.js) is the kubectl plugin. */
export function invokedName(argv1: string | undefined): string {
  return argv1 && /^kubectl-acmg(\.[cm]?js)?$/.test(basename(argv1)) ? 'kubectl acmg' : 'acmg';
}

/** Set once by the entry point, with the names of acmg's commands (mentions of them are rewritten). */
export function setSelfName(name: string, commands: string[]): void {
  self = name;
  mention = name === 'acmg' || commands.length === 0 ? undefined : new RegExp(`(^|[\\s(\`'"])(?<!kubectl )acmg(?= (?:${commands.join('|')})\\b)`, 'g');
}

/**
 * A message or help text with each mention of an acmg command ("run acmg install first") written
 * as the user invokes it ("run kubectl acmg install first"), once. Other uses of the word (acmg's state,
 * acmg-system, acmg.io/...) are left alone; as `acmg`, the text is returned as it is.
 */
export function mentionSelf(text: string): string {
  return mention ? text.replace(mention, `$1${self}`) : text;
}
