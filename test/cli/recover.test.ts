// When the laptop is gone (SPEC §8), through the real binary: the catalog published to every
// destination after each command, `recover --from` installing the newest intact snapshot (and
// falling back past damaged ones, naming them), `restore .` bringing every offloaded file back
// byte-identical (checked by sha256, not squirrel's code), an index that never starts over
// silently, and a status that tells the truth about the database and the catalog.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { bin, binSpawn, cleanupTempDirs, CliResult, json, makeSandbox, Sandbox, tempDir, TEST_NOW_NS, waitForFile, withConfig } from '../helpers.js';
import { sha256 } from '../physical.js';
import { Store } from '../../src/store/store.js';

afterEach(cleanupTempDirs);

const FILES = { 'a.jpg': 'alpha bytes', 'sub/b.jpg': 'bravo bytes', 'sub/deep/c.raw': 'charlie bytes' };

function run(sb: Sandbox, ...args: string[]): CliResult {
  return bin(withConfig(sb, '--no-progress', ...args), { nowNs: TEST_NOW_NS });
}

function ok(sb: Sandbox, ...args: string[]): CliResult {
  const result = run(sb, ...args);
  expect(result.code, `squirrel ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
}

function catalog(sb: Sandbox, destination: string): string[] {
  const folder = path.join(sb.destinations[destination], '.squirrel-catalog', 'laptop');
  return fs.existsSync(folder) ? fs.readdirSync(folder).filter((name) => name.endsWith('.db.gz')).sort() : [];
}

function deleteDatabase(sb: Sandbox): void {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(sb.dbPath + suffix, { force: true });
}

/** Indexed, pushed to both, everything offloaded; the sha256 of what was written. */
function offloadedSandbox(): { sb: Sandbox; hashes: Record<string, string> } {
  const sb = makeSandbox(FILES);
  ok(sb, 'index', 'photos');
  ok(sb, 'sync', '--init');
  expect(ok(sb, 'offload', 'photos', '.').stdout).toMatch(/offloaded=3 /);
  return { sb, hashes: Object.fromEntries(Object.entries(FILES).map(([p, text]) => [p, sha256(text)])) };
}

describe('the catalog is published with the data', () => {
  it('each sync that changed something leaves a snapshot at every destination it touched, private, signed, named by run and BLAKE3; the newest 7 stay', () => {
    // setup
    const sb = makeSandbox(FILES);
    ok(sb, 'index', 'photos');
    // act: 9 syncs, each with a new file
    ok(sb, 'sync', '--init');
    for (let i = 0; i < 8; i++) {
      fs.writeFileSync(path.join(sb.volumePath, `new-${i}.jpg`), `new ${i}`);
      ok(sb, 'index', 'photos');
      ok(sb, 'sync');
    }
    // expect
    for (const destination of ['nas', 'offsite']) {
      const names = catalog(sb, destination);
      expect(names).toHaveLength(7);
      // each with its signature beside it, and nothing else
      expect(fs.readdirSync(path.join(sb.destinations[destination], '.squirrel-catalog', 'laptop')).sort()).toEqual(names.flatMap((n) => [n, `${n}.sig`]).sort());
      for (const name of names) {
        expect(name).toMatch(/^run-\d{12}-[0-9a-f]{32}-[0-9a-f]{64}\.db\.gz$/);
        const stat = fs.statSync(path.join(sb.destinations[destination], '.squirrel-catalog', 'laptop', name));
        expect(stat.mode & 0o077).toBe(0);
      }
    }
  });

  it('a verify that found everything sound publishes nothing new: the last snapshot is still the map', () => {
    // setup
    const sb = makeSandbox(FILES);
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', '--init');
    const before = catalog(sb, 'nas');
    // act
    ok(sb, 'verify');
    const status = run(sb, 'status', '--check');
    // expect
    expect(catalog(sb, 'nas')).toEqual(before);
    expect(status.code, status.stdout).toBe(0);
  });

  it('a destination that cannot take the catalog is a warning and an amber status, never a failed run', () => {
    // setup: the catalog folder at offsite is a file, so nothing can be placed in it
    const sb = makeSandbox(FILES);
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', '--init');
    fs.rmSync(path.join(sb.destinations.offsite, '.squirrel-catalog'), { recursive: true });
    fs.writeFileSync(path.join(sb.destinations.offsite, '.squirrel-catalog'), 'in the way');
    fs.writeFileSync(path.join(sb.volumePath, 'new.jpg'), 'a new photo');
    ok(sb, 'index', 'photos');
    // act
    const verify = run(sb, 'sync');
    const status = run(sb, 'status', '--check');
    // expect
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stderr).toMatch(/catalog could not be published to 'offsite'/);
    expect(status.code, status.stdout).toBe(1);
    expect(status.stdout).toMatch(/catalog could not be published there/);
  });
});

describe('recover', () => {
  it('after the database is lost: recover --from nas, then restore . brings every file back byte-identical, with evidence and runs as of the snapshot', () => {
    // setup
    const { sb, hashes } = offloadedSandbox();
    const runsBefore = json<{ runs: { id: number }[] }>(ok(sb, '--json', 'runs')).runs.map((r) => r.id);
    deleteDatabase(sb);
    // act
    const recover = ok(sb, 'recover', '--from', 'nas');
    const evidence = json<{ components: unknown[] }>(ok(sb, '--json', 'evidence', 'photos'));
    const runsAfter = json<{ runs: { id: number }[] }>(ok(sb, '--json', 'runs')).runs.map((r) => r.id);
    const restore = ok(sb, 'restore', 'photos', '.');
    // expect
    expect(recover.stdout).toMatch(/installed run-\d{12}-[0-9a-f]{32}-[0-9a-f]{64}\.db\.gz/);
    expect(fs.statSync(sb.dbPath).mode & 0o777).toBe(0o600);
    expect(evidence.components).toHaveLength(2);
    expect(runsAfter).toEqual(runsBefore);
    expect(restore.stdout).toMatch(/restored=3 failed=0/);
    for (const [relative, hash] of Object.entries(hashes)) expect(sha256(fs.readFileSync(path.join(sb.volumePath, relative)))).toBe(hash);
  });

  it('a truncated newest snapshot and a bit-flipped next one are skipped, each named; the one before is installed', () => {
    // setup: snapshots of the first sync, the offload and a later sync at nas
    const { sb } = offloadedSandbox();
    fs.writeFileSync(path.join(sb.volumePath, 'later.jpg'), 'a later photo');
    ok(sb, 'index', 'photos');
    ok(sb, 'sync');
    const names = catalog(sb, 'nas');
    expect(names).toHaveLength(3);
    const folder = path.join(sb.destinations.nas, '.squirrel-catalog', 'laptop');
    const newest = path.join(folder, names[names.length - 1]);
    fs.truncateSync(newest, Math.floor(fs.statSync(newest).size / 2));
    const second = path.join(folder, names[names.length - 2]);
    const bytes = fs.readFileSync(second);
    bytes[bytes.length >> 1] ^= 0x40;
    fs.writeFileSync(second, bytes);
    fs.rmSync(path.join(sb.destinations.offsite, '.squirrel-catalog'), { recursive: true });
    deleteDatabase(sb);
    // act
    const recover = run(sb, 'recover', '--from', 'nas');
    // expect
    expect(recover.code, recover.stderr).toBe(0);
    expect(recover.stderr).toContain(`snapshot ${names[names.length - 1]} is damaged`);
    expect(recover.stderr).toContain(`snapshot ${names[names.length - 2]} is damaged`);
    expect(recover.stdout).toContain(`installed ${names[names.length - 3]}`);
    // that snapshot predates the offload: index finds the files gone (missing), restore brings them back
    expect(ok(sb, 'index', 'photos').stdout).toMatch(/missing=3/);
    expect(ok(sb, 'restore', 'photos', '.').stdout).toMatch(/restored=3 failed=0/);
    expect(fs.readFileSync(path.join(sb.volumePath, 'later.jpg'), 'utf8')).toBe('a later photo');
  });

  it('every snapshot damaged: exit 1 naming each, nothing installed; an existing database: exit 2, untouched', () => {
    // setup
    const { sb } = offloadedSandbox();
    const folder = path.join(sb.destinations.nas, '.squirrel-catalog', 'laptop');
    const names = catalog(sb, 'nas');
    for (const name of names) fs.writeFileSync(path.join(folder, name), 'not a snapshot');
    const existing = run(sb, 'recover', '--from', 'nas');
    deleteDatabase(sb);
    // act
    const recover = run(sb, 'recover', '--from', 'nas');
    // expect
    expect(existing.code).toBe(2);
    expect(existing.stderr).toMatch(/already exists.*never overwrites/);
    expect(recover.code).toBe(1);
    for (const name of names) expect(recover.stderr).toContain(name);
    expect(fs.existsSync(sb.dbPath)).toBe(false);
  });

  it('a publish killed just before placing leaves no snapshot that recover would take for intact', async () => {
    // setup
    const sb = makeSandbox(FILES);
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', '--init');
    const before = catalog(sb, 'nas');
    const pause = path.join(sb.dir, 'pause');
    fs.writeFileSync(path.join(sb.volumePath, 'new.jpg'), 'a new photo');
    ok(sb, 'index', 'photos');
    // act: the sync publishes; killed as it is about to place the snapshot at nas
    const child = binSpawn(withConfig(sb, '--no-progress', 'sync', '--to', 'nas'), {
      nowNs: TEST_NOW_NS,
      env: { SQUIRREL_TEST_PAUSE_AT: 'catalog.before-place', SQUIRREL_TEST_PAUSE_FILE: pause },
    });
    await waitForFile(pause);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    deleteDatabase(sb);
    const recover = run(sb, 'recover', '--from', 'nas');
    // expect: the catalog holds only whole snapshots, and recover installs one of them
    expect(catalog(sb, 'nas')).toEqual(before);
    expect(recover.code, recover.stderr).toBe(0);
    expect(recover.stderr).not.toMatch(/damaged/);
  });
});

describe('an index never starts over silently', () => {
  it('index after a lost database refuses (exit 2) naming recover and --new-index, and creates no database; --new-index starts over', () => {
    // setup
    const { sb } = offloadedSandbox();
    deleteDatabase(sb);
    // act
    const refused = run(sb, 'index', 'photos');
    const created = fs.existsSync(sb.dbPath);
    const fresh = run(sb, 'index', 'photos', '--new-index');
    // expect
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/recover --from/);
    expect(refused.stderr).toMatch(/--new-index/);
    expect(created).toBe(false);
    expect(fresh.code, fresh.stderr).toBe(0);
    const marker = JSON.parse(fs.readFileSync(path.join(sb.volumePath, '.squirrel-volume'), 'utf8'));
    expect(marker.index).toMatch(/^[0-9a-f]{32}$/);
  });

  it('a second database indexing a volume another index owns is refused', () => {
    // setup
    const { sb } = offloadedSandbox();
    const other = path.join(sb.dir, 'other.db');
    Store.open(other, { create: true }).close();
    // act
    const second = bin(withConfig(sb, '--db', other, 'index', 'photos'), { nowNs: TEST_NOW_NS });
    // expect
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/indexed by another squirrel index/);
  });

  it('an older copy of the volume (a cloned drive mounted where the volume belongs) is refused by index, offload and restore', () => {
    // setup: a clone taken now; the volume moves on; the clone is mounted in its place
    const sb = makeSandbox(FILES);
    ok(sb, 'index', 'photos');
    const clone = path.join(sb.dir, 'clone');
    fs.cpSync(sb.volumePath, clone, { recursive: true });
    fs.writeFileSync(path.join(sb.volumePath, 'a.jpg'), 'alpha FINAL');
    ok(sb, 'index', 'photos');
    const real = path.join(sb.dir, 'real');
    fs.renameSync(sb.volumePath, real);
    fs.renameSync(clone, sb.volumePath);
    // act
    const index = run(sb, 'index', 'photos');
    const offload = run(sb, 'offload', 'photos', '.');
    // expect
    expect(index.code).toBe(2);
    expect(index.stderr).toMatch(/older copy of volume 'photos'/);
    expect(offload.code).toBe(2);
  });
});

describe('status tells the truth', () => {
  it('red for a missing database (and creates none), for a damaged one, and for a partial last index', () => {
    // setup
    const { sb } = offloadedSandbox();
    // act + expect: partial index (an unreadable file)
    fs.writeFileSync(path.join(sb.volumePath, 'locked.jpg'), 'x');
    fs.chmodSync(path.join(sb.volumePath, 'locked.jpg'), 0);
    const asUser = process.getuid?.() === 0;
    if (!asUser) {
      expect(run(sb, 'index', 'photos').code).toBe(1);
      const partial = run(sb, 'status', '--check');
      expect(partial.code).toBe(2);
      expect(partial.stdout).toMatch(/last index \(run \d+\) was partial/);
    }
    fs.rmSync(path.join(sb.volumePath, 'locked.jpg'));
    // damaged
    const copy = path.join(sb.dir, 'copy.db');
    fs.copyFileSync(sb.dbPath, copy);
    const bytes = fs.readFileSync(sb.dbPath);
    for (let i = 4096 * 3; i < Math.min(bytes.length, 4096 * 6); i++) bytes[i] = 0xff;
    fs.writeFileSync(sb.dbPath, bytes);
    for (const suffix of ['-wal', '-shm']) fs.rmSync(sb.dbPath + suffix, { force: true });
    const damaged = run(sb, 'status', '--check');
    // missing
    deleteDatabase(sb);
    const missing = run(sb, 'status', '--check');
    // expect
    expect(damaged.code, damaged.stdout + damaged.stderr).toBe(2);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no database.*recover --from/);
    expect(fs.existsSync(sb.dbPath)).toBe(false);
  });

  it('amber when no destination holds a catalog as new as the last change; green again once one is published', () => {
    // setup: the catalog cannot be placed at either destination when a new file is synced
    const sb = makeSandbox(FILES);
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', '--init');
    for (const root of Object.values(sb.destinations)) {
      fs.rmSync(path.join(root, '.squirrel-catalog'), { recursive: true });
      fs.writeFileSync(path.join(root, '.squirrel-catalog'), 'in the way');
    }
    fs.writeFileSync(path.join(sb.volumePath, 'new.jpg'), 'a new photo');
    ok(sb, 'index', 'photos');
    // act
    ok(sb, 'sync');
    const lagging = run(sb, 'status', '--check');
    fs.rmSync(path.join(sb.destinations.nas, '.squirrel-catalog'));
    ok(sb, 'verify', '--to', 'nas');
    const current = run(sb, 'status', '--json');
    // expect
    expect(lagging.code, lagging.stdout).toBe(1);
    expect(lagging.stdout).toMatch(/catalog: AMBER the newest catalog published \(covering run \d+\) is older than the last change/);
    expect(json<{ catalog: { light: string } }>(current).catalog.light).toBe('green');
  });
});

describe('two machines that publish as one node name', () => {
  it("never prune each other's snapshots; recover refuses to guess, and the one chosen by index id brings the laptop's file back", () => {
    // setup: laptop and desktop both `node: laptop` (a copied config), one NAS, the desktop with its own namespace prefix
    const dir = tempDir();
    const nas = path.join(dir, 'nas');
    const machines = ['a', 'b'].map((name) => {
      const volume = path.join(dir, `vol-${name}`);
      fs.mkdirSync(volume);
      fs.writeFileSync(path.join(volume, `${name}.jpg`), `${name} photo bytes`);
      const configPath = path.join(dir, `${name}.yaml`);
      const config = {
        node: 'laptop',
        db: path.join(dir, `${name}.db`),
        ...(name === 'b' ? { namespace_prefix: 'desktop-' } : {}),
        volumes: { pics: { path: volume, sync_to: ['nas'], offload_requires: ['nas'] } },
        destinations: { nas: { type: 'local', path: nas } },
      };
      fs.writeFileSync(configPath, YAML.stringify(config));
      return { volume, db: config.db, run: (...args: string[]) => bin(['--config', configPath, '--no-progress', ...args], { nowNs: TEST_NOW_NS }) };
    });
    const [laptop, desktop] = machines;
    const okOn = (result: CliResult, what: string) => {
      expect(result.code, `${what}\n${result.stdout}\n${result.stderr}`).toBe(0);
      return result;
    };
    okOn(laptop.run('index', 'pics'), 'laptop index');
    okOn(laptop.run('sync', '--init'), 'laptop sync');
    okOn(laptop.run('offload', 'pics', '.'), 'laptop offload');
    let warned = '';
    okOn(desktop.run('index', 'pics'), 'desktop index');
    for (let i = 0; i < 8; i++) {
      fs.writeFileSync(path.join(desktop.volume, `new-${i}.jpg`), `new ${i}`);
      okOn(desktop.run('index', 'pics'), 'desktop index');
      warned += okOn(desktop.run('sync'), 'desktop sync').stderr;
    }
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(laptop.db + suffix, { force: true });
    // act
    const guessed = laptop.run('recover', '--from', 'nas');
    const laptopIndex = JSON.parse(fs.readFileSync(path.join(laptop.volume, '.squirrel-volume'), 'utf8')).index as string;
    const own = fs.readdirSync(path.join(nas, '.squirrel-catalog', 'laptop')).filter((n) => n.endsWith('.db.gz') && n.includes(`-${laptopIndex}-`)).sort();
    const chosen = laptop.run('recover', '--from', 'nas', '--snapshot', own[own.length - 1]);
    const restore = laptop.run('restore', 'pics', '.');
    // expect
    expect(warned).toMatch(/two machines \(or databases\) publish as node 'laptop'/);
    expect(own.length).toBeGreaterThan(0);
    expect(guessed.code).toBe(2);
    expect(guessed.stderr).toMatch(/2 different indexes published as node 'laptop'/);
    okOn(chosen, 'recover --snapshot');
    okOn(restore, 'restore');
    expect(fs.readFileSync(path.join(laptop.volume, 'a.jpg'), 'utf8')).toBe('a photo bytes');
  });
});

describe('recover from the drive at hand', () => {
  it('is refused when another destination holds a newer snapshot of the same index, naming it; from there the newest version comes back', () => {
    // setup: both destinations hold v1; v2 goes only to the NAS (the USB drive unplugged), then is offloaded
    const sb = makeSandbox({ 'F.txt': 'v1' }, { volume: { offload_requires: ['nas'] } });
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', '--init');
    fs.writeFileSync(path.join(sb.volumePath, 'F.txt'), 'v2 important edit');
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', '--to', 'nas');
    expect(ok(sb, 'offload', 'photos', '.').stdout).toMatch(/offloaded=1 /);
    deleteDatabase(sb);
    // act
    const stale = run(sb, 'recover', '--from', 'offsite');
    const nothingInstalled = !fs.existsSync(sb.dbPath);
    const fresh = run(sb, 'recover', '--from', 'nas');
    const restore = run(sb, 'restore', 'photos', '.');
    // expect
    expect(stale.code).toBe(2);
    expect(stale.stderr).toMatch(/destination 'nas' holds a newer snapshot of this index.*squirrel recover --from nas/s);
    expect(nothingInstalled).toBe(true);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(restore.code, restore.stdout + restore.stderr).toBe(0);
    expect(fs.readFileSync(path.join(sb.volumePath, 'F.txt'), 'utf8')).toBe('v2 important edit');
  });
});

describe('recover when the newest snapshot here is damaged', () => {
  it('and another destination holds it intact: sent there instead of silently installing an older one', () => {
    // setup: the newest snapshot at nas is truncated; offsite has the same one whole
    const { sb, hashes } = offloadedSandbox();
    const names = catalog(sb, 'nas');
    const newest = path.join(sb.destinations.nas, '.squirrel-catalog', 'laptop', names[names.length - 1]);
    fs.truncateSync(newest, Math.floor(fs.statSync(newest).size / 2));
    deleteDatabase(sb);
    // act
    const sent = run(sb, 'recover', '--from', 'nas');
    const nothingInstalled = !fs.existsSync(sb.dbPath);
    const recover = run(sb, 'recover', '--from', 'offsite');
    const restore = run(sb, 'restore', 'photos', '.');
    // expect
    expect(sent.code).toBe(2);
    expect(sent.stderr).toMatch(/is damaged.*destination 'offsite' holds a newer snapshot of this index.*squirrel recover --from offsite/s);
    expect(nothingInstalled).toBe(true);
    expect(recover.code, recover.stderr).toBe(0);
    expect(restore.stdout).toMatch(/restored=3 failed=0/);
    for (const [relative, hash] of Object.entries(hashes)) expect(sha256(fs.readFileSync(path.join(sb.volumePath, relative)))).toBe(hash);
  });
});
