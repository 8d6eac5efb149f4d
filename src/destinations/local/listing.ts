// The local destination's walk for list(): depth first, one directory read at a time, its
// entries visited in listing order (destination.ts), so files come out sorted by path and
// memory holds one directory per level, however many files the tree has.

import fs from 'node:fs';
import { errnoCode } from '../../errors.js';
import { inListingOrder, ListedFile } from '../destination.js';
import { localUnavailable } from './durable.js';

/** Regular files under `start` ('' for the root), with their sizes; symlinks are neither followed nor listed. */
export function* walkInOrder(destination: string, location: string, start: string): Generator<ListedFile> {
  const levels: { directory: string; entries: fs.Dirent[]; next: number }[] = [];
  // Entries are names readdir gave (no '/', '.' or '..'): joined as strings, without path.join's normalising (0.3 s at 100k files).
  const base = location.endsWith('/') ? location : `${location}/`;
  const enter = (directory: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(directory === '' ? location : base + directory, { withFileTypes: true });
    } catch (err) {
      // Removed while we walked: nothing under it any more. The root itself must answer.
      if (directory !== '' && errnoCode(err) === 'ENOENT') return;
      throw localUnavailable(destination, 'list', directory || location, err);
    }
    levels.push({ directory, entries: inListingOrder(entries, (e) => e.name, (e) => e.isDirectory()), next: 0 });
  };
  enter(start);
  while (levels.length > 0) {
    const level = levels[levels.length - 1];
    if (level.next === level.entries.length) {
      levels.pop();
      continue;
    }
    const entry = level.entries[level.next++];
    const relativePath = level.directory === '' ? entry.name : `${level.directory}/${entry.name}`;
    if (entry.isDirectory()) enter(relativePath);
    else if (entry.isFile()) {
      let stats: fs.BigIntStats;
      try {
        stats = fs.lstatSync(base + relativePath, { bigint: true });
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue;
        throw localUnavailable(destination, 'list', relativePath, err);
      }
      yield { path: relativePath, sizeBytes: Number(stats.size), fingerprint: fingerprintOf(stats) };
    }
  }
}

/** This version of a file: its inode and mtime (a rollback or a clone puts another inode, or the old mtime, at the path). */
export function fingerprintOf(stats: fs.BigIntStats): string {
  return `${stats.ino}:${stats.mtimeNs}`;
}
