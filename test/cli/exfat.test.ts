// Case-folding destinations on a real exFAT file system (most USB backup drives): `Photo.jpg`
// and `photo.jpg` are one name there. squirrel must probe that at `sync --init`, refuse both
// twins on that destination (name-collision, with what to rename) instead of placing one over
// the other or moving one aside, and so never offload either on the strength of that drive.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, CliResult, json, tempDir, TEST_NOW_NS } from '../helpers.js';
import { exfatDrive, mountSupport, unmountAll } from '../mounts.js';
import { lostFiles, sha256 } from '../physical.js';

afterEach(() => {
  unmountAll();
  cleanupTempDirs();
});

const reason = mountSupport().exfat;
if (reason !== null && process.env.CI) throw new Error(`exFAT tests cannot run here: ${reason}`);

function setup(files: Record<string, string>) {
  const dir = tempDir();
  const volumeRoot = path.join(dir, 'photos');
  const destinations = { nas: exfatDrive(64, 'nas'), usb: exfatDrive(64, 'usb') };
  const written: Record<string, string> = {};
  for (const [relative, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(volumeRoot, relative)), { recursive: true });
    fs.writeFileSync(path.join(volumeRoot, relative), text);
    written[relative] = sha256(text);
  }
  const configPath = path.join(dir, 'config.yaml');
  fs.writeFileSync(
    configPath,
    YAML.stringify({
      node: 'laptop',
      db: path.join(dir, 'index.db'),
      volumes: { photos: { path: volumeRoot, sync_to: ['nas', 'usb'], offload_requires: ['nas', 'usb'] } },
      destinations: { nas: { type: 'local', path: path.join(destinations.nas, 'squirrel') }, usb: { type: 'local', path: path.join(destinations.usb, 'squirrel') } },
    }),
  );
  const run = (...args: string[]): CliResult => bin(['--config', configPath, '--no-progress', ...args], { nowNs: TEST_NOW_NS });
  const lost = () => lostFiles({ volumeRoot, destinations }, written);
  return { dir, volumeRoot, destinations, written, run, lost };
}

describe.skipIf(reason !== null)('exFAT destinations (case-insensitive)', () => {
  it('Photo.jpg and photo.jpg are refused there as a name collision; neither is offloaded; the rest goes', () => {
    // setup
    const w = setup({ 'Photo.jpg': 'upper case bytes', 'photo.jpg': 'lower case bytes!', 'other.jpg': 'unrelated' });
    expect(w.run('index', 'photos').code).toBe(0);
    // act
    const first = w.run('sync', '--init', '--json');
    const second = w.run('sync', '--json');
    const offload = w.run('offload', 'photos', '.', '--json');
    // expect: both syncs refuse the twins and move nothing aside
    for (const sync of [first, second]) {
      const results = json<{ results: { destination: string; movedAsideFiles: number; refused: { path: string; reason: string }[] }[] }>(sync).results;
      for (const r of results) {
        expect(r.movedAsideFiles, sync.stdout).toBe(0);
        expect(r.refused.map((x) => x.path).sort()).toEqual(['Photo.jpg', 'photo.jpg']);
        expect(r.refused.every((x) => x.reason === 'name-collision')).toBe(true);
      }
    }
    const report = json<{ execution: { offloaded: string[] }; refusals: { reason: string; target: string }[] }>(offload);
    expect(report.execution.offloaded).toEqual(['other.jpg']);
    expect(report.refusals.map((r) => r.reason)).toContain('name-collision');
    expect(fs.readFileSync(path.join(w.volumeRoot, 'Photo.jpg'), 'utf8')).toBe('upper case bytes');
    expect(fs.readFileSync(path.join(w.volumeRoot, 'photo.jpg'), 'utf8')).toBe('lower case bytes!');
    expect(w.lost()).toEqual([]);
    // nothing of either twin sits in a history folder
    for (const root of Object.values(w.destinations)) expect(fs.existsSync(path.join(root, 'squirrel', 'photos', '.squirrel-history'))).toBe(false);
  });

  it('sync --init records that the drive folds case; status and the refusal say what to rename', () => {
    // setup
    const w = setup({ 'A/x.jpg': 'one', 'a/x.jpg': 'two' });
    expect(w.run('index', 'photos').code).toBe(0);
    // act
    const sync = w.run('sync', '--init');
    const offload = w.run('offload', 'photos', '.');
    // expect
    const marker = JSON.parse(fs.readFileSync(path.join(w.destinations.nas, 'squirrel', '.squirrel-destination'), 'utf8'));
    expect(marker.case_folding).toBe(true);
    expect(sync.stdout + sync.stderr).toMatch(/A\/x\.jpg/);
    expect(sync.stdout + sync.stderr).toMatch(/rename/i);
    expect(offload.stdout).toMatch(/name-collision|collide/);
    expect(w.lost()).toEqual([]);
  });

  it('after the user renames one twin, both are pushed and offloaded', () => {
    // setup
    const w = setup({ 'Photo.jpg': 'upper', 'photo.jpg': 'lower!' });
    expect(w.run('index', 'photos').code).toBe(0);
    expect(w.run('sync', '--init').code).toBe(0);
    fs.renameSync(path.join(w.volumeRoot, 'photo.jpg'), path.join(w.volumeRoot, 'photo-2.jpg'));
    w.written['photo-2.jpg'] = w.written['photo.jpg'];
    delete w.written['photo.jpg'];
    // act
    expect(w.run('index', 'photos').code).toBe(0);
    const sync = w.run('sync');
    const offload = w.run('offload', 'photos', '.');
    // expect
    expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    expect(offload.stdout).toMatch(/offloaded=2 /);
    expect(w.lost()).toEqual([]);
    expect(w.run('restore', 'photos', '.').code).toBe(0);
    expect(fs.readFileSync(path.join(w.volumeRoot, 'Photo.jpg'), 'utf8')).toBe('upper');
  });

  it("a new file whose name there is an offloaded photo's is refused, not placed over (or beside) the offloaded photo's copy", () => {
    // setup: IMG_0001.JPG is offloaded; later a phone import brings img_0001.jpg
    const w = setup({ 'IMG_0001.JPG': 'the offloaded photo', 'other.jpg': 'unrelated' });
    expect(w.run('index', 'photos').code).toBe(0);
    expect(w.run('sync', '--init').code).toBe(0);
    expect(w.run('offload', 'photos', 'IMG_0001.JPG').stdout).toMatch(/offloaded=1 /);
    fs.writeFileSync(path.join(w.volumeRoot, 'img_0001.jpg'), 'a new photo');
    w.written['img_0001.jpg'] = sha256('a new photo');
    expect(w.run('index', 'photos').code).toBe(0);
    // act
    const sync = w.run('sync', '--json');
    const restore = w.run('restore', 'photos', 'IMG_0001.JPG', '--to', path.join(w.dir, 'back'));
    // expect: the newcomer refused on both drives, nothing moved aside, the offloaded photo comes back whole
    const results = json<{ results: { movedAsideFiles: number; refused: { path: string; reason: string; detail: string }[] }[] }>(sync).results;
    for (const r of results) {
      expect(r.movedAsideFiles).toBe(0);
      expect(r.refused).toEqual([{ path: 'img_0001.jpg', reason: 'name-collision', detail: expect.stringMatching(/offloaded 'IMG_0001\.JPG'/) }]);
    }
    expect(restore.code, restore.stdout + restore.stderr).toBe(0);
    expect(fs.readFileSync(path.join(w.dir, 'back', 'IMG_0001.JPG'), 'utf8')).toBe('the offloaded photo');
    expect(w.lost()).toEqual([]);
  });

  it("a name the drive cannot store (a ':' on exFAT) is refused there up front; the rest syncs whole and offloads", () => {
    // setup
    const w = setup({ 'meeting 10:30.txt': 'notes', 'IMG_0001.jpg': 'photo' });
    expect(w.run('index', 'photos').code).toBe(0);
    // act
    const sync = w.run('sync', '--init');
    const again = w.run('sync');
    const offload = w.run('offload', 'photos', '.', '--json');
    // expect: both syncs succeed (the evidence is not held back by the file that can never land)
    expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    expect(sync.stdout + sync.stderr).toMatch(/meeting 10:30\.txt.*cannot store/);
    expect(again.code).toBe(0);
    const report = json<{ execution: { offloaded: string[] }; refusals: { reason: string }[] }>(offload);
    expect(report.execution.offloaded).toEqual(['IMG_0001.jpg']);
    expect(report.refusals.map((r) => r.reason)).toContain('name-not-allowed');
    expect(fs.readFileSync(path.join(w.volumeRoot, 'meeting 10:30.txt'), 'utf8')).toBe('notes');
    expect(w.lost()).toEqual([]);
  });

  it('a backup copied onto an exFAT drive (its marker included) is probed again: twins merged by the copy are refused, nothing lost', () => {
    // setup: first backed up to an ordinary folder, which kept both twins apart
    const w = setup({ 'IMG_0001.CR2': 'upper case raw', 'img_0001.cr2': 'lower case raw' });
    const old = path.join(w.dir, 'old-drive');
    fs.mkdirSync(old);
    const configPath = path.join(w.dir, 'config.yaml');
    const original = fs.readFileSync(configPath, 'utf8');
    fs.writeFileSync(configPath, original.replace(path.join(w.destinations.usb, 'squirrel'), path.join(old, 'squirrel')));
    expect(w.run('index', 'photos').code).toBe(0);
    expect(w.run('sync', '--init', '--to', 'usb').code).toBe(0);
    // the user copies that backup onto the exFAT drive (one twin lands over the other) and uses it instead
    // (cp complains about the twin and the ':' probe it cannot create there, as a user's copy would)
    spawnSync('cp', ['-r', path.join(old, 'squirrel'), w.destinations.usb]);
    fs.rmSync(old, { recursive: true });
    fs.writeFileSync(configPath, original);
    // act
    const sync = w.run('sync');
    const offload = w.run('offload', 'photos', '.');
    // expect
    expect(sync.stdout + sync.stderr).toMatch(/name rules changed/);
    expect(offload.stdout).toMatch(/offloaded=0 /);
    expect(offload.stdout).toMatch(/name-collision/);
    expect(w.lost()).toEqual([]);
  });
});
