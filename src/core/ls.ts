// `ls`: a folder of a volume as squirrel sees it, from the index alone (nothing is read from
// the disk or a destination). One entry per direct child: a file with its state, size, and for
// each destination whether the copy ledger holds a verified copy of its bytes there and how
// long ago that copy was last verified; a subfolder summarised (files, bytes, offloaded share,
// and per destination how many of its files have a verified copy).

import { excludeMatcher } from '../config/exclude.js';
import type { VolumeConfig } from '../config/types.js';
import type { Store } from '../store/store.js';
import type { ListedRow } from '../store/listing.js';
import { DEFAULT_SKEW_TOLERANCE_NS } from './offload/policy.js';

/** What `ls` calls a file: its index status, or `excluded` for a row missing only because a pattern matches it. */
export type ListedState = 'present' | 'offloaded' | 'missing' | 'excluded';

export interface CopyAtDestination {
  /** verified: a sound copy of the bytes is there; lost: only copies found missing or corrupt; none: no copy recorded. */
  state: 'verified' | 'lost' | 'none';
  /** When a sound copy there was last verified; null when unknown (or no sound copy). */
  verifiedAtNs: bigint | null;
}

export interface ListedFile {
  kind: 'file';
  name: string;
  path: string;
  state: ListedState;
  sizeBytes: number;
  mtimeNs: bigint;
  copies: Record<string, CopyAtDestination>;
}

export interface FolderSummary {
  files: number;
  bytes: number;
  offloadedFiles: number;
  offloadedBytes: number;
  /** Per destination: files with a verified copy there. */
  verified: Record<string, number>;
}

export interface ListedFolder extends FolderSummary {
  kind: 'folder';
  name: string;
  path: string;
}

export interface Listing {
  volume: string;
  /** The folder listed ('' for the volume root), or the file. */
  path: string;
  found: boolean;
  destinations: string[];
  /** Over every listed file, at any depth. */
  summary: FolderSummary;
  entries: (ListedFile | ListedFolder)[];
}

export interface ListOptions {
  /** Only offloaded, or only present, files (folders then count only those). */
  only: 'offloaded' | 'present' | null;
  nowNs: bigint;
}

function emptySummary(destinations: readonly string[]): FolderSummary {
  return { files: 0, bytes: 0, offloadedFiles: 0, offloadedBytes: 0, verified: Object.fromEntries(destinations.map((d) => [d, 0])) };
}

function copiesOf(row: ListedRow, destinations: readonly string[], nowNs: bigint): Record<string, CopyAtDestination> {
  const copies: Record<string, CopyAtDestination> = {};
  destinations.forEach((name, i) => {
    const c = row.copies[i];
    // A stamp beyond now plus the skew tolerance was made by a clock that ran ahead: unknown.
    const verifiedAtNs = c.newestVerifiedAtNs !== null && c.newestVerifiedAtNs <= nowNs + DEFAULT_SKEW_TOLERANCE_NS ? c.newestVerifiedAtNs : null;
    copies[name] = c.okCopies > 0 ? { state: 'verified', verifiedAtNs } : { state: c.lostCopies > 0 ? 'lost' : 'none', verifiedAtNs: null };
  });
  return copies;
}

function count(summary: FolderSummary, file: ListedFile): void {
  summary.files++;
  summary.bytes += file.sizeBytes;
  if (file.state === 'offloaded') {
    summary.offloadedFiles++;
    summary.offloadedBytes += file.sizeBytes;
  }
  for (const [name, copy] of Object.entries(file.copies)) if (copy.state === 'verified') summary.verified[name]++;
}

/** List `folder` ('' for the root; a file's path lists that file) of an indexed volume. */
export function listFolder(store: Store, volume: VolumeConfig, folder: string, options: ListOptions): Listing {
  const destinations = [...volume.syncTo];
  const listing: Listing = { volume: volume.name, path: folder, found: false, destinations, summary: emptySummary(destinations), entries: [] };
  const volumeRow = store.volume(volume.name);
  if (!volumeRow) return listing;
  const excludes = excludeMatcher(volume.exclude);
  const stateOf = (row: ListedRow): ListedState => (row.status === 'missing' && excludes(row.path) ? 'excluded' : (row.status as ListedState));
  const wanted = (state: ListedState) => options.only === null || state === options.only;

  if (folder !== '') {
    for (const row of store.listing.iterate(volumeRow.id, { exactPath: folder }, destinations)) {
      listing.found = true;
      const file: ListedFile = { kind: 'file', name: folder.split('/').pop()!, path: row.path, state: stateOf(row), sizeBytes: row.sizeBytes, mtimeNs: row.mtimeNs, copies: copiesOf(row, destinations, options.nowNs) };
      if (wanted(file.state)) {
        listing.entries.push(file);
        count(listing.summary, file);
      }
    }
    if (listing.found) return listing;
  }

  const prefixLength = folder === '' ? 0 : folder.length + 1;
  const folders = new Map<string, ListedFolder>();
  for (const row of store.listing.iterate(volumeRow.id, { folder }, destinations)) {
    listing.found = true;
    const rest = row.path.slice(prefixLength);
    const slash = rest.indexOf('/');
    const file: ListedFile = { kind: 'file', name: rest, path: row.path, state: stateOf(row), sizeBytes: row.sizeBytes, mtimeNs: row.mtimeNs, copies: copiesOf(row, destinations, options.nowNs) };
    if (!wanted(file.state)) continue;
    count(listing.summary, file);
    if (slash === -1) {
      listing.entries.push(file);
      continue;
    }
    const name = rest.slice(0, slash);
    let sub = folders.get(name);
    if (!sub) {
      sub = { kind: 'folder', name, path: row.path.slice(0, prefixLength + slash), ...emptySummary(destinations) };
      folders.set(name, sub);
      listing.entries.push(sub);
    }
    count(sub, file);
  }
  // Folders first, then files, each in name order (rows come in path order already).
  listing.entries.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'folder' ? -1 : 1));
  return listing;
}
