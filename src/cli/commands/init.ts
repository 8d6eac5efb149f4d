// `squirrel init [--path DIR]`: write a starter config (never over an existing one) and
// create its database. Both are private to the user (mode 0600): the index names every file.

import fs from 'node:fs';
import path from 'node:path';
import { defineCommand, option } from '../command.js';
import { defaultNodeName } from '../../config/validate.js';
import { errorWithPath, OperationalError, UsageError } from '../../errors.js';
import { makeDirectories } from '../../mkdirs.js';
import { Store } from '../../store/store.js';

/** A config that validates as written, with the keys a user fills in next shown as comments. */
export function starterConfig(node: string, dbPath: string | null): string {
  const db = dbPath === null ? '# db: ~/.squirrel/index.db        # default: index.db next to this file' : `db: ${JSON.stringify(dbPath)}`;
  return `# squirrel configuration. Every key is described in config.example.yaml, shipped with
# squirrel. Check your edits with \`squirrel config check\`.
node: ${node}
${db}

# Where copies go. Replace {} with your destinations, for example:
#   destinations:
#     nas:
#       type: local                   # a directory: external drive or mounted NAS
#       path: /mnt/nas/squirrel
destinations: {}

# The trees squirrel indexes, backs up and can offload. Replace {} with, for example:
#   volumes:
#     pictures:
#       path: ~/Pictures
#       sync_to: [nas]
#       offload_requires: [nas]       # without it, offload refuses for this volume
#       offload_max_evidence_age: 30d # optional
volumes: {}
`;
}

export const initCommand = defineCommand({
  name: 'init',
  description: 'write a starter config and create the database',
  options: { path: option.value('--path <dir>', 'directory for config.yaml and index.db (default: the --config location)') },
  action: (ctx, { path: dir }) => {
    const configPath = dir ? path.resolve(dir, 'config.yaml') : ctx.configPath();
    const refuse = () =>
      new UsageError(`${configPath} already exists; squirrel init never overwrites a config. Edit it, or pass --path DIR for a new one.`, 'init-exists');
    if (fs.existsSync(configPath)) throw refuse();
    // An explicit --db is written into the config, so later commands find the same database.
    const explicitDb = ctx.globals.db ? path.resolve(ctx.globals.db) : null;
    const dbPath = explicitDb ?? path.join(path.dirname(configPath), 'index.db');
    const dbExisted = fs.existsSync(dbPath);

    // The database first: if it cannot be used (another program's file, a newer squirrel),
    // no config is left behind pointing at it.
    Store.open(dbPath, { create: true }).close();
    try {
      makeDirectories(path.dirname(configPath), 0o700);
      fs.writeFileSync(configPath, starterConfig(defaultNodeName(ctx.deps.host), explicitDb), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw refuse();
      throw new OperationalError(`cannot write the config ${configPath}: ${errorWithPath(err)}`, 'init-write');
    }

    ctx.emit({ config: configPath, db: dbPath, dbExisted }, () => [
      `wrote ${configPath}`,
      dbExisted ? `using the existing database ${dbPath}` : `created ${dbPath}`,
      `next: add destinations and volumes to the config, then \`squirrel --config ${configPath} config check\``,
    ]);
  },
});
