// Domain rows as the store returns them. Nanosecond times are bigint; ids are numbers.

export type RunKind = 'index' | 'sync' | 'verify' | 'offload' | 'restore';
export type RunStatus = 'running' | 'success' | 'partial' | 'failed' | 'aborted';
export type FileStatus = 'present' | 'missing' | 'superseded' | 'offloaded';
export type CopyState = 'ok' | 'missing' | 'corrupt';

/** Kinds that hold the volume's single writer slot; verify does not. */
export const SLOT_KINDS: RunKind[] = ['index', 'sync', 'offload', 'restore'];

export interface RunRow {
  id: number;
  kind: RunKind;
  volumeId: number | null;
  volumeName: string | null;
  destination: string | null;
  status: RunStatus;
  startedAtNs: bigint;
  endedAtNs: bigint | null;
  pid: number;
  /** Identifies the process beyond its pid (which gets reused); null when unknown. */
  processStart: string | null;
  host: string;
  nodeId: number;
  counts: string;
  note: string | null;
}

export interface VolumeRow {
  id: number;
  name: string;
  rootPath: string;
  /** Random, written into every namespace the volume owns at a destination. */
  uid: string;
}

/** A path a sync refused to place at a destination, and why (current state, per sync). */
export interface NameRefusalRow {
  volumeId: number;
  destination: string;
  path: string;
  reason: string;
  detail: string;
  runId: number;
}

export interface ContentRow {
  id: number;
  blake3: Buffer;
  size: number;
  originNodeId: number;
  originRunId: number;
}

export interface FileRow {
  id: number;
  volumeId: number;
  path: string;
  contentId: number;
  mtimeNs: bigint;
  status: FileStatus;
  firstSeenRunId: number;
  lastSeenRunId: number;
  statusChangedRunId: number;
  /** Permission bits the index saw; null for rows indexed before they were recorded. */
  mode: number | null;
}

/** A live file row joined with its content. */
export interface FileWithContent extends FileRow {
  blake3: Buffer;
  size: number;
  originNodeId: number;
  originRunId: number;
}

/** A present row as offload planning streams it: lean enough for a million-row scan. */
export interface OffloadCandidateRow {
  id: number;
  path: string;
  contentId: number;
  /** The indexed mtime, exact, as whole seconds plus nanoseconds (truncated toward zero: same sign). */
  mtimeSeconds: number;
  mtimeNanos: number;
  statusChangedRunId: number;
  size: number;
  originNodeId: number;
  originRunId: number;
  /** The content's BLAKE3 when asked for: 32 bytes at blake3Offset (in a preload of every content's, or its own). */
  blake3: Uint8Array;
  blake3Offset: number;
}

export interface VectorComponent {
  volumeId: number;
  destination: string;
  originNodeId: number;
  originNodeName: string;
  originRunId: number;
  verifyMethod: string;
  sourceNodeId: number;
  sourceNodeName: string;
  updatedAtNs: bigint;
  verifiedAtNs: bigint | null;
  version: number;
}

export interface VectorHistoryRow extends Omit<VectorComponent, 'originNodeName' | 'sourceNodeName'> {
  id: number;
  runId: number | null;
  change: string;
}

export interface RemoteCopyRow {
  volumeId: number;
  destination: string;
  path: string;
  contentId: number;
  state: CopyState;
  pushedRunId: number;
  verifiedAtNs: bigint | null;
  version: number;
  /** This very version of the copy as it was read (local: inode and mtime); read only by copy() and copiesOf(). Null: unknown. */
  fingerprint?: string | null;
}

/** What sync needs of a ledger row to tell whether a file's copy is already recorded. */
export interface CopyStateRow {
  path: string;
  contentId: number;
  state: CopyState;
  fingerprint: string | null;
}

export interface OffloadIntentRow {
  id: number;
  runId: number;
  fileId: number;
  volumeId: number;
  path: string;
  state: 'open' | 'done' | 'dropped';
  createdAtNs: bigint;
  closedAtNs: bigint | null;
  note: string | null;
}
