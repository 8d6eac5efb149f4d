// Names that are one name at a destination (SPEC §7.3): which local paths collide under the
// destination's probed rules, and what the refusal tells the user.

import { describe, expect, it } from 'vitest';
import { findNameCollisions, findNameRefusals, nameKey } from '../../src/core/name-collisions.js';

const FOLDS = { caseFolding: true, unicodeNormalization: false, restrictedCharacters: false };
const NORMALISES = { caseFolding: false, unicodeNormalization: true, restrictedCharacters: false };
const BOTH = { caseFolding: true, unicodeNormalization: true, restrictedCharacters: false };
const NEITHER = { caseFolding: false, unicodeNormalization: false, restrictedCharacters: false };
const EXFAT = { caseFolding: true, unicodeNormalization: false, restrictedCharacters: true };

describe('name collisions', () => {
  it('Photo.jpg and photo.jpg collide where case is folded; both are refused, naming each other and what to do', () => {
    // act
    const refused = findNameCollisions(['Photo.jpg', 'other.jpg', 'photo.jpg'], FOLDS, 'usb');
    // expect
    expect(refused.map((r) => r.path)).toEqual(['Photo.jpg', 'photo.jpg']);
    expect(refused.every((r) => r.reason === 'name-collision')).toBe(true);
    expect(refused[0].detail).toMatch(/'Photo\.jpg' and 'photo\.jpg' are one name at 'usb', which ignores case; rename one of them/);
  });

  it('nothing collides on a destination that keeps every spelling', () => {
    expect(findNameCollisions(['Photo.jpg', 'photo.jpg', 'caf\u00e9'.normalize('NFC'), 'caf\u00e9'.normalize('NFD')], NEITHER, 'nas')).toEqual([]);
  });

  it('NFC and NFD spellings collide where Unicode is normalised, not where only case is folded', () => {
    // setup
    const paths = ['caf\u00e9.txt'.normalize('NFC'), 'caf\u00e9.txt'.normalize('NFD')];
    // expect
    expect(findNameCollisions(paths, NORMALISES, 'mac').map((r) => r.path)).toEqual([...paths].sort());
    expect(findNameCollisions(paths, FOLDS, 'usb')).toEqual([]);
    expect(findNameCollisions(['Caf\u00e9.txt'.normalize('NFC'), 'caf\u00e9.txt'.normalize('NFD')], BOTH, 'smb')).toHaveLength(2);
  });

  it('a file and a folder that are one name collide: the file and everything in the folder', () => {
    // act
    const refused = findNameCollisions(['a', 'A/x.jpg', 'A/y/z.jpg', 'b/c.jpg'], FOLDS, 'usb');
    // expect
    expect(refused.map((r) => r.path)).toEqual(['A/x.jpg', 'A/y/z.jpg', 'a']);
  });

  it('folders differing only in case do not collide by themselves (their files land in one folder there)', () => {
    expect(findNameCollisions(['Photos/a.jpg', 'photos/b.jpg'], FOLDS, 'usb')).toEqual([]);
  });

  it('case is folded both ways, so pairs one direction alone misses still meet (long s and s)', () => {
    expect(nameKey('\u017Fun.txt', FOLDS)).toBe(nameKey('SUN.txt', FOLDS));
    expect(findNameCollisions(['\u017Fun.txt', 'sun.txt'], FOLDS, 'usb')).toHaveLength(2);
  });

  it('names a drive cannot store (a : or ? on exFAT) are refused there up front, with what to do; elsewhere they pass', () => {
    // setup
    const paths = ['meeting 10:30.txt', 'what?.jpg', 'plain.jpg', 'Plain.JPG'];
    // act
    const refused = findNameRefusals(paths, EXFAT, 'usb');
    // expect
    expect(refused.map((r) => `${r.path}:${r.reason}`)).toEqual(['Plain.JPG:name-collision', 'meeting 10:30.txt:name-not-allowed', 'plain.jpg:name-collision', 'what?.jpg:name-not-allowed']);
    expect(refused.find((r) => r.reason === 'name-not-allowed')!.detail).toMatch(/cannot store in a name.*rename it/);
    expect(findNameRefusals(paths, NEITHER, 'nas')).toEqual([]);
  });
});
