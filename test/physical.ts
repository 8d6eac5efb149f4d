// The independent no-loss check: what is physically on the disks, never the ledger's word.
// Every regular file under each destination root is hashed (Node's SHA-256, not squirrel's
// BLAKE3 code) and known by its (st_dev, st_ino); a copy counts for a destination only when
// its identity differs from every file of the volume and from the copy counted for every
// other destination. A tree's top may be reached through a link (it is followed); links below
// it are not, as squirrel never follows them.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export type Identity = string;

/** sha256 hex -> identities of the files holding those bytes, for one tree. */
export type Holdings = Map<string, Set<Identity>>;

export function sha256(bytes: Buffer | string): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

export function identityOf(stat: fs.Stats | fs.BigIntStats): Identity {
  return `${stat.dev}:${stat.ino}`;
}

/** Every regular file under `dir` (not following links below it): bytes -> identities. */
export function holdingsUnder(dir: string): Holdings {
  const holdings: Holdings = new Map();
  const walk = (current: string, top: boolean) => {
    let stat: fs.Stats;
    try {
      stat = top ? fs.statSync(current) : fs.lstatSync(current);
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      let names: string[];
      try {
        names = fs.readdirSync(current);
      } catch {
        return;
      }
      for (const name of names) walk(path.join(current, name), false);
      return;
    }
    if (!stat.isFile()) return;
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(current);
    } catch {
      return;
    }
    const hash = sha256(bytes);
    const set = holdings.get(hash) ?? new Set<Identity>();
    set.add(identityOf(stat));
    holdings.set(hash, set);
  };
  walk(dir, true);
  return holdings;
}

export interface PhysicalWorld {
  /** The volume's own tree: a copy there (or an alias of one) is not a backup. */
  volumeRoot: string;
  /** Destination roots that must each hold a distinct copy. */
  destinations: Record<string, string>;
}

/**
 * For each given content (sha256 hex): the destinations that do NOT hold a distinct physical
 * copy. With two or more destinations, copies are assigned greedily in name order so that no
 * identity serves two destinations.
 */
export function missingCopies(world: PhysicalWorld, hashes: Iterable<string>): Map<string, string[]> {
  const local = holdingsUnder(world.volumeRoot);
  const localIds = new Set<Identity>();
  for (const ids of local.values()) for (const id of ids) localIds.add(id);
  const perDestination = Object.entries(world.destinations)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, root]) => ({ name, holdings: holdingsUnder(root) }));
  const missing = new Map<string, string[]>();
  for (const hash of hashes) {
    const used = new Set<Identity>();
    const lacking: string[] = [];
    for (const { name, holdings } of perDestination) {
      const candidates = [...(holdings.get(hash) ?? [])].filter((id) => !localIds.has(id) && !used.has(id));
      if (candidates.length === 0) lacking.push(name);
      else used.add(candidates[0]);
    }
    if (lacking.length > 0) missing.set(hash, lacking);
  }
  return missing;
}

/**
 * Files the test wrote (relative path -> sha256) that are neither on the local disk with
 * those bytes nor held as a distinct physical copy on every destination: lost or at risk.
 */
export function lostFiles(world: PhysicalWorld, written: Record<string, string>): string[] {
  const gone = Object.entries(written).filter(([relative, hash]) => {
    try {
      return sha256(fs.readFileSync(path.join(world.volumeRoot, relative))) !== hash;
    } catch {
      return true;
    }
  });
  if (gone.length === 0) return [];
  const missing = missingCopies(world, gone.map(([, hash]) => hash));
  return gone.filter(([, hash]) => missing.has(hash)).map(([relative, hash]) => `${relative} (no distinct copy at ${missing.get(hash)!.join(', ')})`);
}
