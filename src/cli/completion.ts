// acmg completion bash|zsh|fish: generated from the command tree, so it never drifts from the CLI.
// Values that are known when the script is generated (profiles, output formats, shells) are in the
// script; values that live elsewhere are asked of acmg itself at completion time, through the
// hidden command `acmg __complete KIND`: contexts (read from the kubeconfig, no network), namespaces
// and migrated services (from the cluster, within a second, or nothing).
import type { Command } from 'commander';
import { usageError } from '../errors.js';
import { profileNames } from '../profile/load.js';
import { writeStdout } from '../ui/output.js';
import { globals, withExamples } from './common.js';

const SHELLS = ['bash', 'fish', 'zsh'] as const;
type Shell = (typeof SHELLS)[number];

/** What a command's positional arguments complete to. */
type Positional = 'profiles' | 'services' | 'shells' | 'commands' | '';

interface Word {
  word: string;
  description: string;
}

interface Node {
  path: string[];
  subcommands: Word[];
  options: Word[];
  positional: Positional;
}

/** Positional arguments with completions, by command path. */
const POSITIONAL: Record<string, Positional> = {
  'profile dump': 'profiles',
  'profile diff': 'profiles',
  rollback: 'services',
  'verify-dns': 'services',
  'verify-routes': 'services',
  completion: 'shells',
  help: 'commands',
};

/** Flags whose value completes to something other than the next word of the command line. */
const FILE_FLAGS = ['-f', '--filename', '--kubeconfig', '--junit'];
const PROFILE_FLAGS = ['-p', '--profile'];
const OUTPUT_FLAGS = ['-o', '--output'];
const CONTEXT_FLAGS = ['--context'];
const NAMESPACE_FLAGS = ['-n', '--namespace'];

const hidden = (c: Command) => Boolean((c as unknown as { _hidden?: boolean })._hidden);
const byWord = (a: Word, b: Word) => (a.word < b.word ? -1 : a.word > b.word ? 1 : 0);

function walk(cmd: Command, path: string[], out: Node[]): void {
  const visible = cmd.commands.filter((c) => !hidden(c));
  const options = cmd.options.flatMap((o) => [o.short, o.long].filter((x): x is string => Boolean(x)).map((word) => ({ word, description: o.description })));
  out.push({
    path,
    subcommands: visible.map((c) => ({ word: c.name(), description: c.description() })).sort(byWord),
    options: [...options, { word: '--help', description: 'show help' }].sort(byWord),
    positional: POSITIONAL[path.join(' ')] ?? '',
  });
  for (const c of visible) walk(c, [...path, c.name()], out);
}

function tree(program: Command): Node[] {
  const nodes: Node[] = [];
  walk(program, [], nodes);
  const top = nodes.find((n) => n.path.length === 0)!.subcommands;
  const help = nodes.find((n) => n.path.join(' ') === 'help');
  if (help) help.subcommands = top.filter((w) => w.word !== 'help');
  return nodes;
}

function bashScript(nodes: Node[]): string {
  const cases = nodes
    .map((n) => `    "${n.path.join(' ')}") words_for="${[...n.subcommands, ...n.options].map((w) => w.word).join(' ')}"; positional="${n.positional}" ;;`)
    .join('\n');
  const known = nodes
    .filter((n) => n.path.length > 0)
    .map((n) => `"${n.path.join(' ')}"`)
    .join('|');
  const commands = nodes.find((n) => n.path.length === 0)!.subcommands.map((w) => w.word);
  return `# acmg bash completion. Load with: source <(acmg completion bash)
_acmg_known() { case "$1" in ${known}) return 0 ;; esac; return 1; }
# Values acmg reads at completion time (contexts from the kubeconfig; namespaces and migrated
# services from the cluster, within about a second, else none), with the --kubeconfig, --context
# and -n already on the command line.
_acmg_live() {
  local args=() i w
  for ((i = 1; i < COMP_CWORD - 1; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      --kubeconfig|--context|-n|--namespace) args+=("$w" "\${COMP_WORDS[i+1]/#\\~/$HOME}") ;;
    esac
  done
  "\${COMP_WORDS[0]}" __complete "$1" "\${args[@]}" 2>/dev/null
}
_acmg_complete() {
  local cur prev path="" next w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    next="\${path:+$path }$w"
    # Only command words extend the path; flags and their values do not.
    if _acmg_known "$next"; then path="$next"; fi
  done
  # Values of flags.
  case "$prev" in
    ${FILE_FLAGS.join('|')}) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
    ${PROFILE_FLAGS.join('|')}) COMPREPLY=( $(compgen -W "${profileNames().join(' ')}" -- "$cur") ); return 0 ;;
    ${OUTPUT_FLAGS.join('|')}) COMPREPLY=( $(compgen -W "text yaml json" -- "$cur") ); return 0 ;;
    ${CONTEXT_FLAGS.join('|')}) COMPREPLY=( $(compgen -W "$(_acmg_live contexts)" -- "$cur") ); return 0 ;;
    ${NAMESPACE_FLAGS.join('|')}) COMPREPLY=( $(compgen -W "$(_acmg_live namespaces)" -- "$cur") ); return 0 ;;
  esac
  local words_for="" positional=""
  case "$path" in
${cases}
  esac
  # Arguments of commands (a word that does not start with -).
  if [[ "$cur" != -* ]]; then
    case "$positional" in
      profiles) COMPREPLY=( $(compgen -W "${profileNames().join(' ')}" -- "$cur") ); return 0 ;;
      shells) COMPREPLY=( $(compgen -W "${SHELLS.join(' ')}" -- "$cur") ); return 0 ;;
      commands) COMPREPLY=( $(compgen -W "${commands.filter((c) => c !== 'help').join(' ')}" -- "$cur") ); return 0 ;;
      services) COMPREPLY=( $(compgen -W "$(_acmg_live services)" -- "$cur") ); return 0 ;;
    esac
  fi
  COMPREPLY=( $(compgen -W "$words_for" -- "$cur") )
}
complete -o filenames -F _acmg_complete acmg
`;
}

/** A fish single-quoted string. */
const fq = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;

/** printf lines "word<TAB>description" (fish shows the description beside each candidate). */
const fishWords = (words: Word[]) =>
  words.length ? `printf '%s\\t%s\\n' ${words.map((w) => `${fq(w.word)} ${fq(w.description.split('\n')[0]!)}`).join(' ')}` : 'true';

function fishScript(nodes: Node[]): string {
  const known = nodes
    .filter((n) => n.path.length > 0)
    .map((n) => fq(n.path.join(' ')))
    .join(' ');
  const cases = nodes
    .map(
      (n) =>
        `        case ${fq(n.path.join(' '))}\n            set positional ${fq(n.positional)}\n            if string match -q -- '-*' "$cur"; or test "$positional" = ''\n                ${fishWords(
          [...n.subcommands, ...n.options],
        )}\n            end`,
    )
    .join('\n');
  const commands = nodes.find((n) => n.path.length === 0)!.subcommands.filter((w) => w.word !== 'help');
  return `# acmg fish completion. Load with: acmg completion fish | source
# (or save it as ~/.config/fish/completions/acmg.fish)
set -g __acmg_known ${known}

# The command path so far: only command words extend it; flags and their values do not.
function __acmg_path
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l path ''
    set -l next ''
    for w in $tokens
        if test -n "$path"
            set next "$path $w"
        else
            set next $w
        end
        if contains -- $next $__acmg_known
            set path $next
        end
    end
    echo $path
end

# Values acmg reads at completion time (contexts from the kubeconfig; namespaces and migrated
# services from the cluster, within about a second, else none), with the --kubeconfig, --context
# and -n already on the command line.
function __acmg_live
    set -l tokens (commandline -opc)
    set -l args
    set -l n (count $tokens)
    for i in (seq 2 (math $n - 1))
        switch $tokens[$i]
            case --kubeconfig --context -n --namespace
                set -a args $tokens[$i] (string replace -r '^~' $HOME -- $tokens[(math $i + 1)])
        end
    end
    $tokens[1] __complete $argv[1] $args 2>/dev/null
end

function __acmg_complete
    set -l tokens (commandline -opc)
    set -l prev $tokens[-1]
    set -l cur (commandline -ct)
    switch $prev
        case ${FILE_FLAGS.join(' ')}
            __fish_complete_path $cur
            return
        case ${PROFILE_FLAGS.join(' ')}
            printf '%s\\n' ${profileNames().join(' ')}
            return
        case ${OUTPUT_FLAGS.join(' ')}
            printf '%s\\n' text yaml json
            return
        case ${CONTEXT_FLAGS.join(' ')}
            __acmg_live contexts
            return
        case ${NAMESPACE_FLAGS.join(' ')}
            __acmg_live namespaces
            return
    end
    set -l positional ''
    switch (__acmg_path)
${cases}
    end
    # Arguments of commands (a word that does not start with -).
    if not string match -q -- '-*' "$cur"
        switch $positional
            case profiles
                printf '%s\\n' ${profileNames().join(' ')}
            case shells
                printf '%s\\n' ${SHELLS.join(' ')}
            case commands
                ${fishWords(commands)}
            case services
                __acmg_live services
        end
    end
end
complete -c acmg -f -a '(__acmg_complete)'
`;
}

export function completionScript(program: Command, shell: Shell): string {
  const nodes = tree(program);
  if (shell === 'fish') return fishScript(nodes);
  const bash = bashScript(nodes);
  if (shell === 'bash') return bash;
  return `#compdef acmg
# acmg zsh completion. Load with: source <(acmg completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash}`;
}

/** The kubeconfig's context names, sorted (no client library, no network: completion must be quick). */
async function contextNames(kubeconfig: string | undefined): Promise<string[]> {
  const [{ kubeconfigSource }, { INPUT_LIMITS, readBounded }, { loadAllBounded }] = await Promise.all([
    import('../kube/kubeconfig.js'),
    import('../input/read-bounded.js'),
    import('../input/safe-yaml.js'),
  ]);
  const source = kubeconfigSource(kubeconfig);
  if (source.kind !== 'files') return [];
  const names = new Set<string>();
  for (const file of source.files) {
    try {
      const doc = loadAllBounded(readBounded(file, INPUT_LIMITS.kubeconfigBytes, 'kubeconfig'), file)[0] as { contexts?: { name?: unknown }[] } | null;
      for (const c of doc?.contexts ?? []) if (typeof c?.name === 'string') names.add(c.name);
    } catch {
      // A file that does not load completes nothing; the command itself will say why.
    }
  }
  return [...names].sort();
}

/** Longest a live completion may take: the shell waits for it. */
const LIVE_DEADLINE_MS = 1500;

/** Candidates for `acmg __complete KIND`: never an error, at worst nothing. */
async function candidates(kind: string, cmd: Command, namespace: string | undefined): Promise<string[]> {
  const g = globals(cmd);
  if (kind === 'profiles') return profileNames();
  if (kind === 'contexts') return contextNames(g.kubeconfig);
  if (kind !== 'namespaces' && kind !== 'services') return [];
  const { connect } = await import('../ops/connect.js');
  // One short request timeout: a slow or unreachable cluster completes nothing rather than hang the shell.
  const kube = await connect({ kubeconfig: g.kubeconfig, context: g.context, requestTimeout: '1s' });
  if (kind === 'namespaces') return (await kube.list('v1', 'Namespace', { limit: 500 })).items.map((n) => n.metadata.name).sort();
  const { locateState } = await import('../kube/state.js');
  const { state } = await locateState(kube);
  const ns = namespace ?? 'default';
  return Object.values(state.migrations)
    .filter((m) => m.namespace === ns)
    .map((m) => m.service)
    .sort();
}

export function registerCompletion(program: Command): void {
  withExamples(
    program
      .command('completion <shell>')
      .description('print a shell completion script (bash, zsh or fish)')
      .action((shell: string) => {
        if (!(SHELLS as readonly string[]).includes(shell)) throw usageError(`unsupported shell "${shell}": use bash, zsh or fish`);
        writeStdout(completionScript(program, shell as Shell));
      }),
    ['source <(acmg completion bash)', 'acmg completion zsh > "${fpath[1]}/_acmg"'],
  );
  program
    .command('__complete <kind>', { hidden: true })
    .description('print completion candidates, one a line: profiles, contexts, namespaces, services (used by the completion scripts)')
    .option('-n, --namespace <ns>', 'with services: the namespace (default: default)')
    .action(async (kind: string, opts: { namespace?: string }, cmd: Command) => {
      // Whatever is still pending at the deadline (an exec credential plugin, a silent API server) is abandoned.
      setTimeout(() => process.exit(0), LIVE_DEADLINE_MS).unref();
      const words = await Promise.race([
        candidates(kind, cmd, opts.namespace).catch(() => [] as string[]),
        new Promise<string[]>((r) => setTimeout(() => r([]), LIVE_DEADLINE_MS - 200).unref()),
      ]);
      if (words.length) writeStdout(`${words.join('\n')}\n`);
    });
}
