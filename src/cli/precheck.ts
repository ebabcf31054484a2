// acmg precheck: the checklist install runs first, on its own.
import type { Command } from 'commander';
import { ExitCode } from '../errors.js';
import { failed } from '../model/check.js';
import { resolveValues } from '../profile/load.js';
import { renderChecklist } from '../ui/checklist.js';
import { parseOutputFormat, printStructured, writeStdout } from '../ui/output.js';
import { addValuesOptions, withExamples, type ValuesOptions, connectFrom } from './common.js';

export function registerPrecheck(program: Command): void {
  withExamples(
    addValuesOptions(program.command('precheck').description('check that the cluster is ready for acmg (exit 1 if a check fails)'))
      .option('-o, --output <format>', 'text | json')
      .action(async (opts: ValuesOptions & { output?: string }, cmd: Command) => {
        const fmt = parseOutputFormat(opts.output, ['text', 'json'], 'text');
        const doc = resolveValues({ profile: opts.profile, files: opts.filename, sets: opts.set });
        const { runPrecheck } = await import('../check/precheck.js');
        const kube = await connectFrom(cmd);
        const { results, unreachable } = await runPrecheck(kube, doc);
        if (fmt === 'json') printStructured({ results, passed: failed(results).length === 0 }, 'json');
        else writeStdout(renderChecklist(results));
        if (unreachable) process.exitCode = ExitCode.Cluster;
        else if (failed(results).length) process.exitCode = ExitCode.CheckFailed;
      }),
    ['acmg precheck', 'acmg precheck --profile ha -o json', 'acmg precheck --kubeconfig ./kubeconfig --context staging'],
  );
}
