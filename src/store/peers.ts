// What this index keeps about its peers (SPEC §9): its own attestation sequence (one counter
// for the node, allocated under the write lock so two processes never take the same number)
// and, per peer and destination, the highest attestation seq it applied.

import type { Db } from './db.js';
import { one } from './rows.js';

export class PeerStore {
  private readonly seqOf;
  private readonly seqSet;
  private readonly cursorOf;
  private readonly cursorSet;

  constructor(private readonly db: Db) {
    const prep = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.seqOf = prep(`SELECT value FROM meta WHERE key = 'attestation_seq'`);
    this.seqSet = prep(`UPDATE meta SET value = ? WHERE key = 'attestation_seq'`);
    this.cursorOf = prep('SELECT seq FROM peer_cursors WHERE peer = ? AND destination = ?');
    this.cursorSet = prep(`INSERT INTO peer_cursors (peer, destination, seq, applied_at_ns) VALUES (?, ?, ?, ?)
      ON CONFLICT (peer, destination) DO UPDATE SET seq = max(seq, excluded.seq), applied_at_ns = excluded.applied_at_ns`);
  }

  /** The next attestation seq of this node, at least `atLeast` (a number found taken at a destination). */
  nextAttestationSeq(atLeast = 0): number {
    return this.db
      .transaction(() => {
        const next = Math.max(Number(one<{ value: string }>(this.seqOf)?.value ?? '0') + 1, atLeast);
        this.seqSet.run(String(next));
        return next;
      })
      .immediate();
  }

  /** The highest seq of `peer` applied for this destination; 0 when none. */
  cursor(peer: string, destination: string): number {
    return one<{ seq: number }>(this.cursorOf, peer, destination)?.seq ?? 0;
  }

  /** Move the cursor forward (never back). */
  advance(peer: string, destination: string, seq: number, nowNs: bigint): void {
    this.cursorSet.run(peer, destination, seq, nowNs);
  }
}
