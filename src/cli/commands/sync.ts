// `squirrel sync [<volume>] [--to DEST] [--dry-run] [--init]`: push, read back, record evidence.
// A destination that fails is reported in its own result; the others still run.

import { arg, defineCommand, option } from '../command.js';
import { resolveTargets } from '../targets.js';
import { emptyPushResult, pushVolume, PushResult } from '../../core/push.js';
import { errorMessage, EXIT_OK, EXIT_OPERATIONAL, OperationalError, SquirrelError } from '../../errors.js';
import { DestinationConfig } from '../../config/types.js';
import { unmountedFstabMountPoint } from '../../mount-table.js';
import { pushLines } from '../render/evidence.js';
import { METHOD_READBACK } from '../../destinations/destination.js';

/** The --json document of sync. */
export interface SyncReport {
  results: PushResult[];
}

export const syncCommand = defineCommand({
  name: 'sync',
  description: 'push every present file to each destination, read it back, and record durability evidence',
  args: { volumeName: arg.optional('volume', 'volume to push (default: every volume)') },
  options: {
    to: option.value('--to <destination>', 'only this destination'),
    dryRun: option.flag('--dry-run', 'show what would be sent; change nothing'),
    init: option.flag('--init', 'first use of a destination: create its root and write its .squirrel-destination marker'),
  },
  action: async (ctx, { volumeName, to, dryRun, init }) => {
    const targets = resolveTargets(ctx, volumeName, to);
    const store = ctx.store();
    const results: PushResult[] = [];
    let exitCode = EXIT_OK;
    for (const target of targets) {
      const destination = ctx.destination(target.destination);
      try {
        if (init) refuseUnmountedDrive(ctx.config().destinations.get(target.destination)!);
        results.push(
          await pushVolume(store, {
            volume: target.volume,
            destination,
            node: ctx.config().node,
            init,
            dryRun,
            clock: ctx.deps.clock,
            nowNs: ctx.nowNs,
            identity: ctx.identity(),
            reporter: ctx.reporter,
            hooks: ctx.deps.hooks,
          }),
        );
      } catch (err) {
        if (!(err instanceof SquirrelError)) throw err;
        // A place that is not this volume's (exit 2) outranks an operational failure (exit 1).
        exitCode = Math.max(exitCode, err.exitCode);
        results.push(emptyPushResult(target.volume.name, target.destination, 'failed', errorMessage(err)));
      }
    }
    const report: SyncReport = { results };
    const done = results.filter((r) => r.runId !== null && r.status !== 'dry-run');
    // Nothing sent, moved, refused or cleared and no evidence advanced: only times moved.
    const material = done.some((r) => r.status !== 'success' || r.sentFiles + r.movedAsideFiles + r.refused.length + r.clearedFindings > 0 || r.vector.some((v) => v.outcome === 'created' || v.outcome === 'advanced'));
    const catalogs = await ctx.publishCatalog(done.map((r) => r.destination), { material });
    await ctx.publishAttestations(
      done.filter((r) => r.status === 'success').map((r) => ({ volume: ctx.volume(r.volume), destination: r.destination, runId: r.runId!, method: METHOD_READBACK, checked: r.sentFiles + r.alreadyThereFiles, ok: r.sentFiles + r.alreadyThereFiles })),
      catalogs,
    );
    ctx.emit(report, () => results.flatMap((r) => pushLines(r, ctx.nowNs)));
    if (!results.every((r) => r.status === 'success' || r.status === 'dry-run')) exitCode = Math.max(exitCode, EXIT_OPERATIONAL);
    return exitCode;
  },
});

/** `--init` on an fstab mount point with nothing mounted would mark the disk below it as the drive. */
function refuseUnmountedDrive(destination: DestinationConfig): void {
  if (destination.type !== 'local') return;
  const mountPoint = unmountedFstabMountPoint(destination.path);
  if (mountPoint === null) return;
  throw new OperationalError(
    `destination '${destination.name}' (${destination.path}) is on ${mountPoint}, a mount point in /etc/fstab with nothing mounted: a backup there would land on the disk below it. Mount the drive, then run sync --init again`,
    'destination-not-mounted',
  );
}
