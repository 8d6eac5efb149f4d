// Reading another node's catalog snapshot (SPEC §9): the copies its ledger records as sound at
// a destination (found by the destination's id, since nodes may name it differently), and the
// ids of its volumes. The snapshot is opened read-only and closed again; nothing is written.

import Database from 'better-sqlite3';

export interface PeerCopy {
  path: string;
  blake3: Buffer;
  size: number;
}

export interface PeerLedger {
  /** What the peer calls this destination; null when its index never met it. */
  destinationName: string | null;
  /** The ids of the peer's volumes (namespace markers name one of them). */
  volumeUids: Set<string>;
  copies: PeerCopy[];
}

export function readPeerLedger(snapshotFile: string, destinationId: string): PeerLedger {
  const db = new Database(snapshotFile, { readonly: true, fileMustExist: true });
  try {
    const hasTable = (name: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
    const destinationName = hasTable('destinations')
      ? ((db.prepare('SELECT name FROM destinations WHERE destination_id = ?').pluck().get(destinationId) as string | undefined) ?? null)
      : null;
    const volumeUids = new Set((db.prepare('SELECT uid FROM volumes WHERE uid IS NOT NULL').pluck().all() as string[]) ?? []);
    const copies =
      destinationName === null
        ? []
        : (db
            .prepare(`SELECT rc.path, c.blake3, c.size FROM remote_copies rc JOIN contents c ON c.id = rc.content_id
              WHERE rc.destination = ? AND rc.state = 'ok' ORDER BY rc.path`)
            .all(destinationName) as PeerCopy[]);
    return { destinationName, volumeUids, copies };
  } finally {
    db.close();
  }
}
