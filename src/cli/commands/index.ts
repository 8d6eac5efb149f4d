// `squirrel index <volume> [--shallow] [--dry-run] [--restore-marker] [--new-index]`: walk,
// hash (BLAKE3, all cores) and update the index incrementally.

import fs from 'node:fs';
import { arg, defineCommand, option } from '../command.js';
import { VolumeConfig } from '../../config/types.js';
import { indexVolume, IndexResult } from '../../core/index/index.js';
import { readMarker } from '../../core/index/volume-root.js';
import { EXIT_OK, EXIT_OPERATIONAL, UsageError } from '../../errors.js';
import { formatBytes } from '../render/format.js';

const HELP = `What index does:
  New content at a path supersedes the old row; the same content re-seen is touched; bytes
  back at a missing or offloaded path make it present again. Rows not seen become missing
  only after a complete walk without errors (offloaded rows stay offloaded). Symlinks are
  never followed; other non-regular files, .squirrel-* names (counted) and what the volume's
  exclude: patterns match are skipped; present rows a pattern now matches become missing. The
  volume root gets a .squirrel-volume marker naming this index, so a swapped or unmounted
  directory, an older copy of the volume, or a volume another index owns is recognised and refused.`;

export function indexSummary(result: IndexResult): string {
  const c = result.counts;
  return `new=${c.new} changed=${c.changed} unchanged=${c.unchanged} reappeared=${c.reappeared} missing=${c.missing} errors=${c.errors} run=${result.runId ?? '-'}`;
}

function lines(result: IndexResult): string[] {
  const c = result.counts;
  const out: string[] = [];
  if (result.markerWritten) out.push(`wrote the volume marker ${result.root}/.squirrel-volume`);
  const skipped = [
    c.skippedSymlinks > 0 ? `${c.skippedSymlinks} symlinks` : '',
    c.skippedOther > 0 ? `${c.skippedOther} other non-regular files` : '',
    c.excluded > 0 ? `${c.excluded} excluded by patterns` : '',
    c.skippedReserved > 0 ? `${c.skippedReserved} reserved .squirrel-* names` : '',
  ].filter(Boolean);
  out.push(
    `${result.dryRun ? 'would index' : 'indexed'} ${result.volume} (${result.root}): hashed ${c.hashedFiles} files, ${formatBytes(c.hashedBytes)}` +
      (skipped.length > 0 ? `; skipped ${skipped.join(', ')}` : ''),
  );
  if (c.newlyExcluded > 0) {
    out.push(`${c.newlyExcluded} indexed file(s) now match volumes.${result.volume}.exclude: ${result.dryRun ? 'they would be' : 'marked'} missing, no longer backed up (nothing deleted; their copies stay)`);
  }
  if (result.reservedSkipped.length > 0) {
    out.push(`not indexed, names reserved for squirrel (rename a file of yours so named to back it up): ${result.reservedSkipped.slice(0, 3).join(', ')}${c.skippedReserved > 3 ? ', ...' : ''}`);
  }
  if (result.missingSkippedReason) out.push(result.missingSkippedReason);
  if (result.status === 'partial') out.push(`run ${result.runId} is partial: fix the errors above and index again`);
  out.push(result.dryRun ? `dry run, nothing written: ${indexSummary(result)}` : indexSummary(result));
  return out;
}

function refuseLostIndex(volume: VolumeConfig, dbPath: string): void {
  let marker;
  try {
    marker = readMarker(volume.path);
  } catch {
    return; // an unreadable marker is the volume check's to report
  }
  if (!marker || marker.volume !== volume.name) return; // another volume's marker: the volume check says so
  throw new UsageError(
    `there is no database at ${dbPath}, but ${volume.path} was indexed before (its .squirrel-volume marker names index ${marker.index ?? 'of an older squirrel'}, node '${marker.node}'); nothing was changed. ` +
      `If this machine's index was lost, \`squirrel recover --from <destination>\` brings it back from a destination's catalog. ` +
      `To start over deliberately (the new index knows nothing of what was offloaded), run \`squirrel index ${volume.name} --new-index\`.`,
    'volume-owned-elsewhere',
  );
}

export const indexCommand = defineCommand({
  name: 'index',
  description: 'walk a volume, hash new and changed files (BLAKE3, all cores), update the index',
  args: { volumeName: arg.required('volume', 'volume name from the config') },
  options: {
    shallow: option.flag('--shallow', 'trust size and mtime of files indexed as present instead of re-hashing them'),
    dryRun: option.flag('--dry-run', 'walk and hash, report what would change, write nothing'),
    restoreMarker: option.flag('--restore-marker', 'write a lost .squirrel-volume marker again, or accept an older one (only once sure this directory is the volume)'),
    newIndex: option.flag('--new-index', 'start this index over a volume another index owned (it knows nothing of what that index offloaded)'),
  },
  help: HELP,
  exitCodes: { also: { 1: 'when some files could not be indexed: the run is partial and nothing is marked missing' } },
  action: async (ctx, { volumeName, shallow, dryRun, restoreMarker, newIndex }) => {
    const volume = ctx.volume(volumeName);
    const dbPath = ctx.dbPath();
    // No database yet, but the volume was indexed before: the index was lost (refused before an
    // empty database is created, so `recover` can still put the old one in place).
    if (!fs.existsSync(dbPath) && !newIndex) refuseLostIndex(volume, dbPath);
    // A dry run before the first index creates no database.
    const store = dryRun && !fs.existsSync(dbPath) ? null : ctx.store({ create: true });
    const result = await indexVolume(
      {
        volume,
        shallow,
        dryRun,
        restoreMarker,
        newIndex,
        excludeAbsolutePaths: ['', '-wal', '-shm', '-journal', '.key'].map((suffix) => dbPath + suffix),
      },
      {
        store,
        identity: () => ctx.identity(),
        nodeName: ctx.config().node,
        nowNs: ctx.nowNs,
        clock: ctx.deps.clock,
        reporter: ctx.reporter,
        hooks: ctx.deps.hooks,
      },
    );
    ctx.emit(result, () => lines(result));
    return result.counts.errors > 0 ? EXIT_OPERATIONAL : EXIT_OK;
  },
});
