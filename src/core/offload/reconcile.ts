// Crash recovery for offload. An intent is committed before its unlink and closed after the
// row is marked offloaded. An intent still open at the start of a command means the process
// died in between: the file's presence on disk, not a guess, decides what happened. An
// unmounted volume decides nothing (every file looks gone): the intent waits for it.

import fs from 'node:fs';
import { resolveInside, VOLUME_MARKER } from '../../paths.js';
import { Store } from '../../store/store.js';
import { readMarker } from '../index/volume-root.js';
import { lstatOrNull, offloadAsidePath, putBack } from '../fs-safety.js';
import { errnoCode, errnoOrMessage } from '../../errors.js';

export function reconcileOpenIntents(store: Store, nowNs: bigint): string[] {
  const outcomes: string[] = [];
  for (const intent of store.intents.listOpen()) {
    const row = store.files.file(intent.fileId);
    const volume = store.volumeById(intent.volumeId);
    if (!row || !volume) {
      store.immediate(() => store.intents.closeIntent(intent.id, 'dropped', nowNs, 'file or volume row vanished'));
      continue;
    }
    const volumeRoot = volume.rootPath;
    if (markedVolume(volumeRoot) !== volume.name) {
      outcomes.push(
        `offload intent ${intent.id} for '${intent.path}' left open: ${volumeRoot} has no ${VOLUME_MARKER} marker for volume '${volume.name}' ` +
          `right now (is the drive mounted?); it is settled by the first command that runs with the volume mounted`,
      );
      continue;
    }
    let exists: boolean;
    const absolute = resolveInside(volumeRoot, intent.path);
    // Died between the rename to the private name and the unlink: whether the last look passed is
    // unknown, so the file gets its name back (never over another file) and stays.
    const aside = offloadAsidePath(absolute, intent.id);
    if (lstatOrNull(aside) && !lstatOrNull(absolute) && !putBack(aside, absolute)) {
      outcomes.push(`offload intent ${intent.id} for '${intent.path}' left open: its file waits at ${aside} and could not get its name back; move it back by hand`);
      continue;
    }
    try {
      fs.lstatSync(absolute);
      exists = true;
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        outcomes.push(`offload intent ${intent.id} for '${intent.path}' left open: cannot check the disk (${errnoOrMessage(err)})`);
        continue;
      }
      exists = false;
    }
    store.immediate(() => {
      if (!exists) {
        if (row.status === 'present') store.files.setStatus(row.id, 'offloaded', intent.runId);
        store.intents.closeIntent(intent.id, 'done', nowNs, 'reconciled: file gone after intent');
      } else {
        store.intents.closeIntent(intent.id, 'dropped', nowNs, 'reconciled: file still on disk');
      }
    });
    outcomes.push(`reconciled an interrupted offload of '${intent.path}' (run ${intent.runId}): ${exists ? 'file still on disk, nothing deleted' : 'file was removed; marked offloaded'}`);
  }
  return outcomes;
}

function markedVolume(root: string): string | null {
  try {
    return readMarker(root)?.volume ?? null;
  } catch {
    return null;
  }
}
