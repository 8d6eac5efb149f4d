// Walking a volume: every regular file under the root, depth first, in byte order of the whole
// path (SQLite's order of the index's paths, so the two can be read side by side).
// Symlinks are never followed (so the walk cannot leave the volume), other non-regular files,
// reserved `.squirrel-*` names (except the restore history at the root, which holds the
// user's bytes) and what the volume's `exclude:` patterns match are skipped, and a name that
// is not valid UTF-8 is reported as an error naming its directory instead of crashing.

import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import type { ExcludeMatcher } from '../../config/exclude.js';
import { RESERVED_PREFIX, RESTORE_HISTORY_DIR, VOLUME_MARKER } from '../../paths.js';

/** The index keeps times as signed 64-bit nanoseconds (1678 to 2262). */
const MAX_STORABLE_NS = 2n ** 63n - 1n;

/** The marker files of a destination root and of a namespace in it. */
const DESTINATION_MARKERS = new Set(['.squirrel-destination', '.squirrel-namespace']);

export interface ListedFile {
  kind: 'file';
  /** Volume-relative, '/'-separated. */
  relativePath: string;
  sizeBytes: number;
  mtimeNs: bigint;
  ino: bigint;
  dev: bigint;
  /** Permission bits. */
  mode: number;
}

export interface SkippedEntry {
  kind: 'skipped';
  relativePath: string;
  /** excluded: the database (never indexed); pattern: the volume's `exclude:` (a folder counts once). */
  reason: 'symlink' | 'not-regular' | 'reserved' | 'excluded' | 'pattern';
}

/** A destination's marker inside the volume: a backup folder (or a mount of one) is in the tree. */
export interface DestinationInside {
  kind: 'destination-inside';
  /** The marker, volume-relative. */
  relativePath: string;
}

export interface WalkError {
  kind: 'error';
  /** The directory or file concerned, volume-relative ('.' for the root). */
  relativePath: string;
  message: string;
}

export type WalkEvent = ListedFile | SkippedEntry | WalkError | DestinationInside;

export interface WalkOptions {
  root: string;
  /** Absolute paths never listed (the database when it lives inside the volume). */
  excludeAbsolutePaths?: ReadonlySet<string>;
  /** The volume's `exclude:` patterns: a matching file is skipped, a matching folder not entered. */
  excludes?: ExcludeMatcher;
}

function decodeName(name: Buffer): string | null {
  return isUtf8(name) ? name.toString('utf8') : null;
}

/** A printable form of a byte name: valid bytes as text, the rest as \xNN. */
function escapeName(name: Buffer): string {
  let out = '';
  for (const byte of name) out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return out;
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

function sameDirectory(a: fs.BigIntStats, b: fs.BigIntStats): boolean {
  return a.ino === b.ino && a.dev === b.dev;
}

interface Directory {
  kind: 'directory';
  absolute: string;
  relative: string;
  stat: fs.BigIntStats;
}

/** A directory's entry: what the walk reports, or a subdirectory to walk. */
type Entry = WalkEvent | Directory;

const SLASH = Buffer.from('/');

/**
 * The entries in the order of their paths: a subdirectory sorts as its name followed by '/'
 * (`a.txt` < `a/…` < `a0`, and `a-b/…` < `a/…` although `a` < `a-b`), so the walk yields
 * paths in the byte order SQLite keeps the index's paths in. `names`: each entry's raw name.
 */
function inPathOrder(entries: Entry[], names: Buffer[]): Entry[] {
  if (!entries.some((e) => e.kind === 'directory')) return entries;
  const keyed = entries.map((entry, i) => ({ entry, key: entry.kind === 'directory' ? Buffer.concat([names[i], SLASH]) : names[i] }));
  return keyed.sort((a, b) => Buffer.compare(a.key, b.key)).map((k) => k.entry);
}

/**
 * List a directory's entries, in path order. The directory is lstat'ed before and after so a
 * directory swapped (for a symlink, say) while it was listed is an error rather than a detour.
 */
function listDirectory(dir: Directory, options: WalkOptions): Entry[] {
  const { absolute: absoluteDir, relative: relativeDir } = dir;
  const shown = relativeDir === '' ? '.' : relativeDir;
  let names: Buffer[];
  try {
    names = fs.readdirSync(absoluteDir, { encoding: 'buffer' });
  } catch (err) {
    return [{ kind: 'error', relativePath: shown, message: `cannot list directory ${absoluteDir}: ${errorCode(err)}` }];
  }
  names.sort(Buffer.compare);
  const entries: Entry[] = [];
  const entryNames: Buffer[] = [];
  let rawName = names[0];
  const add = (entry: Entry) => {
    entries.push(entry);
    entryNames.push(rawName);
  };
  for (rawName of names) {
    const name = decodeName(rawName);
    if (name === null) {
      add({
        kind: 'error',
        relativePath: shown,
        message: `directory ${absoluteDir} holds a name that is not valid UTF-8 ('${escapeName(rawName)}'); squirrel cannot index it. Rename it to valid UTF-8`,
      });
      continue;
    }
    const relative = relativeDir === '' ? name : `${relativeDir}/${name}`;
    // The directory is normalised and a listed name is never '.', '..' nor holds a '/': a
    // concatenation is path.join's answer, without its cost a file.
    const absolute = absoluteDir.endsWith('/') ? `${absoluteDir}${name}` : `${absoluteDir}/${name}`;
    if (name.startsWith(RESERVED_PREFIX) && !(relativeDir === '' && name === RESTORE_HISTORY_DIR)) {
      if (DESTINATION_MARKERS.has(name)) add({ kind: 'destination-inside', relativePath: relative });
      // The volume's own marker is not news; any other reserved name is counted, so a file of
      // the user's that happens to be called .squirrel-something is not skipped unseen.
      else if (!(relativeDir === '' && name === VOLUME_MARKER)) add({ kind: 'skipped', relativePath: relative, reason: 'reserved' });
      continue;
    }
    if (options.excludeAbsolutePaths?.has(absolute)) {
      add({ kind: 'skipped', relativePath: relative, reason: 'excluded' });
      continue;
    }
    let stat: fs.BigIntStats;
    try {
      stat = fs.lstatSync(absolute, { bigint: true });
    } catch (err) {
      // Gone between listing and looking: not seen, and not an error.
      if (errorCode(err) === 'ENOENT') continue;
      add({ kind: 'error', relativePath: relative, message: `cannot stat ${absolute}: ${errorCode(err)}` });
      continue;
    }
    if (options.excludes?.(stat.isDirectory() ? `${relative}/` : relative)) {
      add({ kind: 'skipped', relativePath: relative, reason: 'pattern' });
      continue;
    }
    if (stat.isSymbolicLink()) add({ kind: 'skipped', relativePath: relative, reason: 'symlink' });
    else if (stat.isDirectory()) add({ kind: 'directory', absolute, relative, stat });
    else if (stat.isFile()) {
      if (stat.mtimeNs > MAX_STORABLE_NS || stat.mtimeNs < -MAX_STORABLE_NS) {
        add({ kind: 'error', relativePath: relative, message: `${absolute}: its modification time is outside what the index records (1678 to 2262); nothing of it was recorded. Give it a real date (\`touch\` it), then index again` });
        continue;
      }
      add({ kind: 'file', relativePath: relative, sizeBytes: Number(stat.size), mtimeNs: stat.mtimeNs, ino: stat.ino, dev: stat.dev, mode: Number(stat.mode) & 0o7777 });
    } else add({ kind: 'skipped', relativePath: relative, reason: 'not-regular' });
  }
  let after: fs.BigIntStats | null = null;
  try {
    // The root itself may be a symlink (a mount point alias): it is followed, nothing below it is.
    after = relativeDir === '' ? fs.statSync(absoluteDir, { bigint: true }) : fs.lstatSync(absoluteDir, { bigint: true });
  } catch {
    after = null;
  }
  if (!after || !after.isDirectory() || !sameDirectory(after, dir.stat)) {
    return [{ kind: 'error', relativePath: shown, message: `directory ${absoluteDir} was replaced or removed while it was listed` }];
  }
  return inPathOrder(entries, entryNames);
}

/** Where the walk's paths under `root` are on disk: the walk's own join, the root normalised once. */
export function onDisk(root: string): (relativePath: string) => string {
  const normal = path.normalize(root);
  const base = normal.endsWith('/') ? normal : `${normal}/`;
  return (relativePath) => base + relativePath;
}

/**
 * Every regular file under root, in path order, as an async stream so a consumer can hash while
 * the walk goes on: what came before each directory is entered, then the rest. Yields to the
 * event loop after each directory listed.
 */
export async function* walkVolume(options: WalkOptions): AsyncGenerator<WalkEvent[]> {
  const rootStat = fs.statSync(options.root, { bigint: true });
  const root: Directory = { kind: 'directory', absolute: path.normalize(options.root), relative: '', stat: rootStat };
  // The directories being walked, each with the entries it has left, reversed (next one last).
  const stack: Entry[][] = [listDirectory(root, options).reverse()];
  let events: WalkEvent[] = [];
  while (stack.length > 0) {
    const left = stack[stack.length - 1];
    const entry = left.pop();
    if (entry === undefined) {
      stack.pop();
      continue;
    }
    if (entry.kind !== 'directory') {
      events.push(entry);
      continue;
    }
    if (events.length > 0) yield events;
    events = [];
    stack.push(listDirectory(entry, options).reverse());
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (events.length > 0) yield events;
}
