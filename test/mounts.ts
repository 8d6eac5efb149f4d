// Real file systems for the tests that only mean something on them: bind mounts
// (`mount --bind`) and exFAT (exfatprogs' mkfs.exfat on an image attached to a loop device,
// mounted with exfat-fuse), the case-folding file system most USB backup drives carry.
// Both need root; .ci/run installs the packages and CI runs as root. Every mount made here is
// undone by unmountAll() (call it in afterEach), even when the test failed half way.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './helpers.js';

interface Undo {
  what: string;
  undo: () => void;
}

const undoStack: Undo[] = [];

function run(command: string, args: string[]): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000 });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`.trim() };
}

function onPath(command: string): boolean {
  return run('sh', ['-c', `command -v ${command}`]).ok;
}

let support: { bind: string | null; exfat: string | null } | null = null;

/** Why each kind of mount is unavailable here (null: available). Probed once per process. */
export function mountSupport(): { bind: string | null; exfat: string | null } {
  if (support) return support;
  const root = process.getuid?.() === 0 ? null : 'mounting needs root';
  let bind = root;
  if (bind === null) {
    const dir = tempDir('squirrel-mount-probe-');
    const [a, b] = [path.join(dir, 'a'), path.join(dir, 'b')];
    fs.mkdirSync(a);
    fs.mkdirSync(b);
    const mounted = run('mount', ['--bind', a, b]);
    if (mounted.ok) run('umount', [b]);
    bind = mounted.ok ? null : `mount --bind failed: ${mounted.output}`;
  }
  let exfat = root;
  if (exfat === null) {
    const missing = ['mkfs.exfat', 'mount.exfat-fuse', 'losetup'].filter((c) => !onPath(c));
    if (missing.length > 0) exfat = `missing ${missing.join(', ')} (Debian: apt-get install exfatprogs exfat-fuse)`;
    else if (!fs.existsSync('/dev/fuse')) exfat = '/dev/fuse is missing';
  }
  support = { bind, exfat };
  return support;
}

/** `mount --bind source target` (target created); undone by unmountAll. */
export function bindMount(source: string, target: string): void {
  fs.mkdirSync(target, { recursive: true });
  const result = run('mount', ['--bind', source, target]);
  if (!result.ok) throw new Error(`mount --bind ${source} ${target}: ${result.output}`);
  undoStack.push({ what: `umount ${target}`, undo: () => unmount(target) });
}

/** A tmpfs of `sizeKiB` mounted on `target` (created): a disk that fills up. Undone by unmountAll. */
export function smallDisk(target: string, sizeKiB: number): void {
  fs.mkdirSync(target, { recursive: true });
  const result = run('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k`, 'tmpfs', target]);
  if (!result.ok) throw new Error(`mount -t tmpfs ${target}: ${result.output}`);
  undoStack.push({ what: `umount ${target}`, undo: () => unmount(target) });
}

/**
 * A fresh exFAT file system of `sizeMiB` on a loop device, mounted at a new directory, which
 * is returned. Undone by unmountAll (unmount, detach the loop device).
 */
export function exfatDrive(sizeMiB = 64, label = 'drive'): string {
  const dir = tempDir('squirrel-exfat-');
  const image = path.join(dir, `${label}.img`);
  const mountPoint = path.join(dir, label);
  fs.mkdirSync(mountPoint);
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, sizeMiB * 1024 * 1024);
  const mkfs = run('mkfs.exfat', ['-L', label.slice(0, 11), image]);
  if (!mkfs.ok) throw new Error(`mkfs.exfat: ${mkfs.output}`);
  const attach = run('losetup', ['--find', '--show', image]);
  if (!attach.ok) throw new Error(`losetup: ${attach.output}`);
  const device = attach.output.split('\n').pop()!.trim();
  undoStack.push({ what: `losetup -d ${device}`, undo: () => void run('losetup', ['-d', device]) });
  const mounted = run('mount.exfat-fuse', [device, mountPoint]);
  if (!mounted.ok) throw new Error(`mount.exfat-fuse ${device}: ${mounted.output}`);
  undoStack.push({ what: `umount ${mountPoint}`, undo: () => unmount(mountPoint) });
  return mountPoint;
}

function unmount(target: string): void {
  for (let attempt = 0; attempt < 20; attempt++) {
    if (run('umount', [target]).ok) return;
    // a process that just exited may still hold a file open for a moment
    spawnSync('sleep', ['0.1']);
  }
  run('umount', ['-l', target]);
}

/** Undo every mount and loop device made by this process, newest first. */
export function unmountAll(): void {
  for (const step of undoStack.splice(0).reverse()) {
    try {
      step.undo();
    } catch {
      // best effort: the next step may still free the rest
    }
  }
}
