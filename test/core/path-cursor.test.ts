// The cursor sync walks the ledger and a listing with: only an exact path is ever an answer, and
// a sequence out of order stops answering instead of guessing.

import { describe, expect, it } from 'vitest';
import { PathCursor } from '../../src/core/path-cursor.js';
import { compareByCodePoint } from '../../src/paths.js';

const files = (...paths: string[]) => paths.map((path) => ({ path, sizeBytes: path.length }));

describe('compareByCodePoint', () => {
  it("orders as SQLite and S3 do: by the UTF-8 bytes, not JavaScript's UTF-16 units", () => {
    // setup
    const names = ['a', 'a/b', 'a-b', 'a.b', 'B', 'é', '\uFF21', '\u{1F600}', '\uE000', '\u{10000}', 'ab', 'a\u0000', ''];
    // act
    const sorted = [...names].sort(compareByCodePoint);
    // expect
    expect(sorted).toEqual([...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(compareByCodePoint('\uFF21', '\u{1F600}')).toBeLessThan(0);
  });
});

describe('PathCursor', () => {
  it('finds exact paths in step, and says null for a path the sequence does not have', async () => {
    // setup
    const cursor = new PathCursor(() => files('v/a', 'v/b', 'v/d')[Symbol.iterator]());
    // act + expect
    expect(await cursor.find('v/a')).toEqual({ path: 'v/a', sizeBytes: 3 });
    expect(await cursor.find('v/c')).toBeNull();
    expect(await cursor.find('v/d')).toEqual({ path: 'v/d', sizeBytes: 3 });
    expect(await cursor.find('v/e')).toBeNull();
    expect(cursor.broken).toBeNull();
  });

  it('a sequence out of order stops answering (undefined) from the misstep on', async () => {
    // setup
    const cursor = new PathCursor(() => files('v/a', 'v/c', 'v/b', 'v/d')[Symbol.iterator]());
    // act + expect
    expect(await cursor.find('v/a')).not.toBeNull();
    expect(await cursor.find('v/d')).toBeUndefined();
    expect(await cursor.find('v/e')).toBeUndefined();
    expect(cursor.broken).toMatch(/came after/);
  });

  it('asked out of order, or over a sequence that fails, it stops answering', async () => {
    // setup
    const asked = new PathCursor(() => files('v/a', 'v/b')[Symbol.iterator]());
    const failing = new PathCursor<{ path: string }>(() =>
      (async function* () {
        yield { path: 'v/a' };
        throw new Error('connection dropped');
      })(),
    );
    // act + expect
    expect(await asked.find('v/b')).not.toBeNull();
    expect(await asked.find('v/a')).toBeUndefined();
    expect(await failing.find('v/a')).toEqual({ path: 'v/a' });
    expect(await failing.find('v/b')).toBeUndefined();
    expect(failing.broken).toMatch(/connection dropped/);
  });
});
