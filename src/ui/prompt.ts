// Confirmation before changing a cluster: asked on a TTY; without one, -y is required.
import { createInterface } from 'node:readline/promises';
import { usageError } from '../errors.js';

export const canPrompt = (): boolean => Boolean(process.stdin.isTTY && process.stderr.isTTY);

/** Without a terminal a change needs -y: the one refusal, for confirm() and the CLI's preflight. */
export const refusalWithoutTerminal = (what: string, flag = '-y') =>
  usageError(`${what}: refusing without confirmation (no terminal to ask on)`, `pass ${flag} to confirm, or --dry-run to see the plan`);

export async function confirm(question: string, opts: { yes?: boolean; flag?: string } = {}): Promise<boolean> {
  if (opts.yes) return true;
  if (!canPrompt()) throw refusalWithoutTerminal(question.replace(/\?$/, ''), opts.flag);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    return answer === 'y' || answer === 'yes';
  } finally {
    rl.close();
  }
}
