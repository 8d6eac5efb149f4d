// Files another program holds open (Linux: /proc/<pid>/fd). A mail client, a logger or an
// editor that keeps a file open and writes through its descriptor would write into an inode
// offload unlinked, and that write would be lost when it closes; such a file is kept. Only
// processes this user may look at are seen (all of them as root), which covers the user's own
// programs. Elsewhere (no /proc) nothing is known and nothing is refused for it.

import fs from 'node:fs';

export interface Holder {
  pid: number;
  /** The program's name (/proc/<pid>/comm), or '?' when it could not be read. */
  command: string;
}

/** Descriptors that are not files on a disk: not worth a stat. */
const NOT_A_FILE = /^(socket|pipe|anon_inode|\/dev\/|\/proc\/|\/sys\/|\/memfd:)/;

/** `dev:ino` of every regular file some other process has open, with one holder of each. */
export function openFiles(): Map<string, Holder> {
  const open = new Map<string, Holder>();
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid);
  } catch {
    return open;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to look at
    }
    let command: string | null = null;
    for (const fd of fds) {
      const link = `/proc/${pid}/fd/${fd}`;
      try {
        if (NOT_A_FILE.test(fs.readlinkSync(link))) continue;
        const stat = fs.statSync(link, { bigint: true });
        if (!stat.isFile()) continue;
        command ??= readCommand(pid);
        open.set(`${stat.dev}:${stat.ino}`, { pid: Number(pid), command });
      } catch {
        // closed meanwhile
      }
    }
  }
  return open;
}

function readCommand(pid: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}
