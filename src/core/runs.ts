// Opening runs from the core: who is running (node, pid, host) and the liveness check used to
// tell a crashed run from a live one. The begin-if-clear logic itself is SQL in the store.

import { RunKind, RunStatus } from '../store/types.js';
import { Store } from '../store/store.js';

/** Who this invocation is: recorded on every run it opens. */
export interface RunIdentity {
  nodeId: number;
  pid: number;
  host: string;
}

export interface RunStart extends RunIdentity {
  kind: RunKind;
  volumeId: number | null;
  destination: string | null;
  nowNs: bigint;
}

/** True while a process with this pid exists on this host. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Begin a run; index/sync/offload/restore refuse while another writer holds the volume. */
export function beginRun(store: Store, start: RunStart): number {
  return store.runs.begin(start, isProcessAlive);
}

export type TerminalStatus = Exclude<RunStatus, 'running'>;

/** A run that met errors but did its other work is partial, never success. */
export function statusForErrors(errorCount: number): TerminalStatus {
  return errorCount === 0 ? 'success' : 'partial';
}

/** End a run; a run already in a terminal state is left as it is. */
export function finishRun(
  store: Store,
  runId: number,
  status: TerminalStatus,
  counts: Record<string, number>,
  endedAtNs: bigint,
  note: string | null = null,
): void {
  store.runs.finishRun(runId, status, counts, endedAtNs, note);
}
