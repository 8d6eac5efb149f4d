// Opening a volume's namespace at a destination (SPEC §7.2): markers with ids and name rules,
// upgraded from the old format by a writer (who says so), the id pinned by the index,
// namespaces claimed by their node and volume and never written into or counted by another.

import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VolumeConfig } from '../../src/config/types.js';
import { Namespace, openNamespace, OpenNamespaceOptions } from '../../src/core/namespace.js';
import { DESTINATION_MARKER, NAMESPACE_MARKER } from '../../src/destinations/destination.js';
import { MemoryDestination, memoryStore } from '../../src/destinations/memory.js';
import { Store } from '../../src/store/store.js';
import { cleanupTempDirs, tempDir, TEST_NOW_NS } from '../helpers.js';

const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  cleanupTempDirs();
});

function index(volumeName = 'photos'): Store {
  const store = Store.open(path.join(tempDir(), 'index.db'), { create: true });
  stores.push(store);
  store.ensureVolume(volumeName, '/p');
  return store;
}

const volume: VolumeConfig = { name: 'photos', path: '/p', syncTo: ['nas'], offloadRequires: ['nas'], offloadMaxEvidenceAgeMs: null, namespaces: new Map([['nas', 'photos']]), exclude: [] };

function open(store: Store, dest: MemoryDestination, o: Partial<OpenNamespaceOptions> = {}): Promise<Namespace> {
  return openNamespace(store, dest, { volume, node: 'laptop', write: true, init: false, nowNs: TEST_NOW_NS, notes: [], ...o });
}

describe('openNamespace', () => {
  it('sync --init marks a new destination with an id and its probed name rules, and claims the namespace', async () => {
    // setup
    const store = index();
    const dest = new MemoryDestination('nas');
    const notes: string[] = [];
    // act
    const ns = await open(store, dest, { init: true, notes });
    // expect
    const marker = JSON.parse(dest.bytesAt(DESTINATION_MARKER)!.toString());
    expect(marker).toMatchObject({ squirrel: 2, name: 'nas', id: ns.destinationId, case_folding: false, unicode_normalization: false });
    expect(store.places.destinationId('nas')).toBe(ns.destinationId);
    expect(JSON.parse(dest.bytesAt(`photos/${NAMESPACE_MARKER}`)!.toString())).toMatchObject({ destination: ns.destinationId, node: 'laptop', volume: store.volume('photos')!.uid });
    expect(notes.join('\n')).toMatch(/namespace 'photos' claimed for volume 'photos' of node 'laptop'/);
  });

  it('a destination marked by an older squirrel keeps working: a writer adds the id and says so; a strict reader is told to sync', async () => {
    // setup: the old format, name only
    const store = index();
    const shared = memoryStore('unmarked');
    shared.files.set(DESTINATION_MARKER, Buffer.from('{"squirrel":1,"name":"nas"}\n'));
    const notes: string[] = [];
    // act
    const reader = open(store, new MemoryDestination('nas', shared), { write: false });
    const lenient = await open(store, new MemoryDestination('nas', shared), { write: false, lenient: true });
    const writer = await open(store, new MemoryDestination('nas', shared), { notes });
    // expect
    await expect(reader).rejects.toThrow(/older squirrel.*squirrel sync photos --to nas/);
    expect(lenient.claimed).toBe(false);
    expect(writer.destinationId).toMatch(/^[0-9a-f]{32}$/);
    expect(notes.join('\n')).toMatch(/written by an older squirrel, was upgraded: id [0-9a-f]{32} added/);
  });

  it('a drive that carries another id under the same name (swapped, re-initialised) is refused (exit 2)', async () => {
    // setup
    const store = index();
    await open(store, new MemoryDestination('nas'), { init: true });
    // act: another drive, initialised afresh, mounted as nas
    const other = open(store, new MemoryDestination('nas'), { init: true });
    // expect
    await expect(other).rejects.toMatchObject({ code: 'destination-replaced', exitCode: 2 });
  });

  it("another node's namespace is never claimed; the refusal names the owner and how to choose another", async () => {
    // setup: the laptop owns photos/ at the shared nas
    const shared = memoryStore();
    await open(index(), new MemoryDestination('nas', shared), { init: true });
    // act
    const desktop = open(index(), new MemoryDestination('nas', shared), { node: 'desktop' });
    // expect
    await expect(desktop).rejects.toMatchObject({ code: 'namespace-owned', exitCode: 2 });
    await expect(open(index(), new MemoryDestination('nas', shared), { node: 'desktop' })).rejects.toThrow(/belongs to node 'laptop'.*namespace: \{ nas: <name> \}.*namespace_prefix: desktop-/);
  });

  it('the same node name with another index (a second database) is refused too', async () => {
    // setup
    const shared = memoryStore();
    await open(index(), new MemoryDestination('nas', shared), { init: true });
    // act
    const second = open(index(), new MemoryDestination('nas', shared));
    // expect
    await expect(second).rejects.toThrow(/belongs to another index's volume 'photos'/);
  });

  it('a namespace marked for another destination (reached through a link) is refused', async () => {
    // setup: usb's namespace holds nas's namespace marker
    const nas = memoryStore();
    const store = index();
    await open(store, new MemoryDestination('nas', nas), { init: true });
    const usb = new MemoryDestination('usb', memoryStore());
    await usb.init();
    usb.store.files.set(`photos/${NAMESPACE_MARKER}`, nas.files.get(`photos/${NAMESPACE_MARKER}`)!);
    // act
    const opened = openNamespace(store, usb, { volume: { ...volume, syncTo: ['usb'], namespaces: new Map([['usb', 'photos']]) }, node: 'laptop', write: true, init: false, nowNs: TEST_NOW_NS, notes: [] });
    // expect
    await expect(opened).rejects.toMatchObject({ code: 'namespace-elsewhere' });
  });

  it('a volume marker in the namespace or at the root means the place is a volume itself: refused', async () => {
    // setup: the namespace folder holds the volume's own marker (the volume reached over the network)
    const store = index();
    const shared = memoryStore();
    const dest = new MemoryDestination('nas', shared);
    await dest.init();
    shared.files.set('photos/.squirrel-volume', Buffer.from('{"format":1,"volume":"photos"}'));
    // act + expect
    await expect(open(store, dest)).rejects.toMatchObject({ code: 'destination-is-volume', exitCode: 2 });
    expect(shared.files.has(`photos/${NAMESPACE_MARKER}`)).toBe(false);
  });

  it('sync --init never re-marks a destination this index knows once its marker is gone (a wiped drive)', async () => {
    // setup
    const store = index();
    const shared = memoryStore();
    await open(store, new MemoryDestination('nas', shared), { init: true });
    shared.files.clear();
    // act
    const reinit = open(store, new MemoryDestination('nas', shared), { init: true });
    // expect
    await expect(reinit).rejects.toMatchObject({ code: 'destination-replaced', exitCode: 2 });
    expect(shared.files.has(DESTINATION_MARKER)).toBe(false);
  });

  it('a renamed host (another node name, the same index) keeps its namespace, and says so', async () => {
    // setup
    const store = index();
    const shared = memoryStore();
    await open(store, new MemoryDestination('nas', shared), { init: true, node: 'annes-laptop' });
    const notes: string[] = [];
    // act
    const ns = await open(store, new MemoryDestination('nas', shared), { node: 'annes-laptop-2', notes });
    // expect
    expect(ns.claimed).toBe(true);
    expect(notes.join('\n')).toMatch(/claimed as node 'annes-laptop'; it is this index's \(same volume id\), now recorded as node 'annes-laptop-2'/);
    expect(JSON.parse(shared.files.get(`photos/${NAMESPACE_MARKER}`)!.toString()).node).toBe('annes-laptop-2');
  });

  it('a copy of the same index (a copied database) that synced since is caught by the write count: the original refuses', async () => {
    // setup: the laptop's index, copied to a second machine that then syncs into the namespace
    const laptop = index();
    const shared = memoryStore();
    await open(laptop, new MemoryDestination('nas', shared), { init: true });
    const copyPath = path.join(tempDir(), 'copy.db');
    await laptop.db.backup(copyPath);
    const desktop = Store.open(copyPath, { create: false });
    stores.push(desktop);
    await open(desktop, new MemoryDestination('nas', shared), { node: 'laptop' });
    // act
    const write = open(laptop, new MemoryDestination('nas', shared));
    const read = open(laptop, new MemoryDestination('nas', shared), { write: false });
    // expect
    await expect(write).rejects.toMatchObject({ code: 'namespace-diverged', exitCode: 2 });
    await expect(read).rejects.toMatchObject({ code: 'namespace-diverged' });
  });

  it('a marker one behind a write that was counted but never landed (a crash between the two) is accepted and moved on', async () => {
    // setup: the index counted a write the marker never got
    const store = index();
    const shared = memoryStore();
    await open(store, new MemoryDestination('nas', shared), { init: true });
    const marker = JSON.parse(shared.files.get(`photos/${NAMESPACE_MARKER}`)!.toString());
    const volumeId = store.volume('photos')!.id;
    store.places.setNamespaceWrites(volumeId, 'nas', 'photos', marker.writes + 1);
    // act
    const ns = await open(store, new MemoryDestination('nas', shared));
    // expect
    expect(ns.claimed).toBe(true);
    expect(JSON.parse(shared.files.get(`photos/${NAMESPACE_MARKER}`)!.toString()).writes).toBe(marker.writes + 2);
  });

  it('a marker behind a write seen to land (a destination rolled back to an older copy) is refused; a verify --adopt reader is given its count', async () => {
    // setup
    const store = index();
    const shared = memoryStore();
    await open(store, new MemoryDestination('nas', shared), { init: true });
    await open(store, new MemoryDestination('nas', shared));
    const marker = JSON.parse(shared.files.get(`photos/${NAMESPACE_MARKER}`)!.toString());
    shared.files.set(`photos/${NAMESPACE_MARKER}`, Buffer.from(JSON.stringify({ ...marker, writes: 1 })));
    // act
    const writer = open(store, new MemoryDestination('nas', shared));
    const adopter = await open(store, new MemoryDestination('nas', shared), { write: false, lenient: true, adopt: true });
    // expect
    await expect(writer).rejects.toMatchObject({ code: 'namespace-rewound' });
    expect(adopter.adoptWrites).toBe(1);
    expect(JSON.parse(shared.files.get(`photos/${NAMESPACE_MARKER}`)!.toString()).writes).toBe(1);
  });
});
