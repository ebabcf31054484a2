// Shared commander helpers: global options, repeatable flags, examples in --help.
import type { Command } from 'commander';
import type { Kube } from '../kube/client.js';
import { log } from '../ui/log.js';

export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  requestTimeout: string;
  color: boolean;
  verbose: number;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

/** For repeatable flags: -f a -f b, --set x=1 --set y=2. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function increase(_value: string, previous = 0): number {
  return previous + 1;
}

export function withExamples(cmd: Command, examples: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n`);
}

/** Options every profile-consuming command shares (manifest generate, install). */
export function addValuesOptions(cmd: Command): Command {
  return cmd
    .option('-p, --profile <name>', 'install profile (see: acmg profile list)')
    .option('-f, --filename <file>', 'overlay file (AcmgOperator YAML); repeatable, applied in order', collect, [])
    .option('--set <path=value>', 'override one value, e.g. gateway.replicas=3; repeatable, applied last', collect, []);
}

export interface ValuesOptions {
  profile?: string;
  filename: string[];
  set: string[];
}

/** Connects with the global flags; -v shows each API request on stderr. */
export async function connectFrom(cmd: Command): Promise<Kube> {
  const { connect } = await import('../ops/connect.js');
  return connect(globals(cmd), (m) => log.debug(m));
}
