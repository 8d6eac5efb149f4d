// When sync moves an obstacle aside, the ledger's rows at its path and under it are marked
// missing. They are read with two seeks on the primary key, not by filtering the destination's
// whole ledger: the same rows, without holding a million of them for one obstacle.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { cleanupTempDirs, tempDir } from '../helpers.js';

afterEach(cleanupTempDirs);

/** Around `ns/a`: names that sort between `ns/a/` and `ns/a0` without being under it, and neighbours either side. */
const PATHS = ['ns/a', 'ns/a/b', 'ns/a/c/d', 'ns/a/', 'ns/a b', 'ns/a-x', 'ns/a.jpg', 'ns/a0', 'ns/ab', 'ns/Z', 'ns/é', 'other/a'];

describe('copies at or under a path', () => {
  it('are exactly the rows the path names or that start with it and a slash, at that destination only', () => {
    // setup
    const store = Store.open(path.join(tempDir(), 'index.db'), { create: true });
    try {
      const nodeId = store.ensureNode('laptop');
      const volumeId = store.ensureVolume('pictures', '/pictures').id;
      const runId = store.runs.begin({ kind: 'sync', volumeId, destination: 'nas', nodeId, pid: process.pid, host: 'here', nowNs: 1n }, () => true);
      const contentId = store.files.ensureContent(Buffer.alloc(32, 7), 3, nodeId, runId);
      store.immediate(() => {
        for (const p of PATHS) store.evidence.recordVerifiedCopy(volumeId, 'nas', p, contentId, runId, 1n);
        store.evidence.recordVerifiedCopy(volumeId, 'offsite', 'ns/a/b', contentId, runId, 1n);
      });

      // act
      const found = store.evidence.copiesAtOrUnder(volumeId, 'nas', 'ns/a');

      // expect
      const filtered = store.evidence.copies(volumeId, 'nas').filter((copy) => copy.path === 'ns/a' || copy.path.startsWith('ns/a/'));
      expect(found.map((c) => c.path).sort()).toEqual(['ns/a', 'ns/a/', 'ns/a/b', 'ns/a/c/d']);
      expect(found.sort((x, y) => (x.path < y.path ? -1 : 1))).toEqual(filtered.sort((x, y) => (x.path < y.path ? -1 : 1)));
    } finally {
      store.close();
    }
  });
});
