// What a real laptop does to squirrel, through the real binary: a disk that fills up while
// restore writes, photos dated before 1970 or past 2262. Each case was a way to lose a file (or
// to stop backing one up) that a user's-eye attempt found.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashBytes, hashFile } from '../../src/hash.js';
import { bin, cleanupTempDirs, CliResult, json, makeSandbox, OffloadReport, RestoreReport, rowStatuses, Sandbox, StatusReport, withConfig, withStore } from '../helpers.js';
import { mountSupport, smallDisk, unmountAll } from '../mounts.js';
import { NOW, setup } from '../scenarios.js';

afterEach(() => {
  unmountAll();
  cleanupTempDirs();
});

const mounts = mountSupport().bind;
if (mounts !== null && process.env.CI) throw new Error(`mount tests cannot run here: ${mounts}`);

function squirrel(sb: Sandbox, ...args: string[]): CliResult {
  return bin(withConfig(sb, '--no-progress', ...args), { nowNs: NOW });
}

function randomBytes(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

describe.skipIf(mounts !== null)('a volume on a disk that fills up', () => {
  it('restore never places a file the disk could only hold part of; once there is room, it all comes back', async () => {
    // setup: a 2 MiB volume disk with three 300 KB photos, offloaded; then a download leaves ~450 KiB free
    const sb = makeSandbox({});
    smallDisk(sb.volumePath, 2048);
    const photos = { 'p1.jpg': randomBytes(300_000, 1), 'p2.jpg': randomBytes(300_000, 2), 'p3.jpg': randomBytes(300_000, 3) };
    for (const [name, bytes] of Object.entries(photos)) fs.writeFileSync(path.join(sb.volumePath, name), bytes);
    await setup(sb, ['index', 'photos']);
    await setup(sb, ['sync', 'photos', '--init']);
    await setup(sb, ['offload', 'photos', '.']);
    const free = Number(fs.statfsSync(sb.volumePath).bavail) * Number(fs.statfsSync(sb.volumePath).bsize);
    const download = path.join(sb.volumePath, 'downloads.bin');
    fs.writeFileSync(download, Buffer.alloc(Math.max(0, free - 450 * 1024)));
    // act
    const restore = squirrel(sb, '--json', 'restore', 'photos', '.');
    // expect: what was placed is whole; what did not fit failed, with no piece of it left behind
    expect(restore.code, restore.stderr).toBe(1);
    const report = json<RestoreReport>(restore);
    expect(report.failures.length).toBeGreaterThan(0);
    for (const failure of report.failures) expect(failure.reason).toMatch(/no space left|ENOSPC/i);
    const statuses = rowStatuses(sb);
    for (const [name, bytes] of Object.entries(photos)) {
      const file = path.join(sb.volumePath, name);
      const placed = report.restored.some((r) => r.path === name);
      expect(fs.existsSync(file), name).toBe(placed);
      expect(statuses[name], name).toBe(placed ? 'present' : 'offloaded');
      if (placed) expect(hashFile(file).hash.equals(hashBytes(bytes)), `${name} is whole`).toBe(true);
    }
    expect(fs.readdirSync(sb.volumePath).filter((n) => n.includes('.tmp'))).toEqual([]);
    // act: the download is deleted, and the rest is restored
    fs.rmSync(download);
    const again = squirrel(sb, 'restore', 'photos', '.');
    // expect
    expect(again.code, again.stderr).toBe(0);
    for (const [name, bytes] of Object.entries(photos)) expect(hashFile(path.join(sb.volumePath, name)).hash.equals(hashBytes(bytes)), name).toBe(true);
  });
});

describe('photos dated outside 1970 to 2262', () => {
  it('a scan dated 1955 comes back from restore dated 1955, not today', async () => {
    // setup
    const sb = makeSandbox({ 'wedding-1955.jpg': 'scanned', 'today.jpg': 'new' });
    const june1955 = Date.UTC(1955, 5, 18, 14, 0, 0) / 1000;
    fs.utimesSync(path.join(sb.volumePath, 'wedding-1955.jpg'), new Date(june1955 * 1000), new Date(june1955 * 1000));
    await setup(sb, ['index', 'photos']);
    await setup(sb, ['sync', 'photos', '--init']);
    await setup(sb, ['offload', 'photos', 'wedding-1955.jpg']);
    // act
    const restore = squirrel(sb, 'restore', 'photos', '.');
    // expect
    expect(restore.code, restore.stderr).toBe(0);
    const mtime = fs.statSync(path.join(sb.volumePath, 'wedding-1955.jpg')).mtimeMs / 1000;
    expect(mtime).toBe(june1955);
    expect(withStore(sb, (store, volumeId) => store.files.livePath(volumeId, 'wedding-1955.jpg')!.mtimeNs)).toBe(BigInt(june1955) * 1_000_000_000n);
  });

  it('a file dated past 2262 is named as an error of that file; the rest of the volume is indexed and backed up, and status is red', async () => {
    // setup: one file with a garbage date from a zip, beside ordinary ones
    const sb = makeSandbox({ 'a.jpg': 'alpha', 'from-zip.txt': 'garbage date', 'b.jpg': 'bravo' });
    const year2300 = new Date(Date.UTC(2300, 0, 1));
    fs.utimesSync(path.join(sb.volumePath, 'from-zip.txt'), year2300, year2300);
    // act
    const index = squirrel(sb, 'index', 'photos');
    const sync = squirrel(sb, 'sync', 'photos', '--init');
    const status = squirrel(sb, '--json', 'status', 'photos');
    // expect
    expect(index.code, index.stderr).toBe(1);
    expect(index.stdout + index.stderr).toMatch(/from-zip\.txt: its modification time is outside what the index records/);
    expect(index.stdout + index.stderr).not.toMatch(/internal error/);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present', 'b.jpg': 'present' });
    expect(sync.code, sync.stderr).toBe(0);
    expect(json<StatusReport>(status).volumes[0].light).toBe('red');
  });
});

describe('a file another program holds open', () => {
  it('is kept, naming the program, while the rest is offloaded; once closed it goes', async () => {
    // setup: a mail client keeps its mailbox open for appending; a photo beside it
    const sb = makeSandbox({ 'mail/inbox.mbox': 'From a\n', 'p1.jpg': 'photo' });
    await setup(sb, ['index', 'photos']);
    await setup(sb, ['sync', 'photos', '--init']);
    const mailbox = path.join(sb.volumePath, 'mail/inbox.mbox');
    const holder = spawn(process.execPath, ['-e', `require('fs').openSync(${JSON.stringify(mailbox)}, 'a'); console.log('open'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      // act
      const offload = squirrel(sb, '--json', 'offload', 'photos', '.');
      // expect: the mailbox is drift, named with the program holding it; the photo is gone
      expect(offload.code, offload.stderr).toBe(0);
      const report = json<OffloadReport>(offload);
      expect(report.execution?.offloaded).toEqual(['p1.jpg']);
      expect(report.execution?.drift).toEqual([{ path: 'mail/inbox.mbox', reason: expect.stringMatching(new RegExp(`open in another program \\(node, pid ${holder.pid}\\)`)) }]);
      expect(fs.readFileSync(mailbox, 'utf8')).toBe('From a\n');
    } finally {
      holder.kill();
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    // once the program has closed it, the next offload takes it
    const again = squirrel(sb, '--json', 'offload', 'photos', '.');
    expect(json<OffloadReport>(again).execution?.offloaded).toEqual(['mail/inbox.mbox']);
    expect(fs.existsSync(mailbox)).toBe(false);
  });
});
