// How a command is declared: its arguments and options with the types its body receives, the
// exit codes it can end with (written once, rendered into its --help) and the body. What runs
// around every body (the context, closing it, errors to exit codes) belongs to main.ts, which
// hands it in as `Run` when it attaches the commands; so commands import this, never main.ts.

import { Command, Option } from 'commander';
import { EXIT_OK, EXIT_OPERATIONAL, EXIT_USAGE } from '../errors.js';
import type { CommandContext } from './context.js';

/** A command body: the invocation's context and typed input in, an exit code out (none: 0). */
export type CommandAction<Input> = (ctx: CommandContext, input: Input) => Promise<number | void> | number | void;

/** Runs a body for `command` inside a fresh context and records its exit code (see main.ts). */
export type Run = (command: Command, body: (ctx: CommandContext) => Promise<number | void> | number | void) => Promise<void>;

/** One declared argument or option: how commander spells it and how its raw value is read. */
interface Param<T> {
  description: string;
  read(raw: unknown): T;
}
interface ArgParam<T> extends Param<T> {
  usage: string;
}
interface OptionParam<T> extends Param<T> {
  flags: string;
  defaultValue?: string;
}

const isText = (value: unknown): value is string => typeof value === 'string';

/** Positional arguments, in the order they are declared. */
export const arg = {
  required: (name: string, description: string): ArgParam<string> => ({
    usage: `<${name}>`,
    description,
    read: (raw) => {
      // Commander has already refused a command line without it.
      if (!isText(raw)) throw new Error(`argument <${name}> is missing`);
      return raw;
    },
  }),
  optional: (name: string, description: string): ArgParam<string | undefined> => ({
    usage: `[${name}]`,
    description,
    read: (raw) => (isText(raw) ? raw : undefined),
  }),
  variadic: (name: string, description: string): ArgParam<string[]> => ({
    usage: `[${name}...]`,
    description,
    read: (raw) => (Array.isArray(raw) ? raw.filter(isText) : []),
  }),
};

/** Options; the key an option is declared under must be commander's name for it (--dry-run: dryRun). */
export const option = {
  flag: (flags: string, description: string): OptionParam<boolean> => ({ flags, description, read: (raw) => raw === true }),
  value: (flags: string, description: string): OptionParam<string | undefined> => ({ flags, description, read: (raw) => (isText(raw) ? raw : undefined) }),
  withDefault: (flags: string, description: string, defaultValue: string): OptionParam<string> => ({
    flags,
    description,
    defaultValue,
    read: (raw) => (isText(raw) ? raw : defaultValue),
  }),
};

type Args = Record<string, ArgParam<unknown>>;
type Options = Record<string, OptionParam<unknown>>;
type Values<P> = { [K in keyof P]: P[K] extends Param<infer T> ? T : never };
type NoParams = Record<never, never>;

/**
 * The exit codes a command can end with, declared once: rendered into its --help, and checked
 * against what it does by test/cli/exit-codes.test.ts.
 */
export interface ExitCodes {
  /** Which shared codes (0 ok, 1 operational, 2 usage) the command can end with; default all three. */
  shared?: readonly number[];
  /** Codes this command gives another meaning, or adds (offload --strict: 3). */
  meanings?: Record<number, string>;
  /** More cases of a shared code, appended to its meaning. */
  also?: Record<number, string>;
  /** A closing note, such as another convention under a flag. */
  note?: string;
}

const SHARED_EXIT_CODES: Record<number, string> = {
  [EXIT_OK]: 'ok (a refusal to offload is a normal outcome)',
  [EXIT_OPERATIONAL]: 'operational error (I/O, destination, busy volume, failed verification)',
  [EXIT_USAGE]: 'usage or configuration error',
};

/** Wrap a help line at a terminal's width, continuing under the meaning's first column. */
function wrap(line: string, indent: string, width = 92): string[] {
  const lines: string[] = [];
  let rest = line;
  while (rest.length > width) {
    const cut = rest.lastIndexOf(' ', width);
    if (cut <= indent.length) break;
    lines.push(rest.slice(0, cut));
    rest = indent + rest.slice(cut + 1);
  }
  return [...lines, rest];
}

/** The exit-code section of a help text. */
export function exitCodesSection(codes: ExitCodes = {}): string {
  const shared = Object.entries(SHARED_EXIT_CODES).filter(([code]) => (codes.shared ?? [EXIT_OK, EXIT_OPERATIONAL, EXIT_USAGE]).includes(Number(code)));
  const meanings = new Map([...shared, ...Object.entries(codes.meanings ?? {})].map(([code, meaning]) => [Number(code), meaning]));
  for (const [code, more] of Object.entries(codes.also ?? {})) meanings.set(Number(code), `${meanings.get(Number(code))}; also ${more}`);
  const lines = [...meanings].sort(([a], [b]) => a - b).flatMap(([code, meaning]) => wrap(`  ${code}  ${meaning}`, '     '));
  return ['Exit codes:', ...lines, ...(codes.note ? ['', codes.note] : [])].join('\n');
}

/** The help every command and the program end with when they add nothing of their own. */
export const EXIT_CODES_HELP = `\n${exitCodesSection()}`;

export interface CommandSpec<A extends Args, O extends Options> {
  name: string;
  description: string;
  args?: A;
  options?: O;
  /** Text shown in --help before the exit codes. */
  help?: string;
  exitCodes?: ExitCodes;
  action: CommandAction<Values<A> & Values<O>>;
}

/** A declared command, attached to the program by main.ts. */
export interface CommandDefinition {
  readonly name: string;
  /** A group's subcommands, by name (`config` has `check`). */
  readonly subcommands?: readonly string[];
  attach(parent: Command, run: Run): Command;
}

function helpText(help: string | undefined, codes: ExitCodes | undefined): string {
  return `\n${[help, exitCodesSection(codes)].filter((section) => section !== undefined).join('\n\n')}`;
}

function commanderOption(key: string, param: OptionParam<unknown>): Option {
  const declared = new Option(param.flags, param.description);
  if (param.defaultValue !== undefined) declared.default(param.defaultValue);
  if (declared.attributeName() !== key) throw new Error(`option ${param.flags} is declared as '${key}', but commander names it '${declared.attributeName()}'`);
  return declared;
}

/** Each declared key, read from its raw value: arguments by position, options by name. */
function readInput<A extends Args, O extends Options>(spec: CommandSpec<A, O>, command: Command): Values<A> & Values<O> {
  const values: Record<string, unknown> = {};
  Object.entries(spec.args ?? {}).forEach(([key, param], position) => (values[key] = param.read(command.processedArgs[position])));
  const raw: Record<string, unknown> = command.opts();
  for (const [key, param] of Object.entries(spec.options ?? {})) values[key] = param.read(raw[key]);
  // Every key of A and O was just set by its own param's read(); TypeScript cannot follow a
  // loop over keys into a mapped type, so this is the one place the input's type is asserted.
  return values as Values<A> & Values<O>;
}

export function defineCommand<A extends Args = NoParams, O extends Options = NoParams>(spec: CommandSpec<A, O>): CommandDefinition {
  return {
    name: spec.name,
    attach(parent, run) {
      const command = parent.command(spec.name).description(spec.description);
      for (const param of Object.values(spec.args ?? {})) command.argument(param.usage, param.description);
      for (const [key, param] of Object.entries(spec.options ?? {})) command.addOption(commanderOption(key, param));
      command.addHelpText('after', helpText(spec.help, spec.exitCodes));
      command.action(async function (this: Command) {
        await run(this, (ctx) => spec.action(ctx, readInput(spec, this)));
      });
      return command;
    },
  };
}

/** A command that only groups subcommands (`squirrel config check`). */
export function defineGroup(spec: { name: string; description: string; commands: CommandDefinition[] }): CommandDefinition {
  return {
    name: spec.name,
    subcommands: spec.commands.map((c) => c.name),
    attach(parent, run) {
      // Run without a subcommand it shows its help and exits 2; it never does work of its own.
      const group = parent.command(spec.name).description(spec.description).addHelpText('after', `\n${exitCodesSection({ shared: [EXIT_OK, EXIT_USAGE] })}`);
      for (const sub of spec.commands) sub.attach(group, run);
      return group;
    },
  };
}
