// --dry-run as kubectl spells it: --dry-run=client (nothing is sent that writes), --dry-run=server
// (the writes are sent with dryRun=All: the API server validates and admits them, and stores
// nothing), --dry-run=none; plain --dry-run means client, as it always has in acmg. As in kubectl,
// a value is taken only after "=": `acmg rollback --dry-run web -n shop` names the service web.
import { Option, type Command } from 'commander';
import { usageError } from '../errors.js';

export type DryRun = 'none' | 'client' | 'server';

const MODES: DryRun[] = ['none', 'client', 'server'];

function parseMode(value: string): DryRun {
  if ((MODES as string[]).includes(value)) return value as DryRun;
  throw usageError(`invalid --dry-run "${value}": use --dry-run (the same as --dry-run=client), --dry-run=client or --dry-run=server`);
}

/** A bare --dry-run (before any "--") becomes --dry-run=client, so the next word is never taken as its value. */
export function bareDryRunAsClient(args: string[]): string[] {
  const end = args.indexOf('--');
  return args.map((a, i) => (a === '--dry-run' && (end < 0 || i < end) ? '--dry-run=client' : a));
}

/**
 * Adds --dry-run[=client|server] to a command. `serverHow` says what --dry-run=server does there;
 * without it, the command refuses server (see refuseServerDryRun).
 */
export function addDryRunOption(cmd: Command, client: string, serverHow?: string): Command {
  const option = new Option('--dry-run [mode]', `${client}${serverHow ? `; =server: ${serverHow}` : ''}`).preset('client').argParser(parseMode);
  // Help shows the spelling that works (the value only after "=").
  option.flags = '--dry-run[=client|server]';
  cmd.addOption(option);
  const parseOptions = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (args: string[]) => parseOptions(bareDryRunAsClient(args));
  return cmd;
}

/** The mode of a command's parsed --dry-run option (absent: none). */
export const dryRunOf = (value: string | undefined): DryRun => (value === undefined ? 'none' : parseMode(value));

/** For a command whose use case cannot send its writes as a server-side dry run: exit 2, before connecting. */
export function refuseServerDryRun(mode: DryRun, command: string, why: string): void {
  if (mode !== 'server') return;
  throw usageError(`${command} --dry-run=server is not supported: ${why}`, `${command} --dry-run (the same as --dry-run=client) shows what it would do`);
}
