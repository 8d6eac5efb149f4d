// Shell completion scripts, generated from the command tree itself (so a new command or flag
// completes without anyone editing a script) plus the volume and destination names of the
// config at hand. What a value completes to is read from how it is declared: an argument
// <volume> or an option --volume <name> takes a volume, --to/--from <destination> a
// destination, <path>/<dir> values files.

import type { Command } from 'commander';

type ValueKind = 'volume' | 'destination' | 'shell' | 'file' | 'none';

interface OptionModel {
  flags: string[];
  /** null: a flag without a value. */
  value: ValueKind | null;
  description: string;
}

interface CommandModel {
  /** The words that name it: ['config', 'check']. */
  path: string[];
  description: string;
  options: OptionModel[];
  /** Positional arguments in order; a variadic last one repeats. */
  args: ValueKind[];
  subcommands: string[];
}

export interface CompletionModel {
  globalOptions: OptionModel[];
  commands: CommandModel[];
  volumes: string[];
  destinations: string[];
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

function valueKind(name: string, optionName = ''): ValueKind {
  if (name === 'volume' || (name === 'name' && optionName === '--volume')) return 'volume';
  if (name === 'destination') return 'destination';
  if (name === 'shell') return 'shell';
  if (name === 'path' || name === 'dir' || name === 'file') return 'file';
  return 'none';
}

function optionsOf(command: Command): OptionModel[] {
  return command.options.map((option) => {
    const valueName = /[<[]([^>\]]+)[>\]]/.exec(option.flags)?.[1] ?? null;
    return {
      flags: [option.long, option.short].filter((flag): flag is string => typeof flag === 'string'),
      value: valueName === null ? null : valueKind(valueName, option.long ?? ''),
      description: option.description,
    };
  });
}

/** The tree under `program`, with the names to offer for volumes and destinations. */
export function completionModel(program: Command, names: { volumes: string[]; destinations: string[] }): CompletionModel {
  const commands: CommandModel[] = [];
  const visit = (command: Command, path: string[]) => {
    for (const sub of command.commands) {
      const subPath = [...path, sub.name()];
      commands.push({
        path: subPath,
        description: sub.description(),
        options: [...optionsOf(sub), { flags: ['--help', '-h'], value: null, description: 'display help for command' }],
        // Positional paths are volume-relative (or hashes): the local directory has nothing to offer.
        args: sub.registeredArguments.map((argument) => (argument.name() === 'volume' || argument.name() === 'shell' ? valueKind(argument.name()) : 'none')),
        subcommands: sub.commands.map((c) => c.name()),
      });
      visit(sub, subPath);
    }
  };
  visit(program, []);
  return { globalOptions: optionsOf(program), commands, ...names };
}

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

function bashWords(kind: ValueKind | null): string {
  switch (kind) {
    case 'volume':
      return 'COMPREPLY=($(compgen -W "$volumes" -- "$cur"))';
    case 'destination':
      return 'COMPREPLY=($(compgen -W "$destinations" -- "$cur"))';
    case 'shell':
      return `COMPREPLY=($(compgen -W ${quote(SHELLS.join(' '))} -- "$cur"))`;
    case 'file':
      return 'COMPREPLY=($(compgen -f -- "$cur"))';
    default:
      return 'COMPREPLY=()';
  }
}

/** bash (and zsh through bashcompinit): one function, its data in case statements. */
function bash(model: CompletionModel): string {
  const valueOptions = (options: OptionModel[]) => options.filter((o) => o.value !== null);
  const optionValueCases = (options: OptionModel[]) => valueOptions(options).map((o) => `        ${o.flags.join('|')}) ${bashWords(o.value)}; return;;`);
  const commandCases = model.commands.map((c) => {
    const key = c.path.join(' ');
    const positional = c.args.map((kind, i) => `          ${i === c.args.length - 1 ? '*' : i}) ${bashWords(kind)};;`);
    return [
      `    ${quote(key)})`,
      `      case "$prev" in`,
      ...optionValueCases(c.options),
      `      esac`,
      `      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W ${quote([...c.options, ...model.globalOptions].flatMap((o) => o.flags).join(' '))} -- "$cur")); return; fi`,
      ...(c.subcommands.length > 0 ? [`      if [ "$npos" -eq 0 ]; then COMPREPLY=($(compgen -W ${quote(c.subcommands.join(' '))} -- "$cur")); return; fi`] : []),
      ...(c.args.length > 0 ? [`      case "$npos" in`, ...positional, `      esac`] : ['      COMPREPLY=()']),
      `      ;;`,
    ].join('\n');
  });
  const skipsValue = (options: OptionModel[]) => valueOptions(options).flatMap((o) => o.flags);
  const allValueFlags = [...new Set([...skipsValue(model.globalOptions), ...model.commands.flatMap((c) => skipsValue(c.options))])];
  const subcommandsOf = model.commands.filter((c) => c.subcommands.length > 0).map((c) => `    ${quote(c.path.join(' '))}) subs=${quote(c.subcommands.join(' '))};;`);
  return `# bash completion for squirrel, generated by \`squirrel completion bash\` from its command tree
# and the volume and destination names in the config. Regenerate after changing either, or load
# it from your shell's startup file:  eval "$(squirrel completion bash)"
_squirrel() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local volumes=${quote(model.volumes.join(' '))} destinations=${quote(model.destinations.join(' '))}
  local key="" npos=0 i=1 word subs
  while [ "$i" -lt "$COMP_CWORD" ]; do
    word="\${COMP_WORDS[i]}"
    case "$word" in
      ${allValueFlags.length > 0 ? `${allValueFlags.join('|')}) i=$((i + 1));;` : ''}
      -*) ;;
      *)
        subs=""
        case "$key" in
          "") subs=${quote(model.commands.filter((c) => c.path.length === 1).map((c) => c.path[0]).join(' '))};;
${subcommandsOf.join('\n')}
        esac
        if [ "$npos" -eq 0 ] && [[ " $subs " == *" $word "* ]]; then key="\${key:+$key }$word"; else npos=$((npos + 1)); fi
        ;;
    esac
    i=$((i + 1))
  done
  case "$key" in
    "")
      case "$prev" in
${optionValueCases(model.globalOptions).map((line) => `  ${line}`).join('\n')}
      esac
      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W ${quote(model.globalOptions.flatMap((o) => o.flags).join(' '))} -- "$cur")); return; fi
      COMPREPLY=($(compgen -W ${quote(model.commands.filter((c) => c.path.length === 1).map((c) => c.path[0]).join(' '))} -- "$cur"))
      ;;
${commandCases.join('\n')}
  esac
}
complete -F _squirrel squirrel
`;
}

function zsh(model: CompletionModel): string {
  return `#compdef squirrel
# zsh completion for squirrel, generated by \`squirrel completion zsh\`: the bash completion,
# through zsh's bashcompinit. Load it with:  eval "$(squirrel completion zsh)"
(( $+functions[compdef] )) || { autoload -U +X compinit && compinit }
autoload -U +X bashcompinit && bashcompinit
${bash(model).split('\n').filter((line) => !line.startsWith('#')).join('\n')}`;
}

function fishValues(kind: ValueKind | null, model: CompletionModel): string {
  switch (kind) {
    case 'volume':
      return ` -x -a ${quote(model.volumes.join(' '))}`;
    case 'destination':
      return ` -x -a ${quote(model.destinations.join(' '))}`;
    case 'shell':
      return ` -x -a ${quote(SHELLS.join(' '))}`;
    case 'file':
      return ' -r -F';
    case 'none':
      return ' -x';
    default:
      return '';
  }
}

function fishOption(option: OptionModel, condition: string, model: CompletionModel): string {
  const names = option.flags.map((flag) => (flag.startsWith('--') ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`)).join(' ');
  return `complete -c squirrel${condition} ${names}${fishValues(option.value, model)} -d ${quote(option.description)}`;
}

function fish(model: CompletionModel): string {
  const top = model.commands.filter((c) => c.path.length === 1);
  const lines = [
    '# fish completion for squirrel, generated by `squirrel completion fish` from its command tree',
    '# and the config\'s names. Load it with:  squirrel completion fish | source',
    'complete -c squirrel -f',
    ...model.globalOptions.map((o) => fishOption(o, '', model)),
    ...top.map((c) => `complete -c squirrel -n '__fish_use_subcommand' -a ${c.path[0]} -d ${quote(c.description)}`),
  ];
  for (const c of model.commands) {
    const seen = `__fish_seen_subcommand_from ${c.path.at(-1)}`;
    const condition = c.path.length === 1 ? ` -n ${quote(seen)}` : ` -n ${quote(`__fish_seen_subcommand_from ${c.path[0]}; and ${seen}`)}`;
    for (const sub of model.commands.filter((s) => s.path.length === c.path.length + 1 && s.path.slice(0, -1).join(' ') === c.path.join(' '))) {
      lines.push(`complete -c squirrel -n ${quote(`__fish_seen_subcommand_from ${c.path.at(-1)}; and not __fish_seen_subcommand_from ${c.subcommands.join(' ')}`)} -a ${sub.path.at(-1)} -d ${quote(sub.description)}`);
    }
    for (const option of c.options) lines.push(fishOption(option, condition, model));
    const firstArg = c.args[0];
    if (firstArg === 'volume' || firstArg === 'shell') lines.push(`complete -c squirrel${condition}${fishValues(firstArg, model)}`);
    else if (firstArg === 'file') lines.push(`complete -c squirrel${condition} -F`);
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(shell: Shell, model: CompletionModel): string {
  return shell === 'bash' ? bash(model) : shell === 'zsh' ? zsh(model) : fish(model);
}
