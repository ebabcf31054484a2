// acmg's entry point: builds the command tree, runs it, and maps errors to exit codes.
import { CommanderError, type Command } from 'commander';
import { AcmgError, ExitCode } from '../errors.js';
import { clip } from '../input/safe-yaml.js';
import { ApiError, explainApiError } from '../kube/api.js';
import { installSignalHandlers } from '../ui/interrupt.js';
import { log } from '../ui/log.js';
import { invokedName, mentionSelf, setSelfName } from '../ui/self-name.js';
import { buildProgram } from './program.js';

const MAX_PROBLEMS = 20;

/** Every command and subcommand exits 2 on commander's usage errors. */
function exitOverrideDeep(cmd: Command): void {
  cmd.exitOverride();
  cmd.commands.forEach(exitOverrideDeep);
}

export async function main(argv: string[]): Promise<number> {
  // Invoked as kubectl-acmg (kubectl runs it for `kubectl acmg`): help and hints say `kubectl acmg`.
  const name = invokedName(argv[1]);
  const program = buildProgram(name);
  setSelfName(
    name,
    program.commands.map((c) => c.name()),
  );
  exitOverrideDeep(program);
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // --help and --version come through here with exit code 0.
      return thrown.exitCode === 0 ? 0 : ExitCode.Usage;
    }
    // The one place errors become messages: API errors get their hints here, whatever raised them.
    const err = thrown instanceof ApiError ? explainApiError(thrown) : thrown;
    if (err instanceof AcmgError) {
      // Bounded: a bad input can yield thousands of problems; the first ones say what to fix.
      for (const p of err.problems.slice(0, MAX_PROBLEMS)) log.error(clip(p, 500));
      if (err.problems.length > MAX_PROBLEMS) log.error(`… and ${err.problems.length - MAX_PROBLEMS} more problems`);
      if (err.hint) process.stderr.write(`hint: ${mentionSelf(err.hint)}\n`);
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

installSignalHandlers();
// Not exit(): pending stdout writes drain before the process ends (pipes are asynchronous).
// No top-level await: the bundle is CommonJS (scripts/build.mjs).
void main(process.argv).then((code) => {
  process.exitCode = code;
});
