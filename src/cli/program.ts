// acmg's command tree: every command, with the global options applied before each action.
import { Command, Option } from 'commander';
import { usageError } from '../errors.js';
import { setColor } from '../ui/color.js';
import { setVerbosity } from '../ui/log.js';
import { mentionSelf } from '../ui/self-name.js';
import { VERSION } from '../version.js';
import { increase } from './common.js';
import { registerCompletion } from './completion.js';
import { registerManifest } from './manifest.js';
import { registerInstall } from './install.js';
import { registerMigrate } from './migrate.js';
import { registerRollback } from './rollback.js';
import { registerStatus } from './status.js';
import { registerSync } from './sync.js';
import { registerUninstall } from './uninstall.js';
import { registerVerifyDns } from './verify-dns.js';
import { registerVerifyRoutes } from './verify-routes.js';
import { registerPrecheck } from './precheck.js';
import { registerProfile } from './profile.js';
import { registerVersion } from './version.js';

/** `acmg help manifest generate`: the help of any command, however deep (commander's own help command takes one word). */
function registerHelp(program: Command, name: string): void {
  // Subcommands made before this keep their own `help` (acmg profile help dump).
  program.helpCommand(false);
  program
    .command('help [command...]')
    .description(`show the help of a command, e.g. ${name} help manifest generate`)
    .action((words: string[]) => {
      let cmd = program;
      const path: string[] = [];
      for (const w of words) {
        const next = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
        if (!next) throw usageError(`unknown command "${[...path, w].join(' ')}"`, `${[name, ...path].join(' ')} --help lists the commands`);
        path.push(w);
        cmd = next;
      }
      cmd.outputHelp();
    });
}

/** The command tree; `name` is how the user invoked acmg ("acmg", or "kubectl acmg" as a kubectl plugin). */
export function buildProgram(name = 'acmg'): Command {
  const program = new Command(name)
    // Help and commander's own errors name the commands as the user invokes them (before any
    // subcommand is made: they inherit this).
    .configureOutput({ writeOut: (s) => process.stdout.write(mentionSelf(s)), writeErr: (s) => process.stderr.write(mentionSelf(s)) })
    .description('Move Istio east-west traffic off per-pod sidecars onto a centralized gateway.')
    .version(VERSION, '--version', 'print the acmg version')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('--request-timeout <duration>', 'longest wait for one API server request, e.g. 10s or 1m (0: no limit)', '30s')
    .option('--no-color', 'disable colours (also: NO_COLOR=1)')
    .addOption(new Option('-v, --verbose', 'more output on stderr; repeat for more').argParser(increase).default(0))
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true })
    .hook('preAction', (_this, action) => {
      const opts = action.optsWithGlobals();
      if (opts.color === false) setColor(false);
      setVerbosity(Number(opts.verbose) || 0);
    });

  registerPrecheck(program);
  registerInstall(program);
  registerMigrate(program);
  registerRollback(program);
  registerVerifyDns(program);
  registerVerifyRoutes(program);
  registerSync(program);
  registerStatus(program);
  registerUninstall(program);
  registerProfile(program);
  registerManifest(program);
  registerVersion(program);
  registerCompletion(program);
  registerHelp(program, name);
  program.addHelpText(
    'after',
    `
Exit codes: 0 ok, 1 a check failed, 2 bad usage or input, 3 cluster or network error.
Docs: ${name} <command> --help, or ${name} help <command>`,
  );
  return program;
}
