// The mount table's two answers: the other spelling of a place behind a bind mount (a real
// bind mount, as root), and an /etc/fstab mount point with nothing mounted (a table written
// here, so the machine's own fstab is never touched).

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { otherSpelling, unmountedFstabMountPoint } from '../src/mount-table.js';
import { cleanupTempDirs, tempDir } from './helpers.js';
import { bindMount, mountSupport, unmountAll } from './mounts.js';

afterEach(() => {
  unmountAll();
  cleanupTempDirs();
});

const bind = mountSupport().bind;
if (bind !== null && process.env.CI) throw new Error(`bind mount tests cannot run here: ${bind}`);

describe.skipIf(bind !== null)('otherSpelling', () => {
  it('a folder shown by a bind mount is also reached where its file system really holds it', () => {
    // setup
    const dir = fs.realpathSync(tempDir());
    const share = path.join(dir, 'usbdrive', 'nas-share');
    fs.mkdirSync(path.join(share, 'inner'), { recursive: true });
    bindMount(share, path.join(dir, 'srv-nas'));
    // act + expect
    expect(otherSpelling(path.join(dir, 'srv-nas', 'inner'))).toBe(path.join(share, 'inner'));
    expect(otherSpelling(path.join(dir, 'srv-nas'))).toBe(share);
    expect(otherSpelling(share)).toBeNull();
  });
});

describe('unmountedFstabMountPoint', () => {
  it('names an fstab mount point with nothing mounted that the path is, or lies below; not a mounted one, / or swap', () => {
    // setup
    const fstab = path.join(tempDir(), 'fstab');
    fs.writeFileSync(
      fstab,
      [
        '# <file system> <mount point> <type> <options> <dump> <pass>',
        'UUID=1234 / ext4 defaults 0 1',
        'UUID=abcd /mnt/backup\\040drive exfat noauto,nofail 0 0',
        'UUID=ef01 none swap sw 0 0',
        'proc /proc proc defaults 0 0',
        '',
      ].join('\n'),
    );
    // act + expect
    expect(unmountedFstabMountPoint('/mnt/backup drive', fstab)).toBe('/mnt/backup drive');
    expect(unmountedFstabMountPoint('/mnt/backup drive/squirrel', fstab)).toBe('/mnt/backup drive');
    expect(unmountedFstabMountPoint('/mnt/backup drive2', fstab)).toBeNull();
    expect(unmountedFstabMountPoint('/home/ann/backup', fstab)).toBeNull();
    expect(unmountedFstabMountPoint('/proc/x', fstab)).toBeNull();
    expect(unmountedFstabMountPoint('/x', path.join(tempDir(), 'absent'))).toBeNull();
  });
});
