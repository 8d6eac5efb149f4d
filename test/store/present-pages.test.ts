// Sync reads a volume's present rows a page at a time (keyset paging on the path), so memory
// stays flat at any size. The pages, end to end, must be exactly the rows one query returns, in
// the code point order the ledger and the listings are walked in.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compareByCodePoint } from '../../src/paths.js';
import { Store } from '../../src/store/store.js';
import { cleanupTempDirs, tempDir } from '../helpers.js';

afterEach(cleanupTempDirs);

/** Paths whose byte order (SQLite's) differs from JS's `<`: U+FFFD sorts before an emoji by code point, after it by UTF-16 unit. */
const PATHS = ['b.txt', 'a/z.txt', 'a/é.txt', 'a/\uFFFD.txt', 'a/\u{1F600}.txt', 'a/E.txt', 'a.txt', 'a0', 'Zed', 'ü/x', 'gone.txt', 'old.txt'];

function storeWith(paths: readonly string[]): { store: Store; volumeId: number } {
  const store = Store.open(path.join(tempDir(), 'index.db'), { create: true });
  const nodeId = store.ensureNode('laptop');
  const volumeId = store.ensureVolume('pictures', '/pictures').id;
  const runId = store.runs.begin({ kind: 'index', volumeId, destination: null, nodeId, pid: process.pid, host: 'here', nowNs: 1n }, () => true);
  store.immediate(() => {
    paths.forEach((p, i) => {
      const contentId = store.files.ensureContent(Buffer.alloc(32, i + 1), 10 + i, nodeId, runId);
      const fileId = store.files.insertFile(volumeId, p, contentId, BigInt(i), runId);
      if (p === 'gone.txt') store.files.setStatus(fileId, 'missing', runId);
      if (p === 'old.txt') store.files.supersede(fileId, runId);
    });
  });
  return { store, volumeId };
}

describe('present rows a page at a time', () => {
  it('pages of 3 give every present row once, in code point order, as one query does', () => {
    // setup
    const { store, volumeId } = storeWith(PATHS);
    try {
      // act
      const paged = [...store.files.presentInPages(volumeId, 3)];
      const exact = [...store.files.presentInPages(volumeId, 5)];

      // expect
      const present = PATHS.filter((p) => p !== 'gone.txt' && p !== 'old.txt').sort(compareByCodePoint);
      expect(paged.map((f) => f.path)).toEqual(present);
      const whole = store.files.present(volumeId);
      expect(paged).toEqual(whole.map(({ id, path, contentId, size }) => ({ id, path, contentId, size })));
      expect([...store.files.filesByIds(paged.map((f) => f.id)).values()].sort((a, b) => a.id - b.id)).toEqual([...whole].sort((a, b) => a.id - b.id));
      expect(exact).toEqual(paged);
      expect(paged.findIndex((f) => f.path === 'a/\uFFFD.txt')).toBeLessThan(paged.findIndex((f) => f.path === 'a/\u{1F600}.txt'));
      expect(store.files.presentPaths(volumeId)).toEqual(present);
    } finally {
      store.close();
    }
  });

  it('totals count the present files and bytes, less the paths left out', () => {
    // setup
    const { store, volumeId } = storeWith(PATHS);
    try {
      const present = store.files.present(volumeId);

      // act
      const all = store.files.presentTotals(volumeId);
      const less = store.files.presentTotals(volumeId, ['a/é.txt', 'Zed', 'gone.txt', 'not-there']);

      // expect
      const bytes = (rows: typeof present) => rows.reduce((sum, f) => sum + f.size, 0);
      expect(all).toEqual({ files: present.length, bytes: bytes(present) });
      const kept = present.filter((f) => f.path !== 'a/é.txt' && f.path !== 'Zed');
      expect(less).toEqual({ files: kept.length, bytes: bytes(kept) });
    } finally {
      store.close();
    }
  });

  it('a page is a range seek on the present-rows index, not a scan and sort', () => {
    // setup
    const { store, volumeId } = storeWith(PATHS);
    try {
      // act
      const plan = store.db
        .prepare(`EXPLAIN QUERY PLAN SELECT f.path FROM files f JOIN contents c ON c.id = f.content_id
          WHERE f.volume_id = ? AND f.status = 'present' AND f.path > ? ORDER BY f.path LIMIT ?`)
        .all(volumeId, 'a', 3) as { detail: string }[];

      // expect
      const details = plan.map((row) => row.detail).join('\n');
      expect(details).toMatch(/files_present_scan \(volume_id=\? AND path>\?\)/);
      expect(details).not.toMatch(/TEMP B-TREE/);
    } finally {
      store.close();
    }
  });
});
