// What the Linux mount table says about a path (nothing elsewhere: no table, no answers).
// A bind mount shows a folder of one file system at a second place, and walking up from that
// place never meets the folders that really hold it; the table names the folder it shows, so
// a place can be known by both spellings. And a mount point in /etc/fstab with nothing
// mounted is an empty folder on the system disk, not the drive it stands for.

import fs from 'node:fs';
import path from 'node:path';

interface Mount {
  device: string;
  /** The folder of the file system shown here ('/' for a whole file system). */
  root: string;
  mountPoint: string;
}

/** `\040` and friends, as the kernel escapes blanks in mount paths. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function readMounts(): Mount[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = line.split(' ');
      return { device: fields[2], root: unescape(fields[3]), mountPoint: unescape(fields[4]) };
    });
}

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent === '/' ? '/' : `${parent}/`);
}

function below(child: string, parent: string): string {
  return parent === '/' ? child.slice(1) : child.slice(parent.length + 1);
}

/**
 * Where else a real (symlink-free) path can be reached: when the mount that holds it shows a
 * folder of its file system (a bind mount), the same folder as reached through another mount
 * of that file system that shows more of it. Null when there is no such spelling.
 */
export function otherSpelling(realPath: string): string | null {
  const mounts = readMounts();
  // The last mount on the longest matching mount point is the one in effect.
  let holder: Mount | null = null;
  for (const m of mounts) if (inside(realPath, m.mountPoint) && (!holder || m.mountPoint.length >= holder.mountPoint.length)) holder = m;
  if (!holder || holder.root === '/') return null;
  const shown = path.join(holder.root, below(realPath, holder.mountPoint));
  const wider = mounts
    .filter((m) => m !== holder && m.device === holder.device && inside(holder.root, m.root) && m.root.length < holder.root.length)
    .sort((a, b) => a.root.length - b.root.length)[0];
  if (!wider) return null;
  return path.join(wider.mountPoint, below(shown, wider.root));
}

/**
 * The mount point in /etc/fstab that `target` is (or lies below) while nothing is mounted
 * there, or null. Writing there would put a "backup" on the disk the mount point sits on.
 */
export function unmountedFstabMountPoint(target: string, fstabPath = '/etc/fstab'): string | null {
  let fstab: string;
  try {
    fstab = fs.readFileSync(fstabPath, 'utf8');
  } catch {
    return null;
  }
  const mounted = new Set(readMounts().map((m) => m.mountPoint));
  const absolute = path.resolve(target);
  for (const line of fstab.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 2 || fields[0].startsWith('#')) continue;
    const mountPoint = unescape(fields[1]);
    if (mountPoint === '/' || !mountPoint.startsWith('/') || fields[2] === 'swap') continue;
    if (inside(absolute, mountPoint) && !mounted.has(mountPoint)) return mountPoint;
  }
  return null;
}
