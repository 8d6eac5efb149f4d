// Places compared by identity, not by spelling (SPEC §7.1). A symlink, a bind mount or a share
// mounted twice can make two different paths one directory; comparing text would call them
// two copies. Each place is resolved to its real path and known by the (st_dev, st_ino) of it
// and of every directory above it, so "A is B, or lies inside B" is a lookup whichever way A
// was spelled (through a bind mount too: the mount table names the folder it shows). A place
// that does not exist yet is its deepest existing ancestor plus the rest.

import fs from 'node:fs';
import path from 'node:path';
import { otherSpelling } from '../mount-table.js';
import { Config } from './types.js';

interface Place {
  /** How the user knows it: `volume 'photos' (/home/ann/Pictures)`. */
  label: string;
  /** The real path of the deepest existing ancestor, then what does not exist yet below it. */
  realPath: string;
  /** Identities of that ancestor and every directory above it, innermost first. */
  chain: string[];
  /** Path segments below the ancestor that do not exist (yet). */
  rest: string[];
}

function identity(stat: fs.BigIntStats): string {
  return `${stat.dev}:${stat.ino}`;
}

/** Identities of `dir` and every directory above it, innermost first. */
function chainOf(dir: string): string[] {
  const chain: string[] = [];
  for (;; dir = path.dirname(dir)) {
    try {
      chain.push(identity(fs.statSync(dir, { bigint: true })));
    } catch {
      // unreadable: its identity is unknown, the rest of the chain still counts
    }
    if (dir === path.dirname(dir)) break;
  }
  return chain;
}

/** Resolve a path to a Place; anything that cannot be looked at counts as not there. */
function resolvePlace(label: string, target: string): Place {
  const rest: string[] = [];
  let existing = path.resolve(target);
  let real: string | null = null;
  for (;;) {
    try {
      real = fs.realpathSync(existing);
      break;
    } catch {
      const parent = path.dirname(existing);
      if (parent === existing) break;
      rest.unshift(path.basename(existing));
      existing = parent;
    }
  }
  const chain = chainOf(real ?? '/');
  // Behind a bind mount, the folders that really hold it are above its other spelling.
  const other = otherSpelling(real ?? '/');
  if (other !== null) chain.push(...chainOf(other).filter((id) => !chain.includes(id)));
  const realPath = path.join(real ?? '/', ...rest);
  return { label: realPath === path.resolve(target) ? `${label} (${target})` : `${label} (${target}, really ${realPath})`, realPath, chain, rest };
}

/** Is `inner` the place `outer` is, or inside it? */
function within(inner: Place, outer: Place): boolean {
  if (outer.rest.length === 0) return outer.chain.length > 0 && inner.chain.includes(outer.chain[0]);
  // `outer` does not exist yet: `inner` can only lie inside it along the same missing path.
  return (
    inner.chain[0] !== undefined &&
    inner.chain[0] === outer.chain[0] &&
    inner.rest.length >= outer.rest.length &&
    outer.rest.every((segment, i) => inner.rest[i] === segment)
  );
}

function overlap(a: Place, b: Place): string | null {
  if (within(a, b) && within(b, a)) return `${a.label} and ${b.label} are the same place`;
  if (within(a, b)) return `${a.label} lies inside ${b.label}`;
  if (within(b, a)) return `${b.label} lies inside ${a.label}`;
  return null;
}

/**
 * Every pair of places in the config that overlap by identity: volumes with each other and
 * with local destinations (roots and namespaces), local destinations with each other, two
 * namespaces that are one directory, and the database inside a volume. Empty: all distinct.
 */
export function placeProblems(config: Config): string[] {
  const problems: string[] = [];
  const volumes = [...config.volumes.values()].map((v) => ({ volume: v, place: resolvePlace(`volume '${v.name}'`, v.path) }));
  const roots = [...config.destinations.values()]
    .filter((d) => d.type === 'local')
    .map((d) => ({ name: d.name, place: resolvePlace(`destination '${d.name}'`, d.path), path: d.path }));
  const namespaces = roots.flatMap((root) =>
    volumes
      .filter(({ volume }) => volume.namespaces.has(root.name))
      .map(({ volume }) => {
        const namespace = volume.namespaces.get(root.name)!;
        return { destination: root.name, place: resolvePlace(`namespace '${namespace}' of destination '${root.name}'`, path.join(root.path, namespace)) };
      }),
  );
  const refuse = (found: string | null, why: string) => {
    if (found) problems.push(`${found}: ${why}`);
  };
  const SEPARATE = 'a backup there would be the volume itself; keep every volume and destination its own directory tree';
  volumes.forEach((a, i) => {
    for (const b of volumes.slice(i + 1)) refuse(overlap(a.place, b.place), 'volumes must not nest');
    for (const root of roots) {
      const found = overlap(a.place, root.place);
      refuse(found, SEPARATE);
      // A namespace may be a link leading elsewhere; the root check already covers what is below it.
      if (!found) for (const ns of namespaces.filter((n) => n.destination === root.name)) refuse(overlap(a.place, ns.place), SEPARATE);
    }
  });
  roots.forEach((a, i) => {
    for (const b of roots.slice(i + 1)) refuse(overlap(a.place, b.place), 'two destinations in one place are one copy counted twice; give each its own directory');
    for (const ns of namespaces) if (ns.destination !== a.name) refuse(overlap(ns.place, a.place), 'a namespace reaching into another destination is one copy counted twice');
  });
  namespaces.forEach((a, i) => {
    for (const b of namespaces.slice(i + 1)) refuse(overlap(a.place, b.place), 'two namespaces that are one directory hold one copy counted twice; remove the link or mount that joins them');
  });
  const database = resolvePlace('the database', config.db);
  for (const { place } of volumes) {
    if (within(database, place)) problems.push(`${database.label} lies inside ${place.label}: keep the index outside every volume, so it is never indexed, synced or offloaded`);
  }
  return [...new Set(problems)];
}
