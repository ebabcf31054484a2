// acmg completion bash|zsh: generated from the command tree, so it never drifts from the CLI.
import type { Command } from 'commander';
import { usageError } from '../errors.js';
import { listProfiles } from '../profile/load.js';
import { writeStdout } from '../ui/output.js';
import { withExamples } from './common.js';

interface Node {
  path: string[];
  subcommands: string[];
  options: string[];
}

function walk(cmd: Command, path: string[], out: Node[]): void {
  const options = cmd.options.flatMap((o) => [o.short, o.long].filter((x): x is string => Boolean(x)));
  out.push({ path, subcommands: cmd.commands.map((c) => c.name()).sort(), options: [...options, '--help'].sort() });
  for (const c of cmd.commands) walk(c, [...path, c.name()], out);
}

export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const nodes: Node[] = [];
  walk(program, [], nodes);
  const cases = nodes.map((n) => `    "${n.path.join(' ')}") words_for="${[...n.subcommands, ...n.options].join(' ')}" ;;`).join('\n');
  const profiles = listProfiles()
    .map((p) => p.name)
    .join(' ');
  const known = nodes
    .filter((n) => n.path.length > 0)
    .map((n) => `"${n.path.join(' ')}"`)
    .join('|');
  const bash = `# acmg bash completion. Load with: source <(acmg completion bash)
_acmg_known() { case "$1" in ${known}) return 0 ;; esac; return 1; }
_acmg_complete() {
  local cur path="" next w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    next="\${path:+$path }$w"
    # Only command words extend the path; flags and their values do not.
    if _acmg_known "$next"; then path="$next"; fi
  done
  local words_for=""
  case "$path" in
${cases}
  esac
  # Values of flags: files for -f/--filename/--kubeconfig/--junit, profile names for -p/--profile.
  case "\${COMP_WORDS[COMP_CWORD-1]}" in
    -f|--filename|--kubeconfig|--junit) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
    -p|--profile) COMPREPLY=( $(compgen -W "${profiles}" -- "$cur") ); return 0 ;;
    -o|--output) COMPREPLY=( $(compgen -W "text yaml json" -- "$cur") ); return 0 ;;
  esac
  COMPREPLY=( $(compgen -W "$words_for" -- "$cur") )
}
complete -o filenames -F _acmg_complete acmg
`;
  if (shell === 'bash') return bash;
  return `#compdef acmg
# acmg zsh completion. Load with: source <(acmg completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash}`;
}

export function registerCompletion(program: Command): void {
  withExamples(
    program
      .command('completion <shell>')
      .description('print a shell completion script (bash or zsh)')
      .action((shell: string) => {
        if (shell !== 'bash' && shell !== 'zsh') throw usageError(`unsupported shell "${shell}": use bash or zsh`);
        writeStdout(completionScript(program, shell));
      }),
    ['source <(acmg completion bash)', 'acmg completion zsh > "${fpath[1]}/_acmg"'],
  );
}
