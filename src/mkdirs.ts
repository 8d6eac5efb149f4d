// mkdir -p that says why it failed. Node's recursive mkdir reports ENOENT when the real cause
// is a read-only file system (EROFS), and spins forever on file systems that refuse every
// mkdir with ENOENT (/proc). Here each missing folder is made on its own, so the error a
// caller sees is the one the kernel gave for the folder that could not be made.

import fs from 'node:fs';
import path from 'node:path';

function notADirectory(directory: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${directory}'`), { code: 'ENOTDIR', errno: -20, syscall: 'mkdir', path: directory });
}

/**
 * Make `directory` and any missing parents (links to folders are followed, like mkdir -p).
 * Returns the folders it created, outermost first. Throws the failing call's own error.
 */
export function makeDirectories(directory: string, mode?: number): string[] {
  const missing: string[] = [];
  for (let dir = path.resolve(directory); ; ) {
    let stats: fs.Stats;
    try {
      stats = fs.statSync(dir);
    } catch (err) {
      const parent = path.dirname(dir);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === dir) throw err;
      missing.unshift(dir);
      dir = parent;
      continue;
    }
    if (!stats.isDirectory()) throw notADirectory(dir);
    break;
  }
  for (const dir of missing) {
    try {
      fs.mkdirSync(dir, mode === undefined ? undefined : { mode });
    } catch (err) {
      // Made by someone else meanwhile is fine.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(dir).isDirectory()) throw err;
    }
  }
  return missing;
}
