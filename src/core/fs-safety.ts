// Disk checks shared by every path that creates or removes files inside a volume: the
// relative path must stay inside the root, and no directory between the root and the file
// may be a symlink (a swapped-in link must never redirect a write or an unlink elsewhere).

import fs from 'node:fs';
import path from 'node:path';
import { LocalSourceError, SourceExpectation } from '../destinations/destination.js';
import { resolveInside } from '../paths.js';
import { errnoCode, errnoOrMessage, errorMessage } from '../errors.js';

export class UnsafePathError extends Error {}

/**
 * The absolute path of `relativePath` under `root`, after checking that the root and every
 * existing ancestor directory are real directories, not symlinks. Throws UnsafePathError.
 */
export function safeVolumePath(root: string, relativePath: string): string {
  let absolute: string;
  try {
    absolute = resolveInside(root, relativePath);
  } catch (err) {
    throw new UnsafePathError(errorMessage(err));
  }
  const rootStat = lstatOrNull(root);
  if (!rootStat || !rootStat.isDirectory()) throw new UnsafePathError(`volume root ${root} is not a directory (a symlink or missing)`);
  const segments = relativePath.split('/');
  let current = root;
  for (const segment of segments.slice(0, -1)) {
    current = path.join(current, segment);
    const stat = lstatOrNull(current);
    if (stat === null) break;
    if (stat.isSymbolicLink()) throw new UnsafePathError(`'${path.relative(root, current)}' is a symlink; refusing to act through it`);
    if (!stat.isDirectory()) throw new UnsafePathError(`'${path.relative(root, current)}' is not a directory`);
  }
  return absolute;
}

export function lstatOrNull(target: string): fs.BigIntStats | null {
  try {
    return fs.lstatSync(target, { bigint: true });
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/**
 * The volume file to send for an index row, checked like offload checks what it deletes: no
 * symlinked ancestor, a regular file (not a link), the indexed size and mtime. The put then
 * opens exactly this inode (`expected`) or nothing: bytes from outside the volume, or from a
 * file that changed since it was indexed, never reach a destination. Throws LocalSourceError.
 */
export function sourceToSend(root: string, file: { path: string; size: number; mtimeNs: bigint }): { absolute: string; expected: SourceExpectation } {
  const refuse = (why: string) => new LocalSourceError(file.path, why);
  let absolute: string;
  let stat: fs.BigIntStats | null;
  try {
    absolute = safeVolumePath(root, file.path);
    stat = lstatOrNull(absolute);
    safeVolumePath(root, file.path); // and still no link above it after the look
  } catch (err) {
    throw refuse(err instanceof UnsafePathError ? err.message : `cannot look at it: ${errnoOrMessage(err)}`);
  }
  if (stat === null) throw refuse('it is no longer on disk; run `squirrel index`');
  if (stat.isSymbolicLink()) throw refuse('it was replaced by a symbolic link; run `squirrel index`');
  if (!stat.isFile()) throw refuse('it is no longer a regular file; run `squirrel index`');
  if (Number(stat.size) !== file.size || stat.mtimeNs !== file.mtimeNs) throw refuse('it changed since it was indexed; run `squirrel index`, then sync again');
  return { absolute, expected: { identity: `${stat.dev}:${stat.ino}` } };
}

/**
 * The volume root with a symlinked root (a mount alias, which index follows too) resolved once,
 * so every check and act of a run goes through the same real directory; nothing below the
 * root may be a link. Unresolvable: left as it is, and the per-file checks refuse it.
 */
export function realRoot(rootPath: string): string {
  try {
    return fs.realpathSync(rootPath);
  } catch {
    return rootPath;
  }
}

/** The private name a file has between offload's last look and its unlink (reserved: never indexed). */
export function offloadAsidePath(absolute: string, intentId: number): string {
  return path.join(path.dirname(absolute), `.squirrel-offload-${intentId}`);
}

/** link() errors that mean "this file system has no hard links" (exFAT, FAT32): check, then rename. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS']);

/**
 * Give the file at `from` the name `to`, never over another file; false when `to` is taken.
 * A hard link refuses atomically; without hard links, check-then-rename is the best there is.
 */
export function placeNoClobber(from: string, to: string): boolean {
  try {
    fs.linkSync(from, to);
    fs.rmSync(from, { force: true });
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EEXIST') return false;
    if (!code || !NO_HARD_LINKS.has(code)) throw err;
  }
  if (lstatOrNull(to)) return false;
  fs.renameSync(from, to);
  return true;
}

/** Give the file at `aside` its name back, never over another file; false when that failed. */
export function putBack(aside: string, absolute: string): boolean {
  try {
    return placeNoClobber(aside, absolute);
  } catch {
    return false;
  }
}
