// `squirrel recover --from DEST [--node N] [--snapshot ID] [--dry-run]`: rebuild a lost index
// from the catalog a destination carries. Never over an existing database; a damaged newest
// snapshot falls back to the next older one, saying so.

import { defineCommand, option } from '../command.js';
import { recoverIndex, RecoverResult } from '../../core/recover.js';
import { UsageError } from '../../errors.js';
import { formatBytes } from '../render/format.js';

const HELP = `After a lost database (a dead disk, a stolen laptop, an rm):
  squirrel recover --from nas        install the newest intact snapshot of this node's index
  squirrel restore <volume> .        bring every offloaded file back, BLAKE3-checked
Runs after the snapshot are unknown to it: \`squirrel index <volume>\` marks files that were
offloaded since as missing, and restore brings those back too.`;

export const recoverCommand = defineCommand({
  name: 'recover',
  description: "rebuild a lost index from the catalog a destination carries (never over an existing database)",
  options: {
    from: option.value('--from <destination>', 'the destination whose catalog to use (required)'),
    node: option.value('--node <name>', "whose index (default: this config's node)"),
    snapshot: option.value('--snapshot <id>', 'a snapshot name, or the run it covers (default: the newest intact one)'),
    dryRun: option.flag('--dry-run', 'list the snapshots and check the one that would be installed; install nothing'),
  },
  help: HELP,
  exitCodes: { also: { 1: 'when no intact snapshot was found (each damaged one is named)', 2: 'when a database already exists at the config\'s db path, another destination holds a newer snapshot of this index, or two indexes publish as this node there' } },
  action: async (ctx, { from, node, snapshot, dryRun }) => {
    const config = ctx.config();
    if (from === undefined) throw new UsageError(`recover needs --from <destination>; destinations: ${[...config.destinations.keys()].join(', ') || '(none)'}`);
    if (!config.destinations.has(from)) throw new UsageError(`--from ${from}: no such destination in ${config.source}; destinations: ${[...config.destinations.keys()].join(', ') || '(none)'}`);
    const result = await recoverIndex({
      destination: ctx.destination(from),
      node: node ?? config.node,
      snapshot: snapshot ?? null,
      dryRun,
      dbPath: ctx.dbPath(),
      others: [...config.destinations.keys()].filter((name) => name !== from).map((name) => ctx.destination(name)),
      nowNs: ctx.nowNs,
      reporter: ctx.reporter,
    });
    ctx.emit(result, () => lines(result));
  },
});

function lines(r: RecoverResult): string[] {
  const out = r.snapshots.map((s) => `${s.name === r.installed ? '*' : ' '} ${s.name} (covers run ${s.coversRunId}, ${s.indexId === null ? '' : `index ${s.indexId}, `}${formatBytes(s.sizeBytes)})`);
  for (const d of r.damaged) out.push(`damaged: ${d.name}: ${d.reason}`);
  out.push(
    r.dryRun
      ? `dry run: would install ${r.installed} at ${r.dbPath}; nothing was written`
      : `recovered node '${r.node}' from '${r.destination}': installed ${r.installed} at ${r.dbPath}. Next: \`squirrel index <volume>\` (add --restore-marker where the volume's folder is new or empty), then \`squirrel restore <volume> .\``,
  );
  return out;
}
