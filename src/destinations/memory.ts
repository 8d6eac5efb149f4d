// An in-memory destination for unit tests: a Map of path -> bytes plus a "root exists" flag,
// with the marker stored as an ordinary file like on disk. It keeps the same contracts as the
// local destination (no clobbering, refusal on a missing or unmarked root, a file and a
// directory cannot share a name), so code tested against it behaves the same on a drive.

import fs from 'node:fs';
import { errorDetail } from '../errors.js';
import { READ_CHUNK_BYTES, hashBytes } from '../hash.js';
import { compareByCodePoint } from '../paths.js';
import { ABSENT, checkCatalogFilePath, checkDestinationPath, checkStagingPath, checkStagingRemoval, Destination, DESTINATION_MARKER, DestinationUnavailableError, HashResult, ListedFile, listPrefix, LocalSourceError, METHOD_READBACK, nameTaken, notAFile, requireMarkedRootState, RootState, SourceExpectation, StatResult } from './destination.js';
import { openLocalSource } from './local-source.js';
import { checkMarker, encodeMarker, markedRootState } from './markers.js';

/** The storage behind one or more MemoryDestination objects (two names on one "directory"). */
export interface MemoryStore {
  rootExists: boolean;
  files: Map<string, Buffer>;
  /** Non-null: every operation fails with this reason, as an unreachable destination would. */
  unreachable: string | null;
}

export function memoryStore(root: 'missing' | 'unmarked' = 'missing'): MemoryStore {
  return { rootExists: root === 'unmarked', files: new Map(), unreachable: null };
}

export class MemoryDestination implements Destination {
  readonly type = 'memory';
  readonly location: string;

  constructor(
    readonly name = 'memory',
    readonly store: MemoryStore = memoryStore(),
  ) {
    this.location = `memory:${name}`;
  }

  /** Simulate an unreachable destination (null: reachable again). */
  setUnreachable(reason: string | null): void {
    this.store.unreachable = reason;
  }

  /** The stored bytes, for assertions. */
  bytesAt(relativePath: string): Buffer | undefined {
    return this.store.files.get(relativePath);
  }

  async rootState(): Promise<RootState> {
    this.reachable('rootState');
    if (!this.store.rootExists) return 'missing';
    return markedRootState(this.name, this.location, this.store.files.get(DESTINATION_MARKER) ?? null, 'rootState');
  }

  async init(): Promise<void> {
    this.reachable('init');
    this.store.rootExists = true;
    const marker = this.store.files.get(DESTINATION_MARKER);
    if (marker !== undefined) checkMarker(this.name, this.location, marker, 'init');
    else this.store.files.set(DESTINATION_MARKER, encodeMarker(this.name));
  }

  list(prefix: string): AsyncIterable<ListedFile> {
    return this.listFrom(listPrefix(this.name, prefix));
  }

  async stat(relativePath: string): Promise<StatResult> {
    const bytes = this.lookup('stat', relativePath);
    return bytes === undefined ? ABSENT : { kind: 'present', sizeBytes: bytes.length };
  }

  read(relativePath: string): AsyncIterable<Uint8Array> {
    checkDestinationPath(this.name, 'read', relativePath);
    return this.readChunks(relativePath);
  }

  async hash(relativePath: string): Promise<HashResult> {
    const bytes = this.lookup('hash', relativePath);
    if (bytes === undefined) return ABSENT;
    return { kind: 'present', blake3: hashBytes(bytes), sizeBytes: bytes.length, method: METHOD_READBACK };
  }

  async put(relativePath: string, localFile: string, stagingPath: string, expected?: SourceExpectation): Promise<void> {
    checkDestinationPath(this.name, 'put', relativePath);
    checkStagingPath(this.name, relativePath, stagingPath);
    this.requireMarkedRoot('put');
    const bytes = readLocalFile(localFile, expected);
    this.requirePlaceable('put', stagingPath);
    this.store.files.set(stagingPath, bytes);
    try {
      this.requirePlaceable('put', relativePath);
      if (this.store.files.has(relativePath)) throw nameTaken(this.name, 'put', relativePath);
      this.store.files.set(relativePath, bytes);
    } finally {
      this.store.files.delete(stagingPath);
    }
  }

  async moveAside(relativePath: string, historyPath: string): Promise<void> {
    checkDestinationPath(this.name, 'moveAside', relativePath);
    checkDestinationPath(this.name, 'moveAside', historyPath);
    this.requireMarkedRoot('moveAside');
    const bytes = this.store.files.get(relativePath);
    if (bytes === undefined) return this.moveFolderAside(relativePath, historyPath);
    this.requirePlaceable('moveAside', historyPath);
    if (this.store.files.has(historyPath)) throw nameTaken(this.name, 'moveAside', historyPath);
    this.store.files.set(historyPath, bytes);
    this.store.files.delete(relativePath);
  }

  async removeStaging(relativePath: string): Promise<number> {
    checkStagingRemoval(this.name, relativePath);
    this.requireMarkedRoot('removeStaging');
    let removed = 0;
    for (const filePath of [...this.store.files.keys()]) {
      if (filePath === relativePath || filePath.startsWith(`${relativePath}/`)) removed += Number(this.store.files.delete(filePath));
    }
    return removed;
  }

  /** A folder moves whole, like a rename on disk: every file under it, or nothing when one would clobber. */
  private moveFolderAside(relativePath: string, historyPath: string): void {
    const inside = [...this.store.files.keys()].filter((filePath) => filePath.startsWith(`${relativePath}/`));
    if (inside.length === 0) return;
    this.requirePlaceable('moveAside', historyPath);
    if (this.store.files.has(historyPath) || this.isDirectory(historyPath)) {
      throw new DestinationUnavailableError(this.name, 'moveAside', `${historyPath} already exists; nothing was moved`);
    }
    for (const filePath of inside) {
      this.store.files.set(historyPath + filePath.slice(relativePath.length), this.store.files.get(filePath)!);
      this.store.files.delete(filePath);
    }
  }

  async readSmall(relativePath: string): Promise<Buffer | null> {
    checkDestinationPath(this.name, 'readSmall', relativePath);
    this.reachable('readSmall');
    return this.store.files.get(relativePath) ?? null;
  }

  async writeSmall(relativePath: string, bytes: Buffer, mode: 'create' | 'replace'): Promise<boolean> {
    checkDestinationPath(this.name, 'writeSmall', relativePath);
    this.requireMarkedRoot('writeSmall');
    this.requirePlaceable('writeSmall', relativePath);
    if (mode === 'create' && this.store.files.has(relativePath)) return false;
    this.store.files.set(relativePath, Buffer.from(bytes));
    return true;
  }

  async removeCatalogFile(relativePath: string): Promise<void> {
    checkCatalogFilePath(this.name, relativePath);
    this.requireMarkedRoot('removeCatalogFile');
    this.store.files.delete(relativePath);
  }

  /** The bytes at a path, undefined when absent; throws where the disk would. */
  private lookup(operation: string, relativePath: string): Buffer | undefined {
    checkDestinationPath(this.name, operation, relativePath);
    this.reachable(operation);
    const bytes = this.store.files.get(relativePath);
    if (bytes !== undefined) return bytes;
    this.requireNoFileAncestor(operation, relativePath);
    if (this.isDirectory(relativePath)) throw notAFile(this.name, operation, relativePath, 'a directory');
    this.requireMarkedRoot(operation);
    return undefined;
  }

  private async *readChunks(relativePath: string): AsyncGenerator<Uint8Array> {
    const bytes = this.lookup('read', relativePath);
    if (bytes === undefined) throw new DestinationUnavailableError(this.name, 'read', `${relativePath} does not exist`);
    for (let offset = 0; offset < bytes.length; offset += READ_CHUNK_BYTES) {
      yield Buffer.from(bytes.subarray(offset, offset + READ_CHUNK_BYTES));
    }
  }

  private async *listFrom(prefix: string): AsyncGenerator<ListedFile> {
    this.requireMarkedRoot('list');
    const under = prefix === '' ? '' : `${prefix}/`;
    const listed = [...this.store.files].filter(([filePath]) => filePath.startsWith(under)).map(([filePath, bytes]) => ({ path: filePath, sizeBytes: bytes.length }));
    listed.sort((a, b) => compareByCodePoint(a.path, b.path));
    for (const file of listed) yield file;
  }

  private reachable(operation: string): void {
    if (this.store.unreachable !== null) throw new DestinationUnavailableError(this.name, operation, this.store.unreachable);
  }

  private requireMarkedRoot(operation: string): void {
    this.reachable(operation);
    const state = !this.store.rootExists ? 'missing' : this.store.files.has(DESTINATION_MARKER) ? 'ok' : 'unmarked';
    requireMarkedRootState(this.name, operation, state, {
      missing: `root ${this.location} does not exist (is the drive mounted?)`,
      unmarked: `root ${this.location} has no ${DESTINATION_MARKER} marker`,
    });
  }

  /** A file and a directory cannot share a name, as on disk. */
  private requirePlaceable(operation: string, relativePath: string): void {
    this.requireNoFileAncestor(operation, relativePath);
    if (this.isDirectory(relativePath)) {
      throw new DestinationUnavailableError(this.name, operation, `${relativePath} already exists as a directory; it was left untouched`);
    }
  }

  private requireNoFileAncestor(operation: string, relativePath: string): void {
    const segments = relativePath.split('/');
    for (let depth = 1; depth < segments.length; depth++) {
      const ancestor = segments.slice(0, depth).join('/');
      if (this.store.files.has(ancestor)) throw new DestinationUnavailableError(this.name, operation, `${ancestor} is a file, not a directory`);
    }
  }

  private isDirectory(relativePath: string): boolean {
    const under = `${relativePath}/`;
    for (const filePath of this.store.files.keys()) if (filePath.startsWith(under)) return true;
    return false;
  }
}

function readLocalFile(localFile: string, expected?: SourceExpectation): Buffer {
  const source = openLocalSource(localFile, expected);
  try {
    return fs.readFileSync(source.fd);
  } catch (err) {
    throw new LocalSourceError(localFile, errorDetail(err));
  } finally {
    fs.closeSync(source.fd);
  }
}
