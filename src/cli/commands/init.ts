// `squirrel init [--path DIR]`: write a starter config (never over an existing one) and
// create its database.

import { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { EXIT_CODES_HELP, Run } from '../main.js';
import { CommandContext } from '../context.js';
import { UsageError } from '../../errors.js';
import { Store } from '../../store/store.js';

export function starterConfig(node: string): string {
  return `# squirrel configuration. See config.example.yaml in the squirrel repository for every key.
node: ${node}
# db: defaults to index.db next to this file

destinations: {}
  # nas:
  #   type: local
  #   path: /mnt/nas/squirrel

volumes: {}
  # pictures:
  #   path: ~/Pictures
  #   sync_to: [nas]
  #   offload_requires: [nas]
  #   offload_max_evidence_age: 30d
`;
}

export function registerInit(program: Command, run: Run): void {
  program
    .command('init')
    .description('write a starter config and create the database')
    .option('--path <dir>', 'directory for config.yaml and index.db (default: the --config location)')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run((ctx: CommandContext, opts) => {
        const { path: dir } = opts as { path?: string };
        const configPath = dir ? path.resolve(dir, 'config.yaml') : ctx.configPath();
        if (fs.existsSync(configPath)) {
          throw new UsageError(`${configPath} already exists; squirrel init never overwrites a config. Edit it, or pass --path DIR for a new one.`, 'init-exists');
        }
        fs.mkdirSync(path.dirname(configPath), { recursive: true, mode: 0o700 });
        const node = ctx.deps.host.toLowerCase().split('.')[0].replace(/[^a-z0-9_-]/g, '-').replace(/^[-_]+/, '') || 'node';
        fs.writeFileSync(configPath, starterConfig(node), { mode: 0o600, flag: 'wx' });
        const dbPath = ctx.globals.db ? path.resolve(ctx.globals.db) : path.join(path.dirname(configPath), 'index.db');
        Store.open(dbPath, { create: true }).close();
        ctx.emit({ config: configPath, db: dbPath }, () => [
          `wrote ${configPath}`,
          `created ${dbPath}`,
          `next: add destinations and volumes to the config, then \`squirrel --config ${configPath} config check\``,
        ]);
      }),
    );
}
