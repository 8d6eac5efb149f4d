// `squirrel query`: a content by hash (where it is, its origin, its destination copies) and a
// path's current row and history. In-process; the index runs with the in-thread hasher.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContentQueryResult, PathQueryResult } from '../../src/core/index/query.js';
import { blake3Hex, hashBytes } from '../../src/hash.js';
import { Store } from '../../src/store/store.js';
import { TEST_NOW_NS, bin, cleanupTempDirs, cli, json, makeSandbox, withConfig } from '../helpers.js';

afterEach(cleanupTempDirs);

const ALPHA = blake3Hex(hashBytes(Buffer.from('alpha')));

async function indexed(files: Record<string, string>) {
  const sb = makeSandbox(files);
  const result = await cli(withConfig(sb, 'index', 'photos'));
  expect(result.code).toBe(0);
  return sb;
}

describe('query by hash', () => {
  it('shows the content, every path holding it with its status, and its origin', async () => {
    // setup
    const sb = await indexed({ 'a.txt': 'alpha', 'copy/a.txt': 'alpha', 'b.txt': 'beta' });
    // act
    const result = await cli(withConfig(sb, 'query', ALPHA));
    // expect
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`content ${ALPHA}  5 bytes  origin laptop run 1`);
    expect(result.stdout).toContain('photos:a.txt  present  first seen run 1, last seen run 1, present since run 1');
    expect(result.stdout).toContain('photos:copy/a.txt  present');
    expect(result.stdout).not.toContain('b.txt');
    expect(result.stdout).toContain('copies:\n  (none recorded)');
  });

  it('lists the destination copies from the ledger with their state, in --json too', async () => {
    // setup
    const sb = await indexed({ 'a.txt': 'alpha' });
    const store = Store.open(sb.dbPath);
    const volumeId = store.volume('photos')!.id;
    const contentId = store.files.livePath(volumeId, 'a.txt')!.contentId;
    store.immediate(() => {
      store.evidence.recordVerifiedCopy(volumeId, 'nas', 'a.txt', contentId, 1, TEST_NOW_NS);
      store.evidence.recordVerifiedCopy(volumeId, 'offsite', 'a.txt', contentId, 1, TEST_NOW_NS);
      store.evidence.markCopy(volumeId, 'offsite', 'a.txt', 'corrupt', TEST_NOW_NS, 1);
    });
    store.close();
    // act
    const text = await cli(withConfig(sb, 'query', ALPHA.toUpperCase()));
    const doc = json<ContentQueryResult>(await cli(withConfig(sb, '--json', 'query', ALPHA)));
    // expect
    expect(text.stdout).toContain('  nas:a.txt  ok  pushed run 1, verified 2026-06-01T00:00:00.000Z');
    expect(text.stdout).toContain('  offsite:a.txt  corrupt');
    expect(doc.copies.map((c) => [c.destination, c.state])).toEqual([['nas', 'ok'], ['offsite', 'corrupt']]);
    expect(doc.content).toMatchObject({ blake3: ALPHA, sizeBytes: 5, originNode: 'laptop', originRunId: 1 });
    expect(doc.files).toHaveLength(1);
  });

  it('an unknown hash is not found: exit 1', async () => {
    // setup
    const sb = await indexed({ 'a.txt': 'alpha' });
    // act
    const result = await cli(withConfig(sb, '--json', 'query', '0'.repeat(64)));
    // expect
    expect(result.code).toBe(1);
    expect(json<ContentQueryResult>(result)).toMatchObject({ kind: 'content', found: false });
  });
});

describe('query by path', () => {
  it('accepts <volume>:<path> and --volume V <path> alike', async () => {
    // setup
    const sb = await indexed({ 'dir/a.txt': 'alpha' });
    // act
    const colon = json<PathQueryResult>(await cli(withConfig(sb, '--json', 'query', 'photos:dir/a.txt')));
    const flag = json<PathQueryResult>(await cli(withConfig(sb, '--json', 'query', '--volume', 'photos', './dir/a.txt')));
    // expect
    expect(colon).toEqual(flag);
    expect(colon.current).toMatchObject({ volume: 'photos', path: 'dir/a.txt', status: 'present', blake3: ALPHA, sizeBytes: 5, firstSeenRunId: 1 });
    expect(colon.history).toBeNull();
  });

  it('--history lists every content the path held, oldest first', async () => {
    // setup
    const sb = await indexed({ 'a.txt': 'alpha' });
    fs.writeFileSync(path.join(sb.volumePath, 'a.txt'), 'alpha v2');
    await cli(withConfig(sb, 'index', 'photos'));
    fs.rmSync(path.join(sb.volumePath, 'a.txt'));
    await cli(withConfig(sb, 'index', 'photos'));
    // act
    const text = await cli(withConfig(sb, 'query', '--history', 'photos:a.txt'));
    const doc = json<PathQueryResult>(await cli(withConfig(sb, '--json', 'query', '--history', 'photos:a.txt')));
    // expect
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('photos:a.txt  missing  first seen run 2, last seen run 2, missing since run 3');
    expect(text.stdout).toMatch(new RegExp(`superseded +${ALPHA}  5 bytes  runs 1\\.\\.1, superseded since run 2`));
    expect(doc.history!.map((h) => [h.status, h.sizeBytes])).toEqual([['superseded', 5], ['missing', 8]]);
  });

  it('a path never indexed is not found: exit 1', async () => {
    // setup
    const sb = await indexed({ 'a.txt': 'alpha' });
    // act
    const result = await cli(withConfig(sb, 'query', 'photos:nope.txt'));
    // expect
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('photos:nope.txt  not in the index');
  });

  it.each([
    [['query', '--volume', 'music', 'a.txt'], "no volume 'music'"],
    [['query', 'photos:../etc/passwd'], "contains '..'"],
    [['query', 'photos:/etc/passwd'], 'is absolute'],
    [['query', 'photos:'], 'is empty'],
  ])('usage errors exit 2: %j', async (args, message) => {
    // setup
    const sb = await indexed({ 'a.txt': 'alpha' });
    // act
    const result = await cli(withConfig(sb, ...args));
    // expect
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('with one volume configured, a bare path is in it (real binary); the copies show as destination:path', async () => {
    // setup
    const sb = makeSandbox({ 'dir/a.txt': 'alpha' }, { destinations: ['nas'] });
    expect(bin(withConfig(sb, 'index', 'photos')).code).toBe(0);
    expect(bin(withConfig(sb, 'sync', 'photos', '--init')).code).toBe(0);
    // act
    const bare = bin(withConfig(sb, 'query', 'dir/a.txt'));
    const byHash = bin(withConfig(sb, 'query', ALPHA));
    // expect
    expect(bare.code, bare.stderr).toBe(0);
    expect(bare.stdout).toMatch(/^photos:dir\/a\.txt  present/m);
    expect(byHash.stdout).toMatch(/^ {2}nas:photos\/dir\/a\.txt {2}ok/m);
    expect(byHash.stdout).not.toContain('photos:photos/');
  });

  it.each([
    [['query', 'a.txt'], 'neither a BLAKE3 hash (64 hex digits) nor <volume>:<path>'],
    [['query', 'music:a.txt'], 'neither a BLAKE3 hash'],
  ])('with two volumes, a bare path is a usage error: %j', async (args, message) => {
    // setup
    const sb = await indexed({ 'a.txt': 'alpha' });
    const volumes = sb.config.volumes as Record<string, unknown>;
    sb.writeConfig({ volumes: { ...volumes, docs: { path: path.join(sb.dir, 'docs'), sync_to: [] } } });
    // act
    const result = await cli(withConfig(sb, ...args));
    // expect
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('works from the real binary on what the binary indexed', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    expect(bin(withConfig(sb, 'index', 'photos')).code).toBe(0);
    // act
    const result = bin(withConfig(sb, 'query', 'photos:a.txt'));
    // expect
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`content ${ALPHA}  5 bytes  origin laptop run 1`);
  });
});
