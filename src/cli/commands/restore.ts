// `squirrel restore <volume> [path...] [--from DEST] [--to DIR] [--dry-run]`.

import { Command } from 'commander';
import path from 'node:path';
import { EXIT_CODES_HELP, Run } from '../main.js';
import { CommandContext } from '../context.js';
import { parseSelectors, selects } from '../../core/offload/plan.js';
import { restoreFiles } from '../../core/restore.js';
import { EXIT_OK, EXIT_OPERATIONAL, UsageError } from '../../errors.js';

export function registerRestore(program: Command, run: Run): void {
  program
    .command('restore')
    .argument('<volume>', 'volume')
    .argument('[paths...]', "volume-relative paths or prefixes; '.' for everything offloaded or missing")
    .description('bring offloaded (or missing) files back from a destination, BLAKE3-checked, never clobbering')
    .option('--from <destination>', 'take the bytes from this destination (default: the first in sync_to that has them)')
    .option('--to <dir>', 'restore under this directory instead of the volume (the index is left as it is)')
    .option('--dry-run', 'show what would be restored and from where; change nothing')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (ctx: CommandContext, volumeName, paths, opts) => {
        const o = opts as { from?: string; to?: string; dryRun?: boolean };
        const selectors = parseSelectors(paths as string[]);
        const volume = ctx.volume(volumeName as string);
        const names = o.from === undefined ? volume.syncTo : [o.from];
        if (o.from !== undefined && !volume.syncTo.includes(o.from)) {
          throw new UsageError(`--from ${o.from}: volume '${volume.name}' does not sync to it (sync_to: ${volume.syncTo.join(', ')})`);
        }
        const result = await restoreFiles(ctx.store(), {
          volume,
          matches: (p) => selectors.some((s) => selects(s.path, p)),
          sources: names.map((name) => ctx.destination(name)),
          toDir: o.to === undefined ? null : path.resolve(o.to),
          dryRun: o.dryRun === true,
          nowNs: ctx.nowNs,
          identity: ctx.identity(),
          reporter: ctx.reporter,
          hooks: ctx.deps.hooks,
        });
        ctx.emit(result, () => {
          if (result.status === 'nothing-to-do') return ['nothing to restore: no offloaded or missing file matches'];
          const verb = result.status === 'dry-run' ? 'would restore' : 'restored';
          const lines = result.restored.map((r) => `${verb} ${r.path} from ${r.from}${r.movedAside ? ` (the different file there was moved to ${r.movedAside})` : ''}`);
          for (const f of result.failures) lines.push(`failed ${f.path}: ${f.reason}`);
          lines.push(`restored=${result.status === 'dry-run' ? 0 : result.restored.length} failed=${result.failures.length} run=${result.runId ?? '-'}`);
          return lines;
        });
        return result.failures.length > 0 ? EXIT_OPERATIONAL : EXIT_OK;
      }),
    );
}
