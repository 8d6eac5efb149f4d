// `squirrel restore <volume> [path...] [--from DEST] [--to DIR] [--dry-run]`: bring offloaded
// or missing files back from a destination the volume syncs to, hash-checked, never clobbering.

import path from 'node:path';
import { arg, defineCommand, option } from '../command.js';
import { parseSelectors, selects } from '../../core/selectors.js';
import { restoreFiles } from '../../core/restore.js';
import { EXIT_OK, EXIT_OPERATIONAL, UsageError } from '../../errors.js';

export const restoreCommand = defineCommand({
  name: 'restore',
  description: 'bring offloaded (or missing) files back from a destination, BLAKE3-checked, never clobbering',
  args: {
    volumeName: arg.required('volume', 'volume'),
    paths: arg.variadic('paths', "volume-relative paths or prefixes; '.' for everything offloaded or missing"),
  },
  options: {
    from: option.value('--from <destination>', 'take the bytes from this destination (default: the first in sync_to that has them)'),
    to: option.value('--to <dir>', 'restore under this directory instead of the volume (the index is left as it is); also brings back an offloaded file whose path now holds a new file'),
    dryRun: option.flag('--dry-run', 'show what would be restored and from where; change nothing'),
  },
  action: async (ctx, { volumeName, paths, from, to, dryRun }) => {
    const selectors = parseSelectors(paths);
    const volume = ctx.volume(volumeName);
    const names = from === undefined ? volume.syncTo : [from];
    if (from !== undefined && !volume.syncTo.includes(from)) {
      throw new UsageError(`--from ${from}: volume '${volume.name}' does not sync to it (sync_to: ${volume.syncTo.join(', ')})`);
    }
    const result = await restoreFiles(ctx.store(), {
      volume,
      matches: (p) => selectors.some((s) => selects(s.path, p)),
      sources: names.map((name) => ctx.destination(name)),
      node: ctx.config().node,
      toDir: to === undefined ? null : path.resolve(to),
      dryRun,
      ...ctx.runContext(),
    });
    if (result.runId !== null) await ctx.publishCatalog(names, { material: result.restored.length > 0 });
    ctx.emit(result, () => {
      const replaced = result.replaced.map(
        (r) => `${r.path}: the offloaded version was replaced by a new file (indexed in run ${r.replacedInRunId}); bring it back beside it: squirrel restore ${volume.name} ${r.path} --to DIR`,
      );
      if (result.status === 'nothing-to-do') return [...replaced, `nothing to restore${replaced.length > 0 ? ' into the volume' : ''}: no offloaded or missing file matches`];
      const verb = result.status === 'dry-run' ? 'would restore' : 'restored';
      const lines = result.restored.map(
        (r) => `${verb} ${r.path}${r.offloadedVersion ? ' (the offloaded version)' : ''} from ${r.from}${r.movedAside ? ` (the different file there was moved to ${r.movedAside})` : ''}`,
      );
      lines.unshift(...replaced);
      for (const f of result.failures) lines.push(`failed ${f.path}: ${f.reason}`);
      lines.push(`restored=${result.status === 'dry-run' ? 0 : result.restored.length} failed=${result.failures.length} run=${result.runId ?? '-'}`);
      return lines;
    });
    return result.failures.length > 0 ? EXIT_OPERATIONAL : EXIT_OK;
  },
});
