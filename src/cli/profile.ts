// acmg profile list | dump [name] | diff <a> <b>
import type { Command } from 'commander';
import { ExitCode, usageError } from '../errors.js';
import { DEFAULT_PROFILE, listProfiles, loadProfile } from '../profile/load.js';
import { getPath, parsePath } from '../profile/paths.js';
import { lineDiff, renderDiff, splitLines } from '../ui/diff.js';
import { parseOutputFormat, printStructured, writeStdout } from '../ui/output.js';
import { toYaml } from '../render/serialize.js';
import { renderTable } from '../ui/table.js';
import { withExamples } from './common.js';

export function registerProfile(program: Command): void {
  const profile = program.command('profile').description('list, show and compare install profiles');

  withExamples(
    profile
      .command('list')
      .description('list the available profiles')
      .option('-o, --output <format>', 'text | yaml | json')
      .action((opts: { output?: string }) => {
        const fmt = parseOutputFormat(opts.output, ['text', 'yaml', 'json'], 'text');
        const profiles = listProfiles();
        if (fmt !== 'text') return printStructured(profiles, fmt);
        writeStdout(
          renderTable(
            ['PROFILE', 'DESCRIPTION'],
            profiles.map((p) => [p.name === DEFAULT_PROFILE ? `${p.name} (default)` : p.name, p.description]),
          ),
        );
      }),
    ['acmg profile list', 'acmg profile list -o json'],
  );

  withExamples(
    profile
      .command('dump [name]')
      .description('print the full values of a profile (base merged with the profile)')
      .option('--config-path <path>', 'print only this subtree, e.g. gateway.placement')
      .option('-o, --output <format>', 'yaml | json')
      .action((name: string | undefined, opts: { configPath?: string; output?: string }) => {
        const fmt = parseOutputFormat(opts.output, ['yaml', 'json'], 'yaml') as 'yaml' | 'json';
        const doc = loadProfile(name ?? DEFAULT_PROFILE);
        let value: unknown = doc;
        if (opts.configPath) {
          const path = parsePath(opts.configPath.replace(/^spec\./, ''));
          value = getPath(doc.spec, path);
          if (value === undefined)
            throw usageError(
              `--config-path "${opts.configPath}" does not exist in profile "${doc.spec.profile}"`,
              'see the full values with: acmg profile dump',
            );
        }
        printStructured(value, fmt);
      }),
    ['acmg profile dump', 'acmg profile dump ha --config-path gateway.placement', 'acmg profile dump demo -o json'],
  );

  withExamples(
    profile
      .command('diff <a> <b>')
      .description('show how two profiles differ (exit 1 if they differ, like kubectl diff)')
      .action((a: string, b: string) => {
        const left = toYaml(loadProfile(a).spec);
        const right = toYaml(loadProfile(b).spec);
        const diff = lineDiff(splitLines(left), splitLines(right));
        if (diff.every((d) => d.op === ' ')) {
          process.stderr.write(`profiles "${a}" and "${b}" are identical\n`);
          return;
        }
        writeStdout(renderDiff(diff, `profile ${a}`, `profile ${b}`, process.stdout));
        process.exitCode = ExitCode.CheckFailed;
      }),
    ['acmg profile diff minimal ha'],
  );
}
