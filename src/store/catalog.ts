// The catalog's side of the index (SPEC §8): the index's own id, the volume markers' generation,
// consistent snapshots of the whole database for publishing, and where each destination's
// newest published snapshot stands. Snapshots are taken with VACUUM INTO: one read transaction,
// a compact copy, no lock held against writers beyond it.

import fs from 'node:fs';
import type { Db } from './db.js';
import { all, one } from './rows.js';

export interface CatalogPublication {
  destination: string;
  snapshot: string | null;
  coversRunId: number | null;
  publishedAtNs: bigint;
  error: string | null;
}

/** Run kinds after which a catalog is published: what a snapshot must be newer than. */
const PUBLISHING_KINDS = `('sync', 'verify', 'offload', 'restore')`;

export class CatalogStore {
  private readonly indexIdOf;
  private readonly generationOf;
  private readonly generationSet;
  private readonly publicationSet;
  private readonly publicationList;
  private readonly lastChange;
  private readonly newestRun;

  constructor(private readonly db: Db) {
    const prep = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.indexIdOf = prep(`SELECT value FROM meta WHERE key = 'index_id'`);
    this.generationOf = prep('SELECT marker_generation FROM volumes WHERE id = ?');
    this.generationSet = prep('UPDATE volumes SET marker_generation = ? WHERE id = ?');
    this.publicationSet = prep(`INSERT INTO catalog_publications (destination, snapshot, covers_run_id, published_at_ns, error) VALUES (@destination, @snapshot, @coversRunId, @publishedAtNs, @error)
      ON CONFLICT (destination) DO UPDATE SET
        snapshot = coalesce(excluded.snapshot, snapshot), covers_run_id = coalesce(excluded.covers_run_id, covers_run_id),
        published_at_ns = excluded.published_at_ns, error = excluded.error`);
    this.publicationList = prep('SELECT destination, snapshot, covers_run_id, published_at_ns, error FROM catalog_publications ORDER BY destination');
    this.lastChange = prep(`SELECT max(id) AS id FROM runs WHERE kind IN ${PUBLISHING_KINDS} AND status <> 'running'`);
    this.newestRun = prep('SELECT max(id) AS id FROM runs');
  }

  /** This index's random id (written into the markers of the volumes it owns). */
  indexId(): string {
    return one<{ value: string }>(this.indexIdOf)!.value;
  }

  markerGeneration(volumeId: number): number {
    return one<{ markerGeneration: number }>(this.generationOf, volumeId)?.markerGeneration ?? 0;
  }

  setMarkerGeneration(volumeId: number, generation: number): void {
    this.generationSet.run(generation, volumeId);
  }

  /** Forget the markers' generations (a recovered database: index runs after the snapshot moved them on). */
  forgetMarkerGenerations(): void {
    this.db.prepare('UPDATE volumes SET marker_generation = 0').run();
  }

  /** A consistent copy of the whole database at `file` (created private first, as VACUUM INTO accepts an empty file). */
  snapshotTo(file: string): void {
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
    this.db.prepare('VACUUM INTO ?').run(file);
  }

  /** The newest run id of all: what a snapshot taken now covers. */
  newestRunId(): number {
    return one<{ id: number | null }>(this.newestRun)?.id ?? 0;
  }

  /** The newest finished run of a kind after which catalogs are published; 0 when none. */
  lastChangeRunId(): number {
    return one<{ id: number | null }>(this.lastChange)?.id ?? 0;
  }

  recordPublication(p: { destination: string; snapshot: string | null; coversRunId: number | null; publishedAtNs: bigint; error: string | null }): void {
    this.publicationSet.run(p);
  }

  publications(): CatalogPublication[] {
    return all<CatalogPublication>(this.publicationList);
  }
}
