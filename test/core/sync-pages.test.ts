// Sync reads the present rows a page at a time (store.files.presentInPages) instead of holding
// every row of the volume. Over more than one page, with names whose code point order is not
// JS's `<` order, it must send, record, count and plan exactly what one read of every row did.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock.js';
import type { VolumeConfig } from '../../src/config/types.js';
import { pushVolume } from '../../src/core/push.js';
import { noHooks, Progress, silentReporter } from '../../src/core/reporter.js';
import { LocalDestination } from '../../src/destinations/local/local.js';
import { remotePathOf } from '../../src/destinations/destination.js';
import { PRESENT_PAGE } from '../../src/store/files.js';
import { Store } from '../../src/store/store.js';
import { cleanupTempDirs, TEST_NOW_NS } from '../helpers.js';
import { formatViolations } from '../reliability/invariants.js';
import { TARGETS, VOLUME, World } from '../reliability/world.js';

afterEach(() => cleanupTempDirs());

/** Names beyond ASCII: U+FFFD comes before an emoji by code point, after it by UTF-16 unit. */
const UNUSUAL = ['2019/é.bin', 'docs/\uFFFD.bin', 'docs/\u{1F600}.bin', 'Übersicht.bin'];

async function sync(world: World, options: { init?: boolean; dryRun?: boolean; progress?: Progress[] } = {}) {
  const store = Store.open(world.dbPath);
  try {
    const volume: VolumeConfig = { name: VOLUME, path: world.root, syncTo: TARGETS, offloadRequires: TARGETS, offloadMaxEvidenceAgeMs: null, namespaces: new Map(TARGETS.map((t) => [t, VOLUME])), exclude: [] };
    const identity = { nodeId: store.ensureNode('laptop'), pid: process.pid, host: os.hostname() };
    const reporter = { ...silentReporter, progress: (p: Progress) => options.progress?.push(p) };
    const destination = new LocalDestination('nas', world.destinations.nas);
    return await pushVolume(store, { volume, destination, node: 'laptop', init: options.init ?? false, dryRun: options.dryRun ?? false, clock: fixedClock(TEST_NOW_NS), nowNs: TEST_NOW_NS, identity, reporter, hooks: noHooks });
  } finally {
    store.close();
  }
}

/** What the dry run counted when it held every row and a map of every copy: the reference. */
function planFromEveryRow(world: World): { sentFiles: number; sentBytes: number; alreadyThereFiles: number } {
  const store = Store.open(world.dbPath);
  try {
    const volumeId = store.volume(VOLUME)!.id;
    const recorded = new Map(store.evidence.copies(volumeId, 'nas').map((c) => [c.path, c]));
    const plan = { sentFiles: 0, sentBytes: 0, alreadyThereFiles: 0 };
    for (const file of store.files.present(volumeId)) {
      const copy = recorded.get(remotePathOf(VOLUME, file.path));
      if (copy && copy.contentId === file.contentId && copy.state === 'ok') plan.alreadyThereFiles++;
      else {
        plan.sentFiles++;
        plan.sentBytes += file.size;
      }
    }
    return plan;
  } finally {
    store.close();
  }
}

describe('sync over more than one page of present rows', () => {
  it('sends and records every file once, counts progress against one COUNT/SUM, and plans as a map of every copy did', async () => {
    // setup
    const world = new World({ seed: 90, files: PRESENT_PAGE + 230, maxFileBytes: 64 });
    for (const name of UNUSUAL) world.write(name, Buffer.from(name));
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    const onDisk = world.onDisk();
    const bytes = onDisk.reduce((sum, p) => sum + fs.statSync(path.join(world.root, p)).size, 0);
    const progress: Progress[] = [];

    // act
    const first = await sync(world, { init: true, progress });

    // expect
    expect(first.status).toBe('success');
    expect(first.sentFiles).toBe(onDisk.length);
    expect(first.sentBytes).toBe(bytes);
    expect(progress.at(-1)).toMatchObject({ doneFiles: onDisk.length, totalFiles: onDisk.length, doneBytes: bytes, totalBytes: bytes });
    expect(progress.every((p) => p.totalFiles === onDisk.length && p.totalBytes === bytes)).toBe(true);
    const store = Store.open(world.dbPath);
    const ledger = store.evidence.copies(store.volume(VOLUME)!.id, 'nas').map((c) => c.path);
    store.close();
    expect(ledger.sort()).toEqual(onDisk.map((p) => remotePathOf(VOLUME, p)).sort());
    for (const name of UNUSUAL) expect(fs.readFileSync(path.join(world.destinations.nas, VOLUME, name), 'utf8')).toBe(name);
    expect(formatViolations(world.check({ settled: true }))).toBe('');

    // act: some new bytes, some new files, then a dry run and a sync with something to send
    const changed = [onDisk[3], onDisk[PRESENT_PAGE + 7], 'docs/\u{1F600}.bin'];
    for (const p of changed) world.write(p, Buffer.from(`new ${p}`));
    const added = [world.addFile(), world.addFile()];
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    const reference = planFromEveryRow(world);
    const planned = await sync(world, { dryRun: true });
    const again = await sync(world);

    // expect
    expect(reference.sentFiles).toBe(changed.length + added.length);
    expect({ sentFiles: planned.sentFiles, sentBytes: planned.sentBytes, alreadyThereFiles: planned.alreadyThereFiles }).toEqual(reference);
    expect(again.status).toBe('success');
    expect(again.sentFiles).toBe(changed.length + added.length);
    expect(again.alreadyThereFiles).toBe(reference.alreadyThereFiles);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });
});
