// A volume's `exclude:` patterns applied to rows the index already holds. A file a new pattern
// matches leaves the backup set: its present row becomes `missing` (index no longer sees it),
// so sync stops pushing it and offload never considers it. Nothing is deleted anywhere: the
// local file stays, copies at destinations stay, offloaded rows stay offloaded (restorable),
// and removing the pattern makes the next index find the file present again.

import { excludeMatcher } from '../config/exclude.js';
import type { VolumeConfig } from '../config/types.js';
import type { Store } from '../store/store.js';

/** Present rows of the volume whose path its patterns exclude: id and path. */
export function excludedPresentRows(store: Store, volumeId: number, volume: VolumeConfig): { id: number; path: string }[] {
  if (volume.exclude.length === 0) return [];
  const excludes = excludeMatcher(volume.exclude);
  const rows: { id: number; path: string }[] = [];
  for (const row of store.files.iteratePresent(volumeId)) if (excludes(row.path)) rows.push({ id: row.id, path: row.path });
  return rows;
}

/** Mark them missing as of run `runId`; returns how many. Must run inside Store.immediate. */
export function retireExcluded(store: Store, volumeId: number, volume: VolumeConfig, runId: number): number {
  const rows = excludedPresentRows(store, volumeId, volume);
  for (const row of rows) store.files.setStatus(row.id, 'missing', runId);
  return rows.length;
}
