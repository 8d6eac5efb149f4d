// `squirrel completion bash|zsh|fish`: print a completion script generated from the command
// tree, with the volume and destination names of the config (none when there is no config).

import { arg, defineCommand } from '../command.js';
import { completionModel, completionScript, Shell, SHELLS } from '../completion.js';
import { ConfigError, EXIT_OK, EXIT_USAGE, UsageError } from '../../errors.js';

const HELP = `Load it from your shell's startup file, so it follows your config:
  bash:  eval "$(squirrel completion bash)"        (~/.bashrc)
  zsh:   eval "$(squirrel completion zsh)"         (~/.zshrc)
  fish:  squirrel completion fish | source         (~/.config/fish/config.fish)`;

export const completionCommand = defineCommand({
  name: 'completion',
  description: 'print a shell completion script (commands, options, volume and destination names)',
  args: { shell: arg.required('shell', SHELLS.join(', ')) },
  help: HELP,
  exitCodes: { shared: [EXIT_OK, EXIT_USAGE] },
  action: (ctx, { shell }) => {
    if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`completion: unknown shell '${shell}'; one of ${SHELLS.join(', ')}`);
    let names = { volumes: [] as string[], destinations: [] as string[] };
    try {
      const config = ctx.config();
      names = { volumes: [...config.volumes.keys()], destinations: [...config.destinations.keys()] };
    } catch (err) {
      // No config yet, or a broken one: commands and options still complete.
      if (!(err instanceof ConfigError) && !(err instanceof UsageError)) throw err;
    }
    ctx.deps.stdout.write(completionScript(shell as Shell, completionModel(ctx.program!, names)));
  },
});
