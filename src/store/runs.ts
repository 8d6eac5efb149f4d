// The run sequence and the per-volume writer slot. Run ids (AUTOINCREMENT) are the only
// ordering squirrel uses for coverage. Beginning a writing run is begin-if-clear inside one
// IMMEDIATE transaction, so two processes can never both hold a volume.

import type { Db } from './db.js';
import { all, one } from './rows.js';
import { RunKind, RunRow, RunStatus, SLOT_KINDS } from './types.js';
import { VolumeBusyError } from '../errors.js';
import { isoFromNs } from '../clock.js';

export interface BeginRun {
  kind: RunKind;
  volumeId: number | null;
  destination: string | null;
  nodeId: number;
  pid: number;
  /** A token of the process's start, so a reused pid is not mistaken for it; null: unknown. */
  processStart?: string | null;
  host: string;
  nowNs: bigint;
}

/**
 * Tells whether the process that opened a run on this host is alive (its pid, and where
 * recorded, its start token); injected so the store stays pure SQL.
 */
export type IsAlive = (pid: number, processStart: string | null) => boolean;

const RUN_COLUMNS = `r.id, r.kind, r.volume_id, v.name AS volume_name, r.destination, r.status, r.started_at_ns,
  r.ended_at_ns, r.pid, r.process_start, r.host, r.node_id, r.counts, r.note`;

export class RunStore {
  private readonly insert;
  private readonly running;
  private readonly runningWriter;
  private readonly finish;
  private readonly byId;
  private readonly abort;
  private readonly lastPush;
  /** Runs begun through this connection: what failUnfinished may close. */
  private readonly begunHere = new Set<number>();

  constructor(private readonly db: Db) {
    const prep = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.insert = prep(`INSERT INTO runs (kind, volume_id, destination, status, started_at_ns, pid, process_start, host, node_id)
      VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)`);
    this.running = prep(`SELECT ${RUN_COLUMNS} FROM runs r LEFT JOIN volumes v ON v.id = r.volume_id WHERE r.status = 'running'`);
    this.runningWriter = prep(`SELECT ${RUN_COLUMNS} FROM runs r LEFT JOIN volumes v ON v.id = r.volume_id
      WHERE r.status = 'running' AND r.volume_id = ? AND r.kind IN (${SLOT_KINDS.map((k) => `'${k}'`).join(', ')})
      ORDER BY r.id LIMIT 1`);
    this.finish = prep(`UPDATE runs SET status = ?, ended_at_ns = ?, counts = ?, note = coalesce(?, note)
      WHERE id = ? AND status = 'running'`);
    this.abort = prep(`UPDATE runs SET status = 'aborted', ended_at_ns = ?, note = ? WHERE id = ? AND status = 'running'`);
    this.lastPush = prep(`SELECT max(id) AS id FROM runs
      WHERE kind = 'sync' AND status = 'success' AND volume_id = ? AND destination = ?`);
    this.byId = prep(`SELECT ${RUN_COLUMNS} FROM runs r LEFT JOIN volumes v ON v.id = r.volume_id WHERE r.id = ?`);
  }

  /**
   * Mark `running` rows of this host whose process is gone as `aborted`, with an audit note.
   * Returns the ids it aborted.
   */
  reapDead(host: string, isAlive: IsAlive, nowNs: bigint): number[] {
    const reaped: number[] = [];
    this.db
      .transaction(() => {
        for (const run of all<RunRow>(this.running)) {
          if (run.host !== host || isAlive(run.pid, run.processStart)) continue;
          this.abort.run(nowNs, `aborted: process ${run.pid} on ${host} is no longer running`, run.id);
          reaped.push(run.id);
        }
      })
      .immediate();
    return reaped;
  }

  /** Mark every run still `running` aborted (a database recovered from a snapshot: those processes are gone). */
  abortAllRunning(nowNs: bigint, note: string): number {
    return this.db.prepare(`UPDATE runs SET status = 'aborted', ended_at_ns = ?, note = ? WHERE status = 'running'`).run(nowNs, note).changes;
  }

  /** Begin a run; a slot-taking kind refuses while another writer holds the volume. */
  begin(run: BeginRun, isAlive: IsAlive): number {
    const runId = this.db
      .transaction(() => {
        if (run.volumeId !== null && SLOT_KINDS.includes(run.kind)) {
          const blocker = one<RunRow>(this.runningWriter, run.volumeId);
          if (blocker && blocker.host === run.host && !isAlive(blocker.pid, blocker.processStart)) {
            this.abort.run(run.nowNs, `aborted: process ${blocker.pid} on ${blocker.host} is no longer running`, blocker.id);
          } else if (blocker) {
            throw new VolumeBusyError(
              `volume '${blocker.volumeName}' is busy: ${blocker.kind} run ${blocker.id} (pid ${blocker.pid} on ${blocker.host}) ` +
                `has been running since ${isoFromNs(blocker.startedAtNs)}; ` +
                `wait for it to finish and try again`,
            );
          }
        }
        const result = this.insert.run(run.kind, run.volumeId, run.destination, run.nowNs, run.pid, run.processStart ?? null, run.host, run.nodeId);
        return Number(result.lastInsertRowid);
      })
      .immediate();
    this.begunHere.add(runId);
    return runId;
  }

  /**
   * End as `failed` every run begun through this connection that is still running: the
   * command stopped on an error before finishing it, and the next command must not have to
   * reap it. Returns the ids it closed.
   */
  failUnfinished(nowNs: bigint, note: string): number[] {
    const closed: number[] = [];
    for (const runId of this.begunHere) {
      if (this.finish.run('failed', nowNs, '{}', note, runId).changes === 1) closed.push(runId);
    }
    return closed;
  }

  /** End a run. A run in a terminal state never changes again. */
  finishRun(runId: number, status: Exclude<RunStatus, 'running'>, counts: Record<string, number>, nowNs: bigint, note: string | null = null): void {
    this.finish.run(status, nowNs, JSON.stringify(counts), note, runId);
  }

  get(runId: number): RunRow | undefined {
    return one<RunRow>(this.byId, runId);
  }

  list(filter: { volumeId?: number; limit: number; sinceRunId?: number }): RunRow[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.volumeId !== undefined) {
      where.push('r.volume_id = ?');
      params.push(filter.volumeId);
    }
    if (filter.sinceRunId !== undefined) {
      where.push('r.id > ?');
      params.push(filter.sinceRunId);
    }
    const sql = `SELECT ${RUN_COLUMNS} FROM runs r LEFT JOIN volumes v ON v.id = r.volume_id
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY r.id DESC LIMIT ?`;
    return all<RunRow>(this.db.prepare(sql).safeIntegers(true), ...params, filter.limit);
  }

  /** The newest finished run of a kind on a volume (to one destination, if named), or undefined. */
  lastFinished(volumeId: number, kind: RunKind, destination: string | null = null): RunRow | undefined {
    return one<RunRow>(this.db.prepare(`SELECT ${RUN_COLUMNS} FROM runs r LEFT JOIN volumes v ON v.id = r.volume_id
      WHERE r.volume_id = ? AND r.kind = ? AND r.status <> 'running' AND (? IS NULL OR r.destination = ?) ORDER BY r.id DESC LIMIT 1`).safeIntegers(true), volumeId, kind, destination, destination);
  }

  /** The newest successful sync run of a volume to a destination: its last whole-volume push. */
  lastSuccessfulPush(volumeId: number, destination: string): number | null {
    return one<{ id: number | null }>(this.lastPush, volumeId, destination)?.id ?? null;
  }
}
