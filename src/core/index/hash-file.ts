// Hashing one listed file for the index, in a worker or in-thread. The file is opened without
// following a symlink and judged by its descriptor: it must still be a regular file, and its
// size, mtime, ctime and inode must be the same after hashing as before, or the hash is
// discarded (a file being written is reported, never recorded with a wrong hash).

import fs from 'node:fs';
import { hashFd } from '../../hash.js';
import { errnoCode, errnoOrMessage } from '../../errors.js';

export interface HashTask {
  absolutePath: string;
  /** The inode the walk listed; a different one at open means the path was replaced. */
  ino: bigint;
  dev: bigint;
  /** Size the walk listed: used only to balance work across workers. */
  sizeBytes: number;
}

export type HashOutcome =
  | { ok: true; hash: Buffer; sizeBytes: number; mtimeNs: bigint }
  | { ok: false; message: string };

/** Read size per syscall: large enough to amortise the call, small enough to stay in cache. */
export const HASH_READ_BYTES = 256 << 10;

// O_NONBLOCK: if a FIFO was swapped in after the walk, open must not hang; regular files ignore it.
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

function sameFile(a: fs.BigIntStats, b: fs.BigIntStats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * Hash the file at task.absolutePath. `afterOpen` runs between the first stat and the read;
 * tests use it to change the file mid-hash.
 */
export function hashListedFile(task: HashTask, buffer: Buffer, afterOpen?: () => void): HashOutcome {
  let fd: number;
  try {
    fd = fs.openSync(task.absolutePath, OPEN_FLAGS);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return { ok: false, message: 'vanished while indexing' };
    if (code === 'ELOOP') return { ok: false, message: 'replaced by a symlink while indexing' };
    return { ok: false, message: `cannot open: ${errnoOrMessage(err)}` };
  }
  try {
    const before = fs.fstatSync(fd, { bigint: true });
    if (!before.isFile()) return { ok: false, message: 'no longer a regular file' };
    if (before.ino !== task.ino || before.dev !== task.dev) return { ok: false, message: 'replaced while indexing' };
    afterOpen?.();
    // The lstat below catches a file that grew past the size read here.
    const { hash, sizeBytes } = hashFd(fd, buffer, Number(before.size));
    // One lstat answers both questions: does the path still name the inode hashed (not
    // renamed over mid-hash), and is that inode as it was? While the path names it, its
    // attributes are the open descriptor's, so no second fstat is needed.
    let current: fs.BigIntStats;
    try {
      current = fs.lstatSync(task.absolutePath, { bigint: true });
    } catch {
      return { ok: false, message: 'vanished while being hashed' };
    }
    if (current.ino !== before.ino || current.dev !== before.dev) return { ok: false, message: 'replaced while being hashed; not recorded' };
    if (!sameFile(before, current) || BigInt(sizeBytes) !== before.size) {
      return { ok: false, message: 'changed while being hashed; not recorded (index again when it is quiet)' };
    }
    return { ok: true, hash, sizeBytes, mtimeNs: before.mtimeNs };
  } catch (err) {
    return { ok: false, message: `cannot read: ${errnoOrMessage(err)}` };
  } finally {
    fs.closeSync(fd);
  }
}
