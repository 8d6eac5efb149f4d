// A local destination's listing walked on a worker thread (the compiled list-worker, as the CLI
// runs it) must give exactly what the in-thread walk gives, page after page, fail the same way,
// and never keep the process alive once its reader has stopped reading.

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { DestinationUnavailableError, ListedFile } from '../../src/destinations/destination.js';
import { walkInOrder } from '../../src/destinations/local/listing.js';
import { listOnThread } from '../../src/destinations/local/list-thread.js';
import { REPO_ROOT, cleanupTempDirs, tempDir } from '../helpers.js';

afterEach(cleanupTempDirs);

const WORKER = new URL('../../dist/destinations/local/list-worker.js', import.meta.url);

async function collect(listing: AsyncIterable<ListedFile>): Promise<ListedFile[]> {
  const out: ListedFile[] = [];
  for await (const file of listing) out.push(file);
  return out;
}

/** 2,400 files over nested folders whose names prefix each other, a symlink and an empty folder. */
function tree(): string {
  const root = tempDir('squirrel-list-');
  for (let i = 0; i < 2400; i++) {
    const folder = ['a', 'a-b', 'a/a', 'é', 'e'][i % 5];
    fs.mkdirSync(path.join(root, folder), { recursive: true });
    fs.writeFileSync(path.join(root, folder, `f${i}.bin`), Buffer.alloc(i % 7, i));
  }
  fs.writeFileSync(path.join(root, 'a.txt'), 'a');
  fs.symlinkSync('a.txt', path.join(root, 'link'));
  fs.mkdirSync(path.join(root, 'empty'));
  return root;
}

describe('the listing thread', () => {
  it('gives every file, size and fingerprint in the order the in-thread walk does, over several pages', async () => {
    // setup
    expect(fs.existsSync(WORKER), 'build first: npm run build').toBe(true);
    const root = tree();
    // act
    const threaded = await collect(listOnThread('d', root, '', WORKER)!);
    // expect
    expect(threaded.length).toBe(2401);
    expect(threaded).toEqual([...walkInOrder('d', root, '')]);
    expect(await collect(listOnThread('d', root, 'a-b', WORKER)!)).toEqual([...walkInOrder('d', root, 'a-b')]);
  });

  it('fails as the in-thread walk does when the root cannot be listed', async () => {
    // setup
    const root = path.join(tempDir(), 'gone');
    const inThread = (() => {
      try {
        Array.from(walkInOrder('d', root, ''));
      } catch (err) {
        return err as Error;
      }
      return null;
    })();
    // act
    const threaded = await collect(listOnThread('d', root, '', WORKER)!).catch((err: unknown) => err as Error);
    // expect
    expect(inThread).toBeInstanceOf(DestinationUnavailableError);
    expect(threaded).toBeInstanceOf(DestinationUnavailableError);
    expect((threaded as Error).message).toBe(inThread!.message);
  });

  it('lets the process end when the reader stops after one file without closing the listing', () => {
    // setup
    const root = tree();
    const script = path.join(tempDir(), 'read-one.mjs');
    fs.writeFileSync(script, `import { listOnThread } from ${JSON.stringify(path.join(REPO_ROOT, 'dist/destinations/local/list-thread.js'))};
      const listing = listOnThread('d', ${JSON.stringify(root)}, '');
      const first = await listing.next();
      console.log(first.value.path);`);
    // act
    const run = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
    // expect
    expect(run.error).toBeUndefined();
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe('a-b/f1.bin');
  });
});
