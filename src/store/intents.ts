// The offload intent journal. An intent is committed before an unlink and closed in the same
// transaction that marks the row offloaded, so a crash in between leaves an open intent that
// the next command reconciles from what is on disk.

import type { Db } from './db.js';
import { all } from './rows.js';
import { OffloadIntentRow } from './types.js';

export class IntentStore {
  private readonly insert;
  private readonly close;
  private readonly openRows;

  constructor(db: Db) {
    const prep = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.insert = prep(`INSERT INTO offload_intents (run_id, file_id, volume_id, path, state, created_at_ns)
      VALUES (?, ?, ?, ?, 'open', ?)`);
    this.close = prep(`UPDATE offload_intents SET state = ?, closed_at_ns = ?, note = ? WHERE id = ? AND state = 'open'`);
    this.openRows = prep(`SELECT id, run_id, file_id, volume_id, path, state, created_at_ns, closed_at_ns, note
      FROM offload_intents WHERE state = 'open' ORDER BY id`);
  }

  open(runId: number, fileId: number, volumeId: number, filePath: string, nowNs: bigint): number {
    return Number(this.insert.run(runId, fileId, volumeId, filePath, nowNs).lastInsertRowid);
  }

  closeIntent(intentId: number, state: 'done' | 'dropped', nowNs: bigint, note: string | null = null): void {
    this.close.run(state, nowNs, note, intentId);
  }

  listOpen(): OffloadIntentRow[] {
    return all<OffloadIntentRow>(this.openRows);
  }
}
