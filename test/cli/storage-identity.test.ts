// Storage identity end to end through the real binary (SPEC §7): a copy counts only if it is a
// distinct physical copy of the exact bytes. Each case is a setup real users have (a volume
// that is a link into its own backup, two destinations reaching one folder, two machines on
// one NAS, rot that restore met, a clock that jumped) and the verdict is read off the disks
// by the independent check in test/physical.ts, never off squirrel's ledger.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, binSpawn, CliResult, DAY_NS, json, tempDir, TEST_NOW_NS, waitForFile } from '../helpers.js';
import { holdingsUnder, lostFiles, sha256 } from '../physical.js';
import { bindMount, mountSupport, unmountAll } from '../mounts.js';
import { cleanupTempDirs } from '../helpers.js';

afterEach(() => {
  unmountAll();
  cleanupTempDirs();
});

interface Node {
  dir: string;
  configPath: string;
  volumeRoot: string;
  destinations: Record<string, string>;
  written: Record<string, string>;
  run(...args: string[]): CliResult;
  config: Record<string, unknown>;
  writeConfig(change?: (config: Record<string, any>) => void): void; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One machine: a config, a database, a volume `photos` with files, local destinations. */
function machine(options: {
  dir?: string;
  node?: string;
  volumePath?: string;
  destinations: Record<string, string>;
  files?: Record<string, string>;
  db?: string;
  volume?: Record<string, unknown>;
  nowNs?: bigint;
}): Node {
  const dir = options.dir ?? tempDir();
  const node = options.node ?? 'laptop';
  const volumeRoot = options.volumePath ?? path.join(dir, 'photos');
  const names = Object.keys(options.destinations);
  const m: Node = {
    dir,
    configPath: path.join(dir, `${node}.yaml`),
    volumeRoot,
    destinations: options.destinations,
    written: {},
    config: {},
    run: (...args) => bin(['--config', m.configPath, '--no-progress', ...args], { nowNs: options.nowNs ?? TEST_NOW_NS }),
    writeConfig(change) {
      const config: Record<string, any> = { // eslint-disable-line @typescript-eslint/no-explicit-any
        node,
        db: options.db ?? path.join(dir, `${node}.db`),
        volumes: { photos: { path: volumeRoot, sync_to: names, offload_requires: names, ...(options.volume ?? {}) } },
        destinations: Object.fromEntries(names.map((n) => [n, { type: 'local', path: options.destinations[n] }])),
      };
      change?.(config);
      m.config = config;
      fs.writeFileSync(m.configPath, YAML.stringify(config));
    },
  };
  if (!fs.existsSync(volumeRoot)) fs.mkdirSync(volumeRoot, { recursive: true });
  for (const [relative, text] of Object.entries(options.files ?? {})) write(m, relative, text);
  m.writeConfig();
  return m;
}

function write(m: Node, relative: string, text: string, mode?: number): void {
  const target = path.join(m.volumeRoot, relative);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, text, mode === undefined ? undefined : { mode });
  if (mode !== undefined) fs.chmodSync(target, mode);
  m.written[relative] = sha256(text);
}

function ok(result: CliResult, what: string): CliResult {
  expect(result.code, `${what}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
}

function lost(m: Node): string[] {
  return lostFiles({ volumeRoot: m.volumeRoot, destinations: m.destinations }, m.written);
}

const FILES = { 'p1.jpg': 'one', 'p2.jpg': 'two two', 'sub/p3.jpg': 'three three three' };

describe('case 1: the volume is its own backup', () => {
  it('a volume path that is a symlink into its destination namespace is refused (exit 2, naming both), and nothing is lost', () => {
    // setup: nas and usb initialised; the volume's files sit in nas/photos, the volume path links there
    const dir = tempDir();
    const destinations = { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') };
    const seed = machine({ dir, destinations, files: {}, volumePath: path.join(dir, 'seed') });
    ok(seed.run('index', 'photos'), 'seed index');
    ok(seed.run('sync', '--init'), 'init');
    const namespace = path.join(destinations.nas, 'photos');
    fs.mkdirSync(namespace, { recursive: true });
    const m = machine({ dir, destinations, volumePath: path.join(dir, 'photos-link') });
    fs.rmSync(m.volumeRoot, { recursive: true });
    fs.symlinkSync(namespace, m.volumeRoot);
    for (const [relative, text] of Object.entries(FILES)) write(m, relative, text);
    // act
    const check = m.run('config', 'check');
    const index = m.run('index', 'photos');
    const sync = m.run('sync');
    const offload = m.run('offload', 'photos', '.');
    // expect: refused as overlapping places, naming both; every file still has its bytes somewhere safe
    expect(check.code, check.stderr).toBe(2);
    expect(check.stderr).toMatch(/overlap|inside|same place/i);
    expect(check.stderr).toContain(namespace);
    for (const result of [index, sync, offload]) expect(result.code, result.stderr).toBe(2);
    expect(lost(m)).toEqual([]);
    for (const [relative, hash] of Object.entries(m.written)) expect(sha256(fs.readFileSync(path.join(namespace, relative)))).toBe(hash);
  });

  it('a destination reached through a link into the volume is refused', () => {
    // setup
    const dir = tempDir();
    const volumeRoot = path.join(dir, 'photos');
    fs.mkdirSync(path.join(volumeRoot, 'backup'), { recursive: true });
    fs.symlinkSync(path.join(volumeRoot, 'backup'), path.join(dir, 'usb-link'));
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb-link') }, files: FILES });
    // act
    const check = m.run('config', 'check');
    const sync = m.run('sync', '--init');
    // expect
    expect(check.code, check.stderr).toBe(2);
    expect(check.stderr).toContain(volumeRoot);
    expect(sync.code).toBe(2);
    expect(fs.readdirSync(path.join(volumeRoot, 'backup'))).toEqual([]);
  });

  it('a database inside the volume through a symlinked directory is refused before anything indexes or offloads it', () => {
    // setup: db path goes through a link to a folder inside the volume
    const dir = tempDir();
    const volumeRoot = path.join(dir, 'photos');
    fs.mkdirSync(path.join(volumeRoot, 'private'), { recursive: true });
    fs.symlinkSync(path.join(volumeRoot, 'private'), path.join(dir, 'dblink'));
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') }, files: FILES, db: path.join(dir, 'dblink', 'index.db') });
    // act
    const check = m.run('config', 'check');
    const index = m.run('index', 'photos');
    // expect
    expect(check.code, check.stderr).toBe(2);
    expect(check.stderr).toMatch(/database|db/);
    expect(index.code).toBe(2);
  });

  it.skipIf(mountSupport().bind !== null)('a volume bind-mounted from its destination namespace is refused', () => {
    // setup: nas/photos holds the files; the volume directory is a bind mount of it
    const dir = tempDir();
    const destinations = { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') };
    const seed = machine({ dir, destinations, volumePath: path.join(dir, 'seed') });
    ok(seed.run('index', 'photos'), 'seed index');
    ok(seed.run('sync', '--init'), 'init');
    const namespace = path.join(destinations.nas, 'photos');
    fs.mkdirSync(namespace, { recursive: true });
    const m = machine({ dir, destinations, volumePath: path.join(dir, 'mounted') });
    bindMount(namespace, m.volumeRoot);
    for (const [relative, text] of Object.entries(FILES)) write(m, relative, text);
    // act
    const check = m.run('config', 'check');
    m.run('index', 'photos');
    m.run('sync');
    const offload = m.run('offload', 'photos', '.');
    // expect
    expect(check.code, check.stderr).toBe(2);
    expect(offload.code).toBe(2);
    expect(lost(m)).toEqual([]);
  });

  it.skipIf(mountSupport().bind !== null)('two destinations where one is a bind mount of the other are refused', () => {
    // setup
    const dir = tempDir();
    const nas = path.join(dir, 'nas');
    const usb = path.join(dir, 'usb');
    fs.mkdirSync(nas);
    bindMount(nas, usb);
    const m = machine({ dir, destinations: { nas, usb }, files: FILES });
    // act
    const check = m.run('config', 'check');
    const sync = m.run('sync', '--init');
    // expect
    expect(check.code, check.stderr).toBe(2);
    expect(check.stderr).toContain(nas);
    expect(check.stderr).toContain(usb);
    expect(sync.code).toBe(2);
  });
});

describe('found by trying to lose files as a user would', () => {
  it("a destination's folder inside the volume (a copied backup, a share mounted inside it) is refused by index, before anything is offloaded", () => {
    // setup: a backup folder of another squirrel destination sits inside the volume
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas') }, files: { 'a.jpg': 'mine' } });
    fs.mkdirSync(path.join(m.volumeRoot, 'old-backup', 'photos'), { recursive: true });
    fs.writeFileSync(path.join(m.volumeRoot, 'old-backup', '.squirrel-destination'), '{"squirrel":2,"name":"usb"}');
    fs.writeFileSync(path.join(m.volumeRoot, 'old-backup', 'photos', 'b.jpg'), 'a copy someone relies on');
    // act
    const index = m.run('index', 'photos');
    // expect
    expect(index.code, index.stderr).toBe(2);
    expect(index.stderr).toMatch(/holds a squirrel destination: old-backup\/\.squirrel-destination/);
  });

  it('sync --init creates the destination folder but never the folders above it (a drive that is not mounted)', () => {
    // setup
    const dir = tempDir();
    const m = machine({ dir, destinations: { usb: path.join(dir, 'media', 'BACKUP', 'squirrel') }, files: { 'a.jpg': 'x' } });
    ok(m.run('index', 'photos'), 'index');
    // act
    const sync = m.run('sync', '--init');
    // expect
    expect(sync.code).toBe(1);
    expect(sync.stdout + sync.stderr).toMatch(/BACKUP does not exist.*is the drive mounted/);
    expect(fs.existsSync(path.join(dir, 'media'))).toBe(false);
  });

  it('a save that replaces the file (a new file renamed over it) at the last moment is kept; only the checked inode could go', async () => {
    // setup: a.doc pushed to both; offload paused after its last look, before it moves the file away
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') }, files: { 'a.doc': 'old version' } });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync');
    const pause = path.join(dir, 'pause');
    const child = binSpawn(['--config', m.configPath, '--no-progress', 'offload', 'photos', '.'], {
      nowNs: TEST_NOW_NS,
      env: { SQUIRREL_TEST_PAUSE_AT: 'offload.before-rename', SQUIRREL_TEST_PAUSE_FILE: pause },
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    await waitForFile(pause);
    // act: the editor saves: a temp file renamed over the original
    fs.writeFileSync(path.join(m.volumeRoot, '.~a.doc.tmp'), 'NEW version, not backed up');
    fs.renameSync(path.join(m.volumeRoot, '.~a.doc.tmp'), path.join(m.volumeRoot, 'a.doc'));
    fs.rmSync(pause);
    await new Promise((resolve) => child.once('exit', resolve));
    // expect: the new version is at its path; nothing was offloaded; no private name is left
    expect(fs.readFileSync(path.join(m.volumeRoot, 'a.doc'), 'utf8')).toBe('NEW version, not backed up');
    expect(stdout).toMatch(/offloaded=0 /);
    expect(fs.readdirSync(m.volumeRoot).filter((n) => n.startsWith('.squirrel-offload'))).toEqual([]);
  });
});

describe('case 2: two destinations, one place', () => {
  it('usb/photos replaced by a link to nas/photos after both were initialised: nothing is offloaded on one physical copy', () => {
    // setup: a normal start, both destinations pushed and verified
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') }, files: FILES });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync');
    fs.rmSync(path.join(m.destinations.usb, 'photos'), { recursive: true });
    fs.symlinkSync(path.join(m.destinations.nas, 'photos'), path.join(m.destinations.usb, 'photos'));
    // act
    const verify = m.run('verify');
    const offload = m.run('offload', 'photos', '.');
    // expect: refused, files kept
    expect(verify.code).not.toBe(0);
    expect(offload.code, offload.stdout + offload.stderr).toBe(2);
    expect(`${offload.stderr}`).toMatch(/same place|overlap|namespace/i);
    for (const relative of Object.keys(FILES)) expect(fs.existsSync(path.join(m.volumeRoot, relative))).toBe(true);
    expect(lost(m)).toEqual([]);
  });

  it.skipIf(mountSupport().bind !== null)('a NAS share that is a bind mount of a folder on the USB drive is refused as one place, like its symlink spelling', () => {
    // setup: /srv/nas is a bind mount of usbdrive/nas-share, as home servers export it
    const dir = fs.realpathSync(tempDir());
    const share = path.join(dir, 'usbdrive', 'nas-share');
    fs.mkdirSync(share, { recursive: true });
    bindMount(share, path.join(dir, 'srv-nas'));
    const m = machine({ dir, destinations: { usb: path.join(dir, 'usbdrive'), nas: path.join(dir, 'srv-nas', 'squirrel') }, files: FILES });
    // act
    const check = m.run('config', 'check');
    const index = m.run('index', 'photos');
    const sync = m.run('sync', '--init');
    // expect: every command refuses the config; nothing lands on the drive
    expect(check.code).toBe(2);
    expect(check.stdout + check.stderr).toMatch(/destination 'nas'.* lies inside destination 'usb'/);
    expect([index.code, sync.code]).toEqual([2, 2]);
    expect(holdingsUnder(path.join(dir, 'usbdrive')).size).toBe(0);
  });
});

describe('case 3b: a destination renamed in the config', () => {
  it('is told to take its old name back, also after its marker was edited; nothing offloaded to it is lost', () => {
    // setup: a.jpg offloaded with usb's copy; the user renames usb to usb-blue in the config
    const dir = tempDir();
    const usb = path.join(dir, 'usb');
    const m = machine({ dir, destinations: { usb }, files: { 'a.jpg': 'alpha', 'b.jpg': 'bravo' } });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync');
    ok(m.run('offload', 'photos', 'a.jpg'), 'offload');
    const rename = (from: string, to: string) =>
      m.writeConfig((c) => {
        c.destinations = { [to]: c.destinations[from] ?? { type: 'local', path: usb } };
        c.volumes.photos.sync_to = [to];
        c.volumes.photos.offload_requires = [to];
      });
    rename('usb', 'usb-blue');
    // act
    const renamed = m.run('sync');
    const marker = path.join(usb, '.squirrel-destination');
    fs.writeFileSync(marker, fs.readFileSync(marker, 'utf8').replace('"name":"usb"', '"name":"usb-blue"'));
    const markerEdited = m.run('sync');
    // expect: both say to give it back its name; neither suggests editing the marker
    expect(renamed.stdout + renamed.stderr).toMatch(/give it back its name 'usb'/);
    expect(renamed.stdout + renamed.stderr).not.toMatch(/edit the name/);
    expect(markerEdited.code).toBe(2);
    expect(markerEdited.stdout + markerEdited.stderr).toMatch(/knows as 'usb'.*Give it back its name 'usb'/);
    // and taking the old name back brings everything back
    fs.writeFileSync(marker, fs.readFileSync(marker, 'utf8').replace('"name":"usb-blue"', '"name":"usb"'));
    rename('usb-blue', 'usb');
    ok(m.run('sync'), 'sync under the old name');
    ok(m.run('restore', 'photos', 'a.jpg'), 'restore');
    expect(fs.readFileSync(path.join(m.volumeRoot, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(lost(m)).toEqual([]);
  });
});

describe('case 4: two machines, one destination', () => {
  it("the desktop never writes into the laptop's namespace; the laptop's offload and restore keep the laptop's bytes", () => {
    // setup: laptop and desktop both have volume 'photos' and push to one NAS (plus their own usb)
    const dir = tempDir();
    const nas = path.join(dir, 'nas');
    const laptop = machine({ dir: path.join(dir, 'laptop'), node: 'laptop', destinations: { nas, usb: path.join(dir, 'laptop-usb') }, files: { 'IMG_0001.JPG': 'laptop bytes' } });
    const desktop = machine({ dir: path.join(dir, 'desktop'), node: 'desktop', destinations: { nas, usb: path.join(dir, 'desktop-usb') }, files: { 'IMG_0001.JPG': 'desktop bytes!' } });
    ok(laptop.run('index', 'photos'), 'laptop index');
    ok(laptop.run('sync', '--init'), 'laptop sync');
    ok(desktop.run('index', 'photos'), 'desktop index');
    // act
    const desktopSync = desktop.run('sync', '--init', '--to', 'nas');
    const offload = laptop.run('offload', 'photos', '.');
    const restore = laptop.run('restore', 'photos', '.', '--from', 'nas');
    // expect: the desktop is refused, told who owns the namespace and how to pick another
    expect(desktopSync.code, desktopSync.stdout + desktopSync.stderr).not.toBe(0);
    expect(desktopSync.stdout + desktopSync.stderr).toMatch(/laptop/);
    expect(desktopSync.stdout + desktopSync.stderr).toMatch(/namespace/);
    expect(ok(offload, 'offload').stdout).toMatch(/offloaded=1 /);
    ok(restore, 'restore');
    expect(fs.readFileSync(path.join(laptop.volumeRoot, 'IMG_0001.JPG'), 'utf8')).toBe('laptop bytes');
    // and with a namespace of its own the desktop syncs fine, beside the laptop
    desktop.writeConfig((c) => (c.volumes.photos.namespace = { nas: 'desktop-photos' }));
    ok(desktop.run('sync', '--init', '--to', 'nas'), 'desktop sync with its own namespace');
    expect(fs.readFileSync(path.join(nas, 'desktop-photos', 'IMG_0001.JPG'), 'utf8')).toBe('desktop bytes!');
    expect(fs.readFileSync(path.join(nas, 'photos', 'IMG_0001.JPG'), 'utf8')).toBe('laptop bytes');
  });
});

describe('case 4b: one index, put back from a backup', () => {
  /** Last night's copy of the database; today a sync writes the namespace once more; the disk dies and the copy is put back. */
  function putBackFromBackup(): { dir: string; m: Node } {
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas') }, files: { 'a.jpg': 'alpha' } });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync');
    ok(m.run('offload', 'photos', 'a.jpg'), 'offload');
    const db = path.join(dir, 'laptop.db');
    fs.copyFileSync(db, path.join(dir, 'backup.db'));
    write(m, 'b.jpg', 'bravo');
    ok(m.run('index', 'photos'), 'index today');
    ok(m.run('sync'), 'sync today');
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(db + suffix, { force: true });
    fs.copyFileSync(path.join(dir, 'backup.db'), db);
    ok(m.run('index', 'photos'), 'index with the old database');
    return { dir, m };
  }

  it('a day-old copy of the database, with a newer catalog of its own at the destination, is sent to recover; after it, sync and restore work', () => {
    // setup
    const { dir, m } = putBackFromBackup();
    // act
    const refused = m.run('sync');
    const adopt = m.run('verify', 'photos', '--to', 'nas', '--adopt');
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(path.join(dir, 'laptop.db') + suffix, { force: true });
    const recover = m.run('recover', '--from', 'nas');
    const sync = m.run('sync');
    const restore = m.run('restore', 'photos', '.');
    // expect: the way out named is recover; adopt is refused the same way
    expect(refused.code).toBe(2);
    expect(refused.stdout + refused.stderr).toMatch(/put back from a backup.*squirrel recover --from nas/s);
    expect(adopt.code).not.toBe(0);
    expect(adopt.stdout + adopt.stderr).toMatch(/squirrel recover --from nas/);
    ok(recover, 'recover');
    ok(sync, 'sync after recover');
    ok(restore, 'restore');
    expect(fs.readFileSync(path.join(m.volumeRoot, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(lost(m)).toEqual([]);
  });

  it('the advice to recover does not wear off as cron runs index, and restore is refused the same way, never bringing back the older version', () => {
    // setup
    const { m } = putBackFromBackup();
    for (let i = 0; i < 3; i++) ok(m.run('index', 'photos'), 'cron index');
    // act
    const sync = m.run('sync');
    const restore = m.run('restore', 'photos', '.');
    // expect
    expect(sync.code).toBe(2);
    expect(sync.stdout + sync.stderr).toMatch(/squirrel recover --from nas/);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toMatch(/squirrel recover --from nas/);
    expect(lost(m)).toEqual([]);
  });

  it('with no newer catalog there (an older squirrel published none): verify --adopt re-reads the copies and sync works again', () => {
    // setup
    const { dir, m } = putBackFromBackup();
    fs.rmSync(path.join(dir, 'nas', '.squirrel-catalog'), { recursive: true });
    // act
    const refused = m.run('sync');
    const sampled = m.run('verify', 'photos', '--to', 'nas', '--adopt', '--sample', '10');
    const adopt = m.run('verify', 'photos', '--to', 'nas', '--adopt');
    const sync = m.run('sync');
    const restore = m.run('restore', 'photos', '.');
    // expect: refused with the way out named; a sampled adopt is refused; the full one adopts
    expect(refused.code).toBe(2);
    expect(refused.stderr + refused.stdout).toMatch(/squirrel verify photos --to nas --adopt/);
    expect(sampled.code).toBe(2);
    expect(ok(adopt, 'verify --adopt').stdout).toMatch(/adopted/);
    ok(sync, 'sync after adopting');
    ok(restore, 'restore');
    expect(fs.readFileSync(path.join(m.volumeRoot, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(lost(m)).toEqual([]);
  });

  it('a volume moved to a new namespace syncs there on the first try (the old count is not held against it)', () => {
    // setup
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas') }, files: FILES });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync');
    ok(m.run('sync'), 'sync again');
    m.writeConfig((c) => (c.volumes.photos.namespace = { nas: 'laptop-photos' }));
    // act
    const sync = m.run('sync');
    const again = m.run('sync');
    // expect
    ok(sync, 'first sync into the new namespace');
    ok(again, 'second sync');
    expect(fs.readFileSync(path.join(dir, 'nas', 'laptop-photos', 'p1.jpg'), 'utf8')).toBe('one');
  });
});

describe('case 4c: a destination rolled back to an older snapshot', () => {
  it('is refused until a full verify re-reads it; the newest version is never offloaded onto the old one', () => {
    // setup: version 1 backed up; the NAS snapshots; version 2 (same size) backed up; the NAS is rolled back
    const dir = tempDir();
    const nas = path.join(dir, 'nas');
    const m = machine({ dir, destinations: { nas }, files: { 'F.txt': 'version-1' } });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync --init');
    fs.cpSync(nas, path.join(dir, 'snapshot'), { recursive: true, preserveTimestamps: true });
    write(m, 'F.txt', 'version-2');
    ok(m.run('index', 'photos'), 'index version 2');
    ok(m.run('sync'), 'sync version 2');
    fs.rmSync(nas, { recursive: true });
    fs.cpSync(path.join(dir, 'snapshot'), nas, { recursive: true, preserveTimestamps: true });
    // act
    ok(m.run('index', 'photos'), 'index after the rollback');
    const sync = m.run('sync');
    const offload = m.run('offload', 'photos', '.');
    const adopt = m.run('verify', 'photos', '--to', 'nas', '--adopt');
    const resync = m.run('sync');
    const offloadAfter = m.run('offload', 'photos', '.');
    const restore = m.run('restore', 'photos', '.');
    // expect: sync and offload refuse, naming the rollback and the way out; after it, version 2 is what comes back
    expect(sync.code, sync.stdout + sync.stderr).toBe(2);
    expect(sync.stdout).toMatch(/rolled back to an older state.*squirrel verify photos --to nas --adopt/s);
    expect(offload.stdout + offload.stderr).toMatch(/rolled back/);
    expect(fs.readFileSync(path.join(m.volumeRoot, 'F.txt'), 'utf8')).toBe('version-2');
    expect(adopt.stdout).toMatch(/CORRUPT.*F\.txt/s);
    expect(adopt.stdout).toMatch(/adopted/);
    ok(resync, 'sync after adopting');
    expect(ok(offloadAfter, 'offload').stdout).toMatch(/offloaded=1/);
    ok(restore, 'restore');
    expect(fs.readFileSync(path.join(m.volumeRoot, 'F.txt'), 'utf8')).toBe('version-2');
    expect(lost(m)).toEqual([]);
  });
});

describe("case 4e: one folder at the destination put back to a previous version", () => {
  it('its same-size old file is not counted by offload, and sync reads it again and re-sends the newest', () => {
    // setup: sub/F.txt version 1 backed up; the folder saved; version 2 (same size) backed up; the folder put back
    const dir = tempDir();
    const nas = path.join(dir, 'nas');
    const m = machine({ dir, destinations: { nas }, files: { 'sub/F.txt': 'version-1', 'other.txt': 'other' } });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync --init');
    const folder = path.join(nas, 'photos', 'sub');
    fs.cpSync(folder, path.join(dir, 'previous'), { recursive: true, preserveTimestamps: true });
    write(m, 'sub/F.txt', 'version-2');
    ok(m.run('index', 'photos'), 'index version 2');
    ok(m.run('sync'), 'sync version 2');
    fs.rmSync(folder, { recursive: true });
    fs.cpSync(path.join(dir, 'previous'), folder, { recursive: true, preserveTimestamps: true });
    // act
    const offload = m.run('offload', 'photos', '.');
    const kept = fs.existsSync(path.join(m.volumeRoot, 'sub', 'F.txt'));
    const sync = m.run('sync');
    const offloadAfter = m.run('offload', 'photos', '.');
    // expect: the first offload keeps F.txt, naming why; sync re-sends it; then it goes, with version 2 at nas
    expect(offload.stdout + offload.stderr).toMatch(/not the file whose bytes were read there/);
    expect(kept).toBe(true);
    expect(ok(sync, 'sync').stdout).toMatch(/sent=1 .*moved_aside=1/);
    expect(ok(offloadAfter, 'offload').stdout).toMatch(/offloaded=1 /);
    expect(fs.readFileSync(path.join(folder, 'F.txt'), 'utf8')).toBe('version-2');
    expect(lost(m)).toEqual([]);
  });
});

describe('case 4d: the laptop lost, the NAS rolled back the same night', () => {
  it('recover keeps the write counts it knew: the rolled-back NAS is refused, never counted as the second copy', () => {
    // setup: version 2 went to both; the NAS is put back to before it; the database is lost
    const dir = tempDir();
    const [nas, usb] = [path.join(dir, 'nas'), path.join(dir, 'usb')];
    const m = machine({ dir, destinations: { nas, usb }, files: { 'F.txt': 'version-1' } });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync --init');
    fs.cpSync(nas, path.join(dir, 'snapshot'), { recursive: true, preserveTimestamps: true });
    write(m, 'F.txt', 'version-2');
    ok(m.run('index', 'photos'), 'index version 2');
    ok(m.run('sync'), 'sync version 2');
    fs.rmSync(nas, { recursive: true });
    fs.cpSync(path.join(dir, 'snapshot'), nas, { recursive: true, preserveTimestamps: true });
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(path.join(dir, 'laptop.db') + suffix, { force: true });
    // act
    ok(m.run('recover', '--from', 'usb'), 'recover');
    ok(m.run('index', 'photos'), 'index');
    const sync = m.run('sync');
    const offload = m.run('offload', 'photos', '.');
    // expect: nas refused as rolled back; F.txt stays
    expect(sync.code).toBe(2);
    expect(sync.stdout).toMatch(/nas.*rolled back to an older state/s);
    expect(offload.stdout + offload.stderr).toMatch(/rolled back/);
    expect(fs.readFileSync(path.join(m.volumeRoot, 'F.txt'), 'utf8')).toBe('version-2');
    expect(lost(m)).toEqual([]);
  });
});

describe('status never shows green over a file with no backup', () => {
  it('copies a dedup tool replaced by links back to the local files: verify finds them unreadable, and status is red until a good push', () => {
    // setup
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas') }, files: { 'a.jpg': 'alpha' } });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync');
    const copy = path.join(dir, 'nas', 'photos', 'a.jpg');
    fs.rmSync(copy);
    fs.symlinkSync(path.join(m.volumeRoot, 'a.jpg'), copy);
    // act
    const verify = m.run('verify', 'photos');
    const status = m.run('status', '--check');
    // expect
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/UNREADABLE/);
    expect(status.code, status.stdout).toBe(2);
    expect(status.stdout).toMatch(/the last verify \(run \d+\) was failed/);
  });

  it('a volume renamed in the config: the new name is amber (never indexed) and the old one, with its offloaded file, is named', () => {
    // setup
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas') }, files: { 'a.jpg': 'alpha' } });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync');
    ok(m.run('offload', 'photos', '.'), 'offload');
    m.writeConfig((c) => {
      c.volumes.pictures = c.volumes.photos;
      delete c.volumes.photos;
    });
    // act
    const index = m.run('index', 'pictures');
    const status = m.run('status', '--check');
    // expect
    expect(index.code).toBe(2);
    expect(status.code, status.stdout).toBe(1);
    expect(status.stdout).toMatch(/pictures: AMBER.*never indexed/s);
    expect(status.stdout).toMatch(/unlisted volume 'photos'.*1 offloaded file/);
  });
});

describe('case 5: the ledger only records what was read', () => {
  it('a hand-deleted history copy does not block the evidence forever once the content has a sound copy again', () => {
    // setup: a.jpg = X, synced; then a.jpg = Y, synced (X moved to history); then a.jpg = X again
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') }, files: { 'a.jpg': 'content X' } });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync 1');
    write(m, 'a.jpg', 'content Y, longer');
    ok(m.run('index', 'photos'), 'index 2');
    ok(m.run('sync'), 'sync 2');
    write(m, 'a.jpg', 'content X');
    ok(m.run('index', 'photos'), 'index 3');
    // the user cleans up the history folder by hand
    fs.rmSync(path.join(m.destinations.nas, 'photos', '.squirrel-history'), { recursive: true });
    m.run('verify', '--to', 'nas');
    // act
    const sync = m.run('sync');
    const again = m.run('sync');
    const offload = m.run('offload', 'photos', '.');
    // expect: sync is whole again, the offload goes, the bytes are safe
    expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(ok(offload, 'offload').stdout).toMatch(/offloaded=1 /);
    expect(lost(m)).toEqual([]);
  });
});

describe('case 5b: a sync killed right after a move-aside', () => {
  it('leaves the ledger naming what was read, so the next commands finish whole and nothing is lost', async () => {
    // setup: a.jpg = X synced and offloaded elsewhere-safe; then a.jpg = Y locally
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') }, files: { 'a.jpg': 'content X', 'b.jpg': 'content X' } });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync');
    write(m, 'a.jpg', 'content Y, longer');
    ok(m.run('index', 'photos'), 'index 2');
    const pause = path.join(dir, 'pause');
    // act: the sync to nas dies between moving X aside and placing Y
    const child = binSpawn(['--config', m.configPath, '--no-progress', 'sync', 'photos', '--to', 'nas'], {
      nowNs: TEST_NOW_NS,
      env: { SQUIRREL_TEST_PAUSE_AT: 'sync.after-move-aside', SQUIRREL_TEST_PAUSE_FILE: pause },
    });
    await waitForFile(pause);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const verify = m.run('verify');
    const sync = m.run('sync');
    const again = m.run('sync');
    const offload = m.run('offload', 'photos', '.');
    // expect: the history copy was recorded with the bytes read (X), so verify finds it sound
    // (only the moved-away path is missing, truthfully); the next sync re-sends and clears it,
    // and both files go with distinct copies of their bytes
    expect(verify.stdout).not.toMatch(/CORRUPT|squirrel-history.*not found/);
    expect(verify.stdout).toMatch(/MISSING: photos\/a\.jpg/);
    expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    expect(again.stdout).toMatch(/success/);
    expect(ok(offload, 'offload').stdout).toMatch(/offloaded=2 /);
    expect(lost(m)).toEqual([]);
  });
});

describe('case 6: rot that restore saw is recorded', () => {
  it('restore that meets a corrupt copy records it, and offload does not rely on that copy until a sync re-sends it', () => {
    // setup: offloaded, then a byte flips in the nas copy
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') }, files: { 'a.jpg': 'precious bytes' } });
    ok(m.run('index', 'photos'), 'index');
    ok(m.run('sync', '--init'), 'sync');
    ok(m.run('offload', 'photos', '.'), 'offload');
    const nasCopy = path.join(m.destinations.nas, 'photos', 'a.jpg');
    fs.writeFileSync(nasCopy, 'precious bytez');
    // act: restore falls back to usb; the rot must be remembered
    const restore = m.run('restore', 'photos', '.');
    const status = m.run('status', 'photos', '--check');
    const sync = m.run('sync');
    const offload = m.run('offload', 'photos', '.');
    // expect
    ok(restore, 'restore');
    expect(restore.stdout + restore.stderr).toMatch(/corrupt|do not match/);
    expect(status.code, status.stdout).toBe(2);
    ok(sync, 'sync re-sends');
    expect(fs.readFileSync(nasCopy, 'utf8')).toBe('precious bytes');
    ok(offload, 'offload');
    expect(lost(m)).toEqual([]);
  });
});

describe('case 7: sync reads sources like offload does', () => {
  it('a directory replaced by a link to outside the volume sends no outside bytes anywhere', () => {
    // setup: docs/a.txt indexed; then docs becomes a link to a private folder outside
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') }, files: { 'docs/a.txt': 'harmless' } });
    ok(m.run('index', 'photos'), 'index');
    const outside = path.join(dir, 'private');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'a.txt'), 'harmless'.replace('harmless', 'SECRETS!'), { mode: 0o600 });
    fs.rmSync(path.join(m.volumeRoot, 'docs'), { recursive: true });
    fs.symlinkSync(outside, path.join(m.volumeRoot, 'docs'));
    // act
    const sync = m.run('sync', '--init');
    // expect: the file fails, and the secret is on no destination (not even in staging)
    expect(sync.code).toBe(1);
    for (const root of Object.values(m.destinations)) expect(holdingsUnder(root).has(sha256('SECRETS!')), root).toBe(false);
  });

  it('a FIFO in place of an indexed file does not hang sync', () => {
    // setup
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') }, files: { 'a.txt': 'x', 'b.txt': 'y' } });
    ok(m.run('index', 'photos'), 'index');
    fs.rmSync(path.join(m.volumeRoot, 'a.txt'));
    execFileSync('mkfifo', [path.join(m.volumeRoot, 'a.txt')]);
    // act
    const started = performance.now();
    const sync = m.run('sync', '--init');
    // expect: finished promptly, the FIFO refused, the other file sent
    expect(performance.now() - started).toBeLessThan(60_000);
    expect(sync.code).toBe(1);
    expect(sync.stdout + sync.stderr).toMatch(/a\.txt/);
    expect(fs.readFileSync(path.join(m.destinations.nas, 'photos', 'b.txt'), 'utf8')).toBe('y');
  });
});

describe('case 8: per-copy verification times fail closed', () => {
  it('copies stamped in the future by a clock jump count as unknown, so a stale copy never passes the age limit', () => {
    // setup: synced at T; a verify under a clock 60 days ahead; at T+25d a sampled verify re-reads half
    const dir = tempDir();
    const files = { 'a.jpg': 'aaa', 'b.jpg': 'bbb' };
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas') }, files, volume: { offload_max_evidence_age: '20d' } });
    const at = (nowNs: bigint, ...args: string[]) => bin(['--config', m.configPath, '--no-progress', ...args], { nowNs });
    ok(at(TEST_NOW_NS, 'index', 'photos'), 'index');
    ok(at(TEST_NOW_NS, 'sync', '--init'), 'sync');
    ok(at(TEST_NOW_NS + 60n * DAY_NS, 'verify'), 'verify with the clock 60 days ahead');
    ok(at(TEST_NOW_NS + 25n * DAY_NS, 'verify', '--sample', '50'), 'sampled verify');
    // act
    const offload = at(TEST_NOW_NS + 25n * DAY_NS, 'offload', 'photos', '.', '--json');
    // expect: nothing offloaded; the age is unknown (or too old), never fresh
    const report = json<{ totals: { offloaded: number } }>(offload);
    expect(report.totals.offloaded, offload.stdout).toBe(0);
    expect(offload.stdout).toMatch(/evidence-age-unknown|evidence-too-old|evidence-from-future/);
    for (const relative of Object.keys(files)) expect(fs.existsSync(path.join(m.volumeRoot, relative))).toBe(true);
  });
});

describe('case 9: copies are no more readable than their source', () => {
  it('a 0600 source lands 0600 (folders private), and restore brings back the indexed mode', () => {
    // setup
    const dir = tempDir();
    const m = machine({ dir, destinations: { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') } });
    write(m, 'private/diary.txt', 'dear diary', 0o600);
    write(m, 'bin/run.sh', '#!/bin/sh\necho hi\n', 0o755);
    ok(m.run('index', 'photos'), 'index');
    // act
    ok(m.run('sync', '--init'), 'sync');
    ok(m.run('offload', 'photos', '.'), 'offload');
    ok(m.run('restore', 'photos', '.'), 'restore');
    // expect
    for (const root of Object.values(m.destinations)) {
      expect(fs.statSync(path.join(root, 'photos', 'private', 'diary.txt')).mode & 0o077, root).toBe(0);
      expect(fs.statSync(path.join(root, 'photos', 'private')).mode & 0o077, root).toBe(0);
    }
    expect(fs.statSync(path.join(m.volumeRoot, 'private', 'diary.txt')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(m.volumeRoot, 'bin', 'run.sh')).mode & 0o777).toBe(0o755);
  });
});
