// What `ls` reads: a volume's live rows in path order, each beside the copy ledger's word on its
// content at every destination asked about. Its own statements, one per number of destinations,
// prepared on first use: the listing is a job of its own, beside the index's file rows.

import Database from 'better-sqlite3';
import type { Db } from './db.js';
import { FileStatus } from './types.js';

/** A live row as `ls` lists it, with the ledger's word on its content at each destination (in order). */
export interface ListedRow {
  path: string;
  status: FileStatus;
  sizeBytes: number;
  mtimeNs: bigint;
  copies: { okCopies: number; newestVerifiedAtNs: bigint | null; lostCopies: number }[];
}

export class ListingStore {
  private readonly statements = new Map<number, Database.Statement>();

  constructor(private readonly db: Db) {}

  /**
   * Live rows at `exactPath` or under `folder` ('' for the whole volume), in path order, each
   * with what the copy ledger says of its content at each destination (any path there): how
   * many sound copies, the newest verification of one, and how many were found lost.
   * Streamed, one statement per number of destinations.
   */
  *iterate(volumeId: number, target: { exactPath: string } | { folder: string }, destinations: readonly string[]): IterableIterator<ListedRow> {
    const statement = this.statement(destinations.length);
    const range = 'exactPath' in target ? { from: target.exactPath, to: `${target.exactPath}\0` } : target.folder === '' ? { from: '', to: null } : { from: `${target.folder}/`, to: `${target.folder}0` };
    const params: Record<string, unknown> = { volumeId, from: range.from, to: range.to };
    destinations.forEach((name, i) => (params[`d${i}`] = name));
    for (const r of statement.iterate(params) as IterableIterator<unknown[]>) {
      yield {
        path: r[0] as string,
        status: r[1] as FileStatus,
        sizeBytes: Number(r[2]),
        mtimeNs: r[3] as bigint,
        copies: destinations.map((_, i) => ({
          okCopies: Number(r[4 + i * 3]),
          newestVerifiedAtNs: (r[5 + i * 3] as bigint | null) ?? null,
          lostCopies: Number(r[6 + i * 3]),
        })),
      };
    }
  }

  private statement(destinationCount: number): Database.Statement {
    let statement = this.statements.get(destinationCount);
    if (statement) return statement;
    const copyColumns = Array.from({ length: destinationCount }, (_, i) => {
      const where = `rc.volume_id = f.volume_id AND rc.destination = @d${i} AND rc.content_id = f.content_id`;
      return `(SELECT count(*) FROM remote_copies rc WHERE ${where} AND rc.state = 'ok'),
        (SELECT max(rc.verified_at_ns) FROM remote_copies rc WHERE ${where} AND rc.state = 'ok'),
        (SELECT count(*) FROM remote_copies rc WHERE ${where} AND rc.state <> 'ok')`;
    });
    statement = this.db
      .prepare(`SELECT f.path, f.status, c.size, f.mtime_ns${copyColumns.map((columns) => `, ${columns}`).join('')}
        FROM files f JOIN contents c ON c.id = f.content_id
        WHERE f.volume_id = @volumeId AND f.status <> 'superseded' AND f.path >= @from AND (@to IS NULL OR f.path < @to) ORDER BY f.path`)
      .raw(true)
      .safeIntegers(true);
    this.statements.set(destinationCount, statement);
    return statement;
  }
}
