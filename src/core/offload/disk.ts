// What the disk must still say before offload deletes a file: no symlinked ancestor, a regular
// file of the indexed size and mtime, and bytes that hash to the indexed BLAKE3, the inode the
// same before, during and after. Anything else is drift: the file is skipped, nothing deleted.

import fs from 'node:fs';
import { errnoOrMessage } from '../../errors.js';
import { lstatOrNull, safeVolumePath, UnsafePathError } from '../fs-safety.js';
import { Hasher } from '../index/hash-pool.js';
import { AllowedFile } from './plan.js';

/** What the disk said before and during the re-hash: the identity the unlink must still see. */
export type DiskCheck = { ok: true; absolute: string; seen: fs.BigIntStats } | { ok: false; reason: string };

/**
 * Is the file on disk exactly the indexed one? No symlinked ancestor, a regular file (never
 * followed through a link), the indexed size and mtime, and a re-hash through one descriptor
 * that equals the indexed BLAKE3 with the inode unchanged before, during and after.
 */
export async function checkOnDisk(root: string, file: AllowedFile, indexed: Buffer, hasher: Hasher): Promise<DiskCheck> {
  let absolute: string;
  let seen: fs.BigIntStats | null;
  try {
    absolute = safeVolumePath(root, file.path);
    seen = lstatOrNull(absolute);
  } catch (err) {
    if (err instanceof UnsafePathError) return { ok: false, reason: err.message };
    return { ok: false, reason: `cannot check it (${errnoOrMessage(err)})` };
  }
  if (!seen) return { ok: false, reason: 'the file is no longer on disk' };
  if (seen.isSymbolicLink()) return { ok: false, reason: 'the file was replaced by a symlink' };
  if (!seen.isFile()) return { ok: false, reason: 'it is no longer a regular file' };
  if (Number(seen.size) !== file.sizeBytes) return { ok: false, reason: `size changed (${seen.size} bytes, indexed ${file.sizeBytes}); run \`squirrel index\`` };
  if (seen.mtimeNs !== file.mtimeNs) return { ok: false, reason: 'modification time changed since indexing; run `squirrel index`' };
  const hashed = await hasher.hash({ absolutePath: absolute, ino: seen.ino, dev: seen.dev, sizeBytes: file.sizeBytes });
  if (!hashed.ok) return { ok: false, reason: hashed.message };
  if (hashed.sizeBytes !== file.sizeBytes || !hashed.hash.equals(indexed)) {
    return { ok: false, reason: 'content changed since indexing (BLAKE3 differs); run `squirrel index`' };
  }
  return { ok: true, absolute, seen };
}

/** The very inode that was checked, unchanged since (ctime catches a restored mtime). */
export function sameIdentity(a: fs.BigIntStats, b: fs.BigIntStats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.isFile() === b.isFile();
}
