// What the index knows about places (SPEC §7): the id each destination's marker carried when
// this index first met it, how often it wrote each namespace marker it owns, and the paths a
// sync refused to place at a destination (two local names that are one name there, or a name
// it cannot store). Refusals are current state: each sync replaces its own.

import type { Db } from './db.js';
import { all, one } from './rows.js';
import { NameRefusalRow } from './types.js';

export interface NameRefusal {
  path: string;
  reason: string;
  detail: string;
}

export class PlaceStore {
  private readonly destinationIdOf;
  private readonly destinationInsert;
  private readonly refusalsClear;
  private readonly refusalInsert;
  private readonly refusalsOf;
  private readonly refusedPathsOf;
  private readonly claimOf;
  private readonly claimSet;
  private readonly claimConfirm;
  private readonly claimsRecovered;
  private readonly claimForget;
  private readonly destinationNamesOf;

  constructor(db: Db) {
    const prep = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.destinationIdOf = prep('SELECT destination_id FROM destinations WHERE name = ?');
    this.destinationNamesOf = db.prepare('SELECT name FROM destinations WHERE destination_id = ? ORDER BY name').pluck();
    this.destinationInsert = prep('INSERT INTO destinations (name, destination_id, recorded_at_ns) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING');
    this.refusalsClear = prep('DELETE FROM name_refusals WHERE volume_id = ? AND destination = ?');
    this.refusalInsert = prep('INSERT INTO name_refusals (volume_id, destination, path, reason, detail, run_id) VALUES (?, ?, ?, ?, ?, ?)');
    this.refusalsOf = prep(`SELECT volume_id, destination, path, reason, detail, run_id FROM name_refusals
      WHERE volume_id = ? AND destination = ? ORDER BY path`);
    this.refusedPathsOf = db.prepare('SELECT path, reason FROM name_refusals WHERE volume_id = ? AND destination = ?').raw(true);
    this.claimOf = prep('SELECT writes, confirmed, recovered FROM namespace_claims WHERE volume_id = ? AND destination = ? AND namespace = ?');
    this.claimSet = prep(`INSERT INTO namespace_claims (volume_id, destination, namespace, writes) VALUES (?, ?, ?, ?)
      ON CONFLICT (volume_id, destination) DO UPDATE SET namespace = excluded.namespace, writes = excluded.writes,
        confirmed = CASE WHEN namespace = excluded.namespace THEN confirmed ELSE 0 END, recovered = 0`);
    this.claimConfirm = prep('UPDATE namespace_claims SET confirmed = ? WHERE volume_id = ? AND destination = ? AND namespace = ?');
    this.claimsRecovered = prep('UPDATE namespace_claims SET recovered = 1');
    this.claimForget = prep('DELETE FROM namespace_claims WHERE volume_id = ? AND destination = ?');
  }

  /** The destination id recorded for a destination name, or null if this index never met it. */
  destinationId(name: string): string | null {
    return one<{ destinationId: string }>(this.destinationIdOf, name)?.destinationId ?? null;
  }

  /** The names this index knows a destination id by (one, unless a destination was renamed). */
  destinationNames(destinationId: string): string[] {
    return this.destinationNamesOf.all(destinationId) as string[];
  }

  /** Record the id a destination carries the first time this index meets it; returns the recorded one. */
  recordDestinationId(name: string, destinationId: string, nowNs: bigint): string {
    this.destinationInsert.run(name, destinationId, nowNs);
    return this.destinationId(name)!;
  }

  /** Replace the refusals of one (volume, destination) with those this sync found. */
  replaceNameRefusals(volumeId: number, destination: string, refusals: readonly NameRefusal[], runId: number): void {
    this.refusalsClear.run(volumeId, destination);
    for (const r of refusals) this.refusalInsert.run(volumeId, destination, r.path, r.reason, r.detail, runId);
  }

  nameRefusals(volumeId: number, destination: string): NameRefusalRow[] {
    return all<NameRefusalRow>(this.refusalsOf, volumeId, destination);
  }

  /** Just the refused paths and their reasons (a lookup per file in the offload plan). */
  refusedPaths(volumeId: number, destination: string): Map<string, string> {
    return new Map(this.refusedPathsOf.all(volumeId, destination) as [string, string][]);
  }

  /**
   * How many times this index wrote that namespace's marker (counted before each write), and
   * how many of those writes it saw land; null: never (or another namespace was counted).
   */
  namespaceClaim(volumeId: number, destination: string, namespace: string): { writes: number; confirmed: number; recovered: boolean } | null {
    const claim = one<{ writes: number; confirmed: number; recovered: number }>(this.claimOf, volumeId, destination, namespace);
    return claim ? { ...claim, recovered: claim.recovered === 1 } : null;
  }

  setNamespaceWrites(volumeId: number, destination: string, namespace: string, writes: number): void {
    this.claimSet.run(volumeId, destination, namespace, writes);
  }

  /** The marker now says `writes`: a marker found behind this count was rolled back. */
  confirmNamespaceWrites(volumeId: number, destination: string, namespace: string, writes: number): void {
    this.claimConfirm.run(writes, volumeId, destination, namespace);
  }

  /** Forget one claim (its marker is gone and every copy was re-read): the next sync marks it anew. */
  forgetNamespaceClaim(volumeId: number, destination: string): void {
    this.claimForget.run(volumeId, destination);
  }

  /**
   * A database recovered from a snapshot: syncs after the snapshot counted further, so a
   * marker ahead of a count is taken on by the next sync; one behind what was seen to land is
   * still refused.
   */
  markNamespaceClaimsRecovered(): void {
    this.claimsRecovered.run();
  }
}
