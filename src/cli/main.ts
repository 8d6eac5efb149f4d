// The command-line program. buildProgram(deps) assembles commander with every command and
// runs each body inside a fresh CommandContext; runCli is the ONE place that turns typed errors
// into exit codes: 0 ok, 1 operational error, 2 usage or configuration error, 3 offload
// --strict refusals. Only bin/squirrel and the tests import this module.

import { Command, CommanderError, Option } from 'commander';
import { createRequire } from 'node:module';
import { ConfigError, EXIT_OPERATIONAL, EXIT_USAGE, SquirrelError } from '../errors.js';
import { databaseFailure } from '../store/db.js';
import { EXIT_CODES_HELP, Run } from './command.js';
import { COMMANDS } from './commands/registry.js';
import { escapeControl } from './render/format.js';
import { CommandContext, Deps, defaultDeps, globalOptionsFrom, jsonReplacer } from './context.js';

const packageJson = createRequire(import.meta.url)('../../package.json') as { version: string };

export interface ProgramState {
  exitCode: number;
  debug: boolean;
}

export function buildProgram(deps: Deps, state: ProgramState = { exitCode: 0, debug: false }): Command {
  const program = new Command('squirrel')
    .description('Back up, verify, and offload files only when every required destination provably holds them.')
    .version(packageJson.version, '-V, --version')
    .addOption(new Option('--config <path>', 'config file (env SQUIRREL_CONFIG, default ~/.squirrel/config.yaml)'))
    .option('--db <path>', 'database file (default: the config\'s db, next to the config)')
    .option('--json', 'machine-readable output on stdout: one JSON document')
    .option('-q, --quiet', 'print nothing on success: only warnings, errors, and the result of a command that did not succeed')
    .option('--no-progress', 'no progress bars (they only show when stderr is a terminal)')
    .option('--debug', 'show stack traces for internal errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => deps.stdout.write(text),
      writeErr: (text) => deps.stderr.write(text),
    });
  program.addHelpText('after', EXIT_CODES_HELP);

  /** Every command body: context in, exit code out, store closed afterwards. */
  const run: Run = async (command, body) => {
    const globals = globalOptionsFrom(command.optsWithGlobals());
    state.debug = globals.debug === true;
    let program = command;
    while (program.parent) program = program.parent;
    const ctx = new CommandContext(deps, globals, program);
    try {
      const code = await body(ctx);
      state.exitCode = typeof code === 'number' ? code : 0;
      ctx.release(state.exitCode);
    } catch (err) {
      ctx.release(EXIT_OPERATIONAL);
      ctx.failOpenRuns(err);
      // A damaged, read-only or full database is the user's to fix, not an internal error.
      throw (ctx.hasStore ? databaseFailure(err, ctx.dbPath()) : null) ?? err;
    } finally {
      await ctx.close();
    }
  };

  for (const definition of COMMANDS) definition.attach(program, run);
  for (const command of program.commands) {
    command.exitOverride();
    command.configureOutput({
      writeOut: (text) => deps.stdout.write(text),
      writeErr: (text) => deps.stderr.write(text),
    });
    command.showHelpAfterError('(run with --help for usage)');
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}

export async function runCli(argv: string[], deps: Deps): Promise<number> {
  const state: ProgramState = { exitCode: 0, debug: argv.includes('--debug') };
  const program = buildProgram(deps, state);
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return state.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed help, the version or the complaint. Asked-for help is
      // exit 0; help shown because no command was given (`squirrel`, `squirrel config`) is a
      // usage error, like an unknown command or flag.
      if (err.exitCode === 0) return 0;
      if (json) {
        const message = err.code === 'commander.help' ? 'a command is required; run with --help for the list' : err.message.replace(/^error: /, '');
        deps.stdout.write(`${JSON.stringify({ error: { code: 'usage', message } }, null, 2)}\n`);
      }
      return EXIT_USAGE;
    }
    if (err instanceof SquirrelError) {
      // A message may quote a file name or a config key: shown with control characters escaped.
      const shown = err instanceof ConfigError ? [`invalid configuration in ${err.source}:`, ...err.problems.map((p) => `  ${p}`)] : [err.message];
      deps.stderr.write(`squirrel: ${shown.map(escapeControl).join('\n')}\n`);
      if (json) deps.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message } }, jsonReplacer, 2)}\n`);
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    deps.stderr.write(`squirrel: internal error — please report: ${escapeControl(message)}\n`);
    if (state.debug && err instanceof Error && err.stack) deps.stderr.write(`${err.stack}\n`);
    else deps.stderr.write('(run again with --debug for the stack trace)\n');
    if (json) deps.stdout.write(`${JSON.stringify({ error: { code: 'internal', message } }, null, 2)}\n`);
    return EXIT_OPERATIONAL;
  }
}

export async function main(argv: string[]): Promise<number> {
  // `squirrel runs | head` closes the pipe early. That must not crash the process, and above
  // all must not abort work in progress (an offload mid-way): later output is just dropped.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  return runCli(argv, defaultDeps());
}
