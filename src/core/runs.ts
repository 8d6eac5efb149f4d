// Opening runs from the core: who is running (node, pid, host) and the liveness check used to
// tell a crashed run from a live one. The begin-if-clear logic itself is SQL in the store.

import fs from 'node:fs';
import { Clock } from '../clock.js';
import { RunKind, RunStatus } from '../store/types.js';
import { Store } from '../store/store.js';
import { Hooks, Reporter } from './reporter.js';
import { errnoCode } from '../errors.js';

/** Who this invocation is: recorded on every run it opens. */
export interface RunIdentity {
  nodeId: number;
  pid: number;
  host: string;
}

/** What a caller hands every run of the core: who runs, when, and where to report. */
export interface RunContext {
  identity: RunIdentity;
  /** The invocation's one "now": the run's start, and every judgement and record it makes. */
  nowNs: bigint;
  /** Read again only for what must be later than `nowNs`: a deadline, the run's end. */
  clock: Clock;
  reporter: Reporter;
  hooks: Hooks;
}

export interface RunStart extends RunIdentity {
  /** Defaults to this pid's start token, read when the run begins. */
  processStart?: string | null;
  kind: RunKind;
  volumeId: number | null;
  destination: string | null;
  nowNs: bigint;
}

/**
 * True while the process that opened a run still exists on this host: its pid is in use and,
 * when the run recorded a start token, by the same process. Pids are reused, so a pid alone
 * could keep a crashed run "running" for as long as an unrelated process holds its number.
 */
export function isProcessAlive(pid: number, processStart: string | null = null): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (errnoCode(err) !== 'EPERM') return false;
  }
  // A zombie (killed, its parent not yet told) has ended: it writes nothing any more.
  if (processState(pid) === 'Z') return false;
  if (processStart === null) return true;
  const now = processStartOf(pid);
  return now === null || now === processStart;
}

/** The process's state letter (R, S, D, Z, ...) from /proc, or null where it cannot be read. */
function processState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * An opaque token of when a process started: the boot id and the start time in clock ticks
 * since boot (Linux /proc). Null where that cannot be read; liveness then rests on the pid.
 */
export function processStartOf(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const startTicks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return startTicks && /^\d+$/.test(startTicks) ? `${bootId}:${startTicks}` : null;
  } catch {
    return null;
  }
}

/** Begin a run; index/sync/offload/restore refuse while another writer holds the volume. */
export function beginRun(store: Store, start: RunStart): number {
  return store.runs.begin({ ...start, processStart: start.processStart ?? processStartOf(start.pid) }, isProcessAlive);
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
