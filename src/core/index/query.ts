// Looking things up in the index: a content by its BLAKE3 hash (where it sits in the volumes,
// its origin, and which destinations hold a copy according to the copy ledger), or a path's
// current row and, on request, every content it ever held.

import { blake3Hex } from '../../hash.js';
import { Store } from '../../store/store.js';
import { CopyState, FileStatus, FileWithContent } from '../../store/types.js';

export interface ContentSummary {
  blake3: string;
  sizeBytes: number;
  originNode: string;
  originRunId: number;
}

export interface FileSummary {
  volume: string;
  path: string;
  status: FileStatus;
  blake3: string;
  sizeBytes: number;
  mtimeNs: bigint;
  originNode: string;
  originRunId: number;
  firstSeenRunId: number;
  lastSeenRunId: number;
  statusChangedRunId: number;
}

export interface CopySummary {
  volume: string;
  destination: string;
  path: string;
  state: CopyState;
  pushedRunId: number;
  verifiedAtNs: bigint | null;
}

export interface ContentQueryResult {
  kind: 'content';
  found: boolean;
  content: ContentSummary | null;
  files: FileSummary[];
  copies: CopySummary[];
}

export interface PathQueryResult {
  kind: 'path';
  found: boolean;
  volume: string;
  path: string;
  /** The live (non-superseded) row, if any. */
  current: FileSummary | null;
  /** Every row the path had, oldest first; only with history. */
  history: FileSummary[] | null;
}

function volumeName(store: Store, volumeId: number): string {
  return store.volumeById(volumeId)?.name ?? `volume#${volumeId}`;
}

function summarize(store: Store, row: FileWithContent): FileSummary {
  return {
    volume: volumeName(store, row.volumeId),
    path: row.path,
    status: row.status,
    blake3: blake3Hex(row.blake3),
    sizeBytes: row.size,
    mtimeNs: row.mtimeNs,
    originNode: store.nodeName(row.originNodeId),
    originRunId: row.originRunId,
    firstSeenRunId: row.firstSeenRunId,
    lastSeenRunId: row.lastSeenRunId,
    statusChangedRunId: row.statusChangedRunId,
  };
}

export function queryContent(store: Store, blake3: Buffer): ContentQueryResult {
  const content = store.files.content(blake3);
  if (!content) return { kind: 'content', found: false, content: null, files: [], copies: [] };
  return {
    kind: 'content',
    found: true,
    content: { blake3: blake3Hex(content.blake3), sizeBytes: content.size, originNode: store.nodeName(content.originNodeId), originRunId: content.originRunId },
    files: store.files.withContent(content.id).map((row) => summarize(store, row)),
    copies: store.files.remoteCopiesOfContent(content.id).map((copy) => ({
      volume: volumeName(store, copy.volumeId),
      destination: copy.destination,
      path: copy.path,
      state: copy.state,
      pushedRunId: copy.pushedRunId,
      verifiedAtNs: copy.verifiedAtNs,
    })),
  };
}

/** A path of a volume; an unknown volume (never indexed) simply has no rows. */
export function queryPath(store: Store, volume: string, filePath: string, withHistory: boolean): PathQueryResult {
  const row = store.volume(volume);
  const live = row ? store.files.livePath(row.id, filePath) : undefined;
  const history = withHistory && row ? store.files.pathHistory(row.id, filePath).map((r) => summarize(store, r)) : null;
  return {
    kind: 'path',
    found: live !== undefined || (history?.length ?? 0) > 0,
    volume,
    path: filePath,
    current: live ? summarize(store, live) : null,
    history: withHistory ? (history ?? []) : null,
  };
}
