// Files restore moved aside: a different local file stood where it put offloaded bytes back,
// so that file went to `.squirrel-restore-history/run-<id>/` at the volume root. They are the
// user's own bytes: index walks that folder and sync backs them up like any file (they are
// never offloaded), and status says they are there until the user has looked at them.

import fs from 'node:fs';
import path from 'node:path';
import type { VolumeConfig } from '../config/types.js';
import { RESTORE_HISTORY_DIR } from '../paths.js';
import type { Store } from '../store/store.js';

export interface DisplacedFiles {
  folder: string;
  /** Present rows under the folder: indexed, so backed up by the next sync. */
  indexed: number;
  /** The folder holds something the index has not seen yet (restore ran after the last index). */
  notIndexedYet: boolean;
  reason: string;
}

/** What restore moved aside in this volume, or null when nothing is there. */
export function displacedFiles(store: Store, volume: VolumeConfig, volumeId: number | null): DisplacedFiles | null {
  const indexed = volumeId === null ? 0 : store.files.presentUnder(volumeId, RESTORE_HISTORY_DIR);
  let onDisk = false;
  try {
    onDisk = fs.readdirSync(path.join(volume.path, RESTORE_HISTORY_DIR)).length > 0;
  } catch {
    // no such folder (or an unmounted volume, which status reports on its own)
  }
  if (indexed === 0 && !onDisk) return null;
  const folder = `${volume.path}/${RESTORE_HISTORY_DIR}`;
  const notIndexedYet = onDisk && indexed === 0;
  const what = notIndexedYet ? `files restore moved aside are in ${folder}, not indexed yet (\`squirrel index ${volume.name}\` backs them up)` : `${indexed} file(s) restore moved aside are in ${folder} (backed up like any file)`;
  return { folder, indexed, notIndexedYet, reason: `${what}: look at them, then move each where it belongs or delete it` };
}
