// acmg's command tree: every command, with the global options applied before each action.
import { Command, Option } from 'commander';
import { setColor } from '../ui/color.js';
import { setVerbosity } from '../ui/log.js';
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
import { registerPrecheck } from './precheck.js';
import { registerProfile } from './profile.js';

export function buildProgram(): Command {
  const program = new Command('acmg')
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
  registerSync(program);
  registerStatus(program);
  registerUninstall(program);
  registerProfile(program);
  registerManifest(program);
  registerCompletion(program);
  program.addHelpText(
    'after',
    `
Exit codes: 0 ok, 1 a check failed, 2 bad usage or input, 3 cluster or network error.
Docs: acmg <command> --help`,
  );
  return program;
}
