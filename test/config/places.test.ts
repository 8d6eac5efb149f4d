// Places compared by identity (SPEC §7.1): whatever symlink or spelling leads there, a volume,
// a destination, a namespace and the database that are one place (or nest) are refused,
// naming both. Bind mounts are tested through the real binary in test/cli/storage-identity.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { placeProblems } from '../../src/config/places.js';
import { Config, VolumeConfig } from '../../src/config/types.js';
import { cleanupTempDirs, tempDir } from '../helpers.js';

afterEach(cleanupTempDirs);

function config(dir: string, volumes: Record<string, string>, destinations: Record<string, string>, db = path.join(dir, 'index.db')): Config {
  const names = Object.keys(destinations);
  const volumeMap = new Map<string, VolumeConfig>(
    Object.entries(volumes).map(([name, p]) => [
      name,
      { name, path: p, syncTo: names, offloadRequires: names, offloadMaxEvidenceAgeMs: null, namespaces: new Map(names.map((d) => [d, name])), exclude: [] },
    ]),
  );
  return {
    source: path.join(dir, 'config.yaml'),
    node: 'laptop',
    db,
    namespacePrefix: '',
    catalogKeep: 7,
    peers: new Map(),
    volumes: volumeMap,
    destinations: new Map(Object.entries(destinations).map(([name, p]) => [name, { name, type: 'local' as const, path: p }])),
  };
}

describe('places by identity', () => {
  it('distinct directories (existing or not yet created) pass', () => {
    // setup
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'photos'));
    // expect
    expect(placeProblems(config(dir, { photos: path.join(dir, 'photos') }, { nas: path.join(dir, 'nas'), usb: path.join(dir, 'media', 'usb') }))).toEqual([]);
  });

  it('a volume path that is a symlink into a destination is refused, naming both and the real path', () => {
    // setup
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'nas', 'photos'), { recursive: true });
    fs.symlinkSync(path.join(dir, 'nas', 'photos'), path.join(dir, 'link'));
    // act
    const problems = placeProblems(config(dir, { photos: path.join(dir, 'link') }, { nas: path.join(dir, 'nas') }));
    // expect
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`volume 'photos' (${path.join(dir, 'link')}, really ${path.join(dir, 'nas', 'photos')})`);
    expect(problems[0]).toContain(`destination 'nas' (${path.join(dir, 'nas')})`);
  });

  it('two destinations that are one directory through a link are refused', () => {
    // setup
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'nas'));
    fs.symlinkSync(path.join(dir, 'nas'), path.join(dir, 'usb'));
    // act
    const problems = placeProblems(config(dir, {}, { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') }));
    // expect
    expect(problems.join('\n')).toMatch(/destination 'nas'.*destination 'usb'.*same place/);
  });

  it("one destination's namespace linked to another's is refused, though the roots differ", () => {
    // setup
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'nas', 'photos'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'usb'));
    fs.symlinkSync(path.join(dir, 'nas', 'photos'), path.join(dir, 'usb', 'photos'));
    fs.mkdirSync(path.join(dir, 'photos'));
    // act
    const problems = placeProblems(config(dir, { photos: path.join(dir, 'photos') }, { nas: path.join(dir, 'nas'), usb: path.join(dir, 'usb') }));
    // expect
    expect(problems.join('\n')).toMatch(/namespace 'photos' of destination 'usb'.*(inside|same place)/);
  });

  it('a destination that does not exist yet under a linked parent inside the volume is refused', () => {
    // setup: /dir/backup -> /dir/photos/sub; destination /dir/backup/new does not exist yet
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'photos', 'sub'), { recursive: true });
    fs.symlinkSync(path.join(dir, 'photos', 'sub'), path.join(dir, 'backup'));
    // act
    const problems = placeProblems(config(dir, { photos: path.join(dir, 'photos') }, { nas: path.join(dir, 'backup', 'new') }));
    // expect
    expect(problems.join('\n')).toMatch(/destination 'nas'.*lies inside volume 'photos'/);
  });

  it('the database inside a volume through a link is refused', () => {
    // setup
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'photos', 'private'), { recursive: true });
    fs.symlinkSync(path.join(dir, 'photos', 'private'), path.join(dir, 'dblink'));
    // act
    const problems = placeProblems(config(dir, { photos: path.join(dir, 'photos') }, {}, path.join(dir, 'dblink', 'index.db')));
    // expect
    expect(problems.join('\n')).toMatch(/the database .* lies inside volume 'photos'/);
  });

  it('a volume reached through a link (a mount alias) that overlaps nothing passes', () => {
    // setup
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'real'));
    fs.symlinkSync(path.join(dir, 'real'), path.join(dir, 'photos'));
    // expect
    expect(placeProblems(config(dir, { photos: path.join(dir, 'photos') }, { nas: path.join(dir, 'nas') }))).toEqual([]);
  });
});
