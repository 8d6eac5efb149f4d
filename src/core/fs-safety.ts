// Disk checks shared by every path that creates or removes files inside a volume: the
// relative path must stay inside the root, and no directory between the root and the file
// may be a symlink (a swapped-in link must never redirect a write or an unlink elsewhere).

import fs from 'node:fs';
import path from 'node:path';
import { resolveInside } from '../paths.js';

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
    throw new UnsafePathError((err as Error).message);
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
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}
