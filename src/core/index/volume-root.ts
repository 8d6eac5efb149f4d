// Is this directory really the volume? The root must exist and be a directory (an unmounted
// drive must never look like a volume whose files all vanished), it must be the root the
// index was built at, and its `.squirrel-volume` marker must name this volume and this index
// (an index that lost its database never starts over silently; SPEC §8). The marker's
// generation, bumped by every index run, tells an older copy of the volume (a cloned or
// restored drive) from the volume itself. Commands that act on a volume's files (index,
// offload, restore) check this before any work.

import fs from 'node:fs';
import path from 'node:path';
import { VolumeConfig } from '../../config/types.js';
import { errnoCode, errnoOrMessage, errorMessage, OperationalError, UsageError } from '../../errors.js';
import { VOLUME_MARKER } from '../../paths.js';
import { Store } from '../../store/store.js';

export const MARKER_FORMAT = 2;

export interface VolumeMarker {
  format: number;
  volume: string;
  node: string;
  /** The index that owns the volume; null in a marker written before indexes had ids. */
  index: string | null;
  /** Bumped by every index run of the owning index; null in an older marker. */
  generation: number | null;
}

export interface VolumeRootCheck {
  /** The root as stat'ed at the check; compared again after a walk to catch an unmount. */
  rootStat: fs.BigIntStats;
  marker: VolumeMarker | null;
  /** Non-superseded rows the index holds for this volume; counted only when the marker is missing (else 0). */
  knownFiles: number;
}

export function markerPath(root: string): string {
  return path.join(root, VOLUME_MARKER);
}

/** The marker at root, null when there is none; an unreadable marker is refused. */
export function readMarker(root: string): VolumeMarker | null {
  let text: string;
  try {
    text = fs.readFileSync(markerPath(root), 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw new OperationalError(`cannot read ${markerPath(root)}: ${errorMessage(err)}; nothing was changed`, 'volume-marker-unreadable');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  const marker = parsed as Partial<VolumeMarker> | null;
  if (!marker || typeof marker !== 'object' || typeof marker.volume !== 'string') {
    throw new UsageError(
      `${markerPath(root)} is not a squirrel volume marker (expected JSON naming the volume); nothing was changed. ` +
        `Check that the config points at the right directory; if it does, remove the damaged marker and index again.`,
      'volume-marker-invalid',
    );
  }
  return {
    format: Number(marker.format ?? 1),
    volume: marker.volume,
    node: String(marker.node ?? ''),
    index: typeof marker.index === 'string' ? marker.index : null,
    generation: Number.isSafeInteger(marker.generation) ? (marker.generation as number) : null,
  };
}

/** Write the marker durably: temp file, fsync, rename, fsync the directory. */
export function writeMarker(root: string, marker: VolumeMarker): void {
  const target = markerPath(root);
  // The temp name is reserved too (`.squirrel-*`), so a walk never lists it.
  const temp = `${target}.tmp-${process.pid}`;
  try {
    const fd = fs.openSync(temp, 'w', 0o644);
    try {
      fs.writeSync(fd, `${JSON.stringify(marker, null, 2)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, target);
    const dirFd = fs.openSync(root, 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw new OperationalError(
      `cannot write the volume marker ${target}: ${errnoOrMessage(err)}. ` +
        `squirrel needs it to recognise this directory later; make the volume root writable and index again.`,
      'volume-marker-unwritable',
    );
  }
}

/**
 * Check the volume root before acting on it. Throws a typed error that says what to do; the
 * caller decides what to do about a missing marker only through `allowMissingMarker`.
 */
export interface VolumeRootOptions {
  /** index --restore-marker: write a lost marker again, and accept an older marker as the volume now. */
  allowMissingMarker: boolean;
  /** index --new-index: start this index over a volume another index owned (it re-owns the marker). */
  newIndex?: boolean;
}

export function checkVolumeRoot(store: Store | null, volume: VolumeConfig, options: VolumeRootOptions): VolumeRootCheck {
  const root = volume.path;
  let rootStat: fs.BigIntStats;
  try {
    rootStat = fs.statSync(root, { bigint: true });
  } catch (err) {
    throw new OperationalError(
      errnoCode(err) === 'ENOENT'
        ? `volume '${volume.name}': ${root} does not exist. Is the drive mounted? Nothing was changed.`
        : `volume '${volume.name}': cannot look at ${root}: ${errnoOrMessage(err)}. Nothing was changed.`,
      'volume-root-unavailable',
    );
  }
  if (!rootStat.isDirectory()) {
    throw new OperationalError(`volume '${volume.name}': ${root} is not a directory. Is the drive mounted? Nothing was changed.`, 'volume-root-unavailable');
  }

  const row = store?.volume(volume.name);
  if (row && path.resolve(row.rootPath) !== path.resolve(root)) {
    throw new UsageError(
      `volume '${volume.name}' was indexed at ${row.rootPath}, but the config now says ${root}; nothing was changed. ` +
        `If the files are still there, set volumes.${volume.name}.path back to ${row.rootPath}; ` +
        `a different directory needs a volume of its own name.`,
      'volume-root-changed',
    );
  }

  const marker = readMarker(root);
  if (marker && marker.volume !== volume.name) {
    throw new UsageError(
      `${root} belongs to volume '${marker.volume}' (its ${VOLUME_MARKER} marker says so), not '${volume.name}'; nothing was changed. ` +
        `Check volumes.${volume.name}.path in the config.`,
      'volume-marker-mismatch',
    );
  }

  if (marker && store && !options.newIndex) checkOwnership(store, volume, marker, row?.id ?? null, options.allowMissingMarker);

  // Counting a million rows costs a second: only the missing-marker refusal needs the number.
  const knownFiles = row && !marker ? store!.files.liveCount(row.id) : 0;
  if (!marker && knownFiles > 0 && !options.allowMissingMarker) {
    throw new OperationalError(
      `${root} has no ${VOLUME_MARKER} marker, but volume '${volume.name}' was indexed there before (${knownFiles} files known). ` +
        `Is the drive mounted? Nothing was changed. If this is the right directory and only the marker was lost, ` +
        `run \`squirrel index ${volume.name} --restore-marker\`.`,
      'volume-marker-missing',
    );
  }
  return { rootStat, marker, knownFiles };
}

/**
 * The marker must name this index, and not be older than the last one this index wrote (nor
 * more than one write ahead: another copy of this index wrote it). Throws UsageError (exit 2).
 */
function checkOwnership(store: Store, volume: VolumeConfig, marker: VolumeMarker, volumeId: number | null, acceptOlder: boolean): void {
  const mine = store.catalog.indexId();
  if (marker.index !== mine && (marker.index !== null || volumeId === null)) {
    throw new UsageError(
      `${volume.path} is indexed by another squirrel index (${marker.index ?? 'one from an older squirrel'}, node '${marker.node}'), not by this one (${mine} at the database in use); nothing was changed. ` +
        `If this machine's index was lost, \`squirrel recover --from <destination>\` brings it back from a destination's catalog, then \`squirrel restore ${volume.name} .\` brings back offloaded files. ` +
        `To start over deliberately (the new index knows nothing of what was offloaded), run \`squirrel index ${volume.name} --new-index\`.`,
      'volume-owned-elsewhere',
    );
  }
  if (volumeId === null || marker.generation === null || acceptOlder) return;
  const known = store.catalog.markerGeneration(volumeId);
  if (known === 0) return;
  if (marker.generation < known) {
    throw new UsageError(
      `${volume.path} holds an older copy of volume '${volume.name}': its marker is at generation ${marker.generation}, and this index last wrote ${known} ` +
        `(a cloned or restored drive mounted where the volume belongs?); nothing was changed, so old bytes never supersede newer ones. ` +
        `Mount the current drive; if this really is the volume now, run \`squirrel index ${volume.name} --restore-marker\`.`,
      'volume-older-copy',
    );
  }
  if (marker.generation > known + 1) {
    throw new UsageError(
      `${volume.path}: its marker is at generation ${marker.generation}, ahead of the ${known} this index last wrote: another copy of this index (a copied database) indexes it too; ` +
        `nothing was changed. Use one index per volume; if this index is the one to keep, run \`squirrel index ${volume.name} --restore-marker\`.`,
      'volume-diverged',
    );
  }
}
