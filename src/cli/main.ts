// acmg's entry point: wires the commands, applies global options, and maps errors to exit codes.
import { Command, CommanderError, Option } from 'commander';
import { AcmgError, ExitCode } from '../errors.js';
import { setColor } from '../ui/color.js';
import { log, setVerbosity } from '../ui/log.js';
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
  program.addHelpText('after', `
Exit codes: 0 ok, 1 a check failed, 2 bad usage or input, 3 cluster or network error.
Docs: acmg <command> --help`);
  return program;
}

/** Every command and subcommand exits 2 on commander's usage errors. */
function exitOverrideDeep(cmd: Command): void {
  cmd.exitOverride();
  cmd.commands.forEach(exitOverrideDeep);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  exitOverrideDeep(program);
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version come through here with exit code 0.
      return err.exitCode === 0 ? 0 : ExitCode.Usage;
    }
    if (err instanceof AcmgError) {
      for (const p of err.problems) log.error(p);
      if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
      return err.code;
    }
    log.error(err instanceof Error ? (Number(process.env.ACMG_DEBUG) ? String(err.stack) : err.message) : String(err));
    return ExitCode.Cluster;
  }
}

// `acmg ... | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

const code = await main(process.argv);
// Let pending stdout writes drain before exiting (pipes are asynchronous).
process.exitCode = code;
