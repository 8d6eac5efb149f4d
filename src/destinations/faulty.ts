// A fault-injecting wrapper around any Destination, for tests of everything above the
// destination layer: a failing call, bit rot, a destination that acknowledges a write it
// never made, a stale listing, bytes that change between reads. With no faults it is a
// transparent pass-through (and passes the conformance suite as such). Test-only: the
// byte-level faults buffer a whole file in memory.

import { hashBytes, READ_CHUNK_BYTES } from '../hash.js';
import {
  Destination,
  DestinationUnavailableError,
  HashResult,
  ListedFile,
  ListHint,
  RootState,
  StatResult,
  checkDestinationPath,
  checkStagingPath,
  PutHint, SourceExpectation,
} from './destination.js';

export type DestinationMethod = 'rootState' | 'list' | 'stat' | 'read' | 'hash' | 'init' | 'put' | 'moveAside' | 'readSmall' | 'writeSmall' | 'removeCatalogFile' | 'removeStaging';

/**
 * One injected fault. `path`, where present, limits it to calls whose (first) path argument
 * is exactly that path (for list: the prefix); absent, it applies to every path.
 */
export type Fault =
  /**
   * The `nth` matching call (1-based, counted per fault) of `method` throws
   * DestinationUnavailableError; without `nth`, every matching call does. `method: '*'` is
   * a destination that stopped answering altogether. For read() and list() the error comes
   * on iteration; `afterBytes` (read only) lets that many bytes through first, an I/O error
   * in the middle of a file.
   */
  | { kind: 'fail'; method: DestinationMethod | '*'; nth?: number; path?: string; afterBytes?: number }
  /**
   * Bit rot: read() and hash() see the stored bytes with the byte at `offset` (default 0,
   * clamped to the last byte) flipped; an empty file reads as one byte. stat() still reports
   * the stored size, so only a content check (hash) can notice.
   */
  | { kind: 'corrupt'; path?: string; offset?: number }
  /**
   * A destination that lies: put() resolves as if it succeeded but stores nothing, so the
   * file is absent to stat()/hash() right afterwards.
   */
  | { kind: 'lose'; path?: string }
  /**
   * A stale listing: the first list() after the fault is added takes a snapshot of the whole
   * destination, and every list() answers from it, blind to later puts and moves. stat()
   * and hash() still tell the truth.
   */
  | { kind: 'stale-list' }
  /**
   * Unstable bytes: the first read of a path (read() or hash()) returns the stored bytes, every
   * later one returns them with the last byte flipped (an empty file: one extra byte).
   */
  | { kind: 'reread-differs'; path?: string };

interface ActiveFault {
  fault: Fault;
  matchingCalls: number;
  snapshot?: ListedFile[];
  readsByPath: Map<string, number>;
}

export class FaultyDestination implements Destination {
  readonly name: string;
  readonly type: string;
  readonly location: string;
  private active: ActiveFault[] = [];
  /** Calls per method, faulted or not. */
  readonly callCounts = new Map<DestinationMethod, number>();

  constructor(
    readonly inner: Destination,
    faults: Fault[] = [],
  ) {
    this.name = inner.name;
    this.type = inner.type;
    this.location = inner.location;
    for (const fault of faults) this.inject(fault);
  }

  inject(fault: Fault): void {
    this.active.push({ fault, matchingCalls: 0, readsByPath: new Map() });
  }

  clearFaults(): void {
    this.active = [];
  }

  async rootState(): Promise<RootState> {
    this.throwIfFailing('rootState', undefined);
    return this.inner.rootState();
  }

  async init(): Promise<void> {
    this.throwIfFailing('init', undefined);
    return this.inner.init();
  }

  list(prefix: string, hint?: ListHint): AsyncIterable<ListedFile> {
    const failure = this.failing('list', prefix);
    const stale = this.active.find((entry) => entry.fault.kind === 'stale-list');
    if (stale) checkDestinationPath(this.name, 'list', prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, true);
    const source = stale ? null : this.inner.list(prefix, hint);
    return this.listWithFaults(prefix, failure, stale, source);
  }

  async stat(relativePath: string): Promise<StatResult> {
    this.throwIfFailing('stat', relativePath);
    return this.inner.stat(relativePath);
  }

  read(relativePath: string): AsyncIterable<Uint8Array> {
    const failure = this.failing('read', relativePath);
    const transform = this.byteTransform(relativePath);
    const source = this.inner.read(relativePath);
    return this.readWithFaults(failure, transform, source);
  }

  async hash(relativePath: string): Promise<HashResult> {
    this.throwIfFailing('hash', relativePath);
    const transform = this.byteTransform(relativePath);
    if (!transform) return this.inner.hash(relativePath);
    const stored = await this.inner.hash(relativePath);
    if (stored.kind === 'absent') return stored;
    const bytes = transform(await collect(this.inner.read(relativePath)));
    return { kind: 'present', blake3: hashBytes(bytes), sizeBytes: bytes.length, method: stored.method };
  }

  async readSmall(relativePath: string): Promise<Buffer | null> {
    this.throwIfFailing('readSmall', relativePath);
    return this.inner.readSmall(relativePath);
  }

  async writeSmall(relativePath: string, bytes: Buffer, mode: 'create' | 'replace'): Promise<boolean> {
    this.throwIfFailing('writeSmall', relativePath);
    return this.inner.writeSmall(relativePath, bytes, mode);
  }

  async removeCatalogFile(relativePath: string): Promise<void> {
    this.throwIfFailing('removeCatalogFile', relativePath);
    return this.inner.removeCatalogFile(relativePath);
  }

  async put(relativePath: string, localFile: string, stagingPath: string, expected?: SourceExpectation, hint?: PutHint): Promise<void> {
    this.throwIfFailing('put', relativePath);
    if (this.active.some(({ fault }) => fault.kind === 'lose' && matches(fault.path, relativePath))) {
      checkDestinationPath(this.name, 'put', relativePath);
      checkStagingPath(this.name, relativePath, stagingPath);
      return;
    }
    return this.inner.put(relativePath, localFile, stagingPath, expected, hint);
  }

  async moveAside(relativePath: string, historyPath: string): Promise<void> {
    this.throwIfFailing('moveAside', relativePath);
    return this.inner.moveAside(relativePath, historyPath);
  }

  async removeStaging(relativePath: string): Promise<number> {
    this.throwIfFailing('removeStaging', relativePath);
    return this.inner.removeStaging(relativePath);
  }

  /** Count the call; the 'fail' fault that fires for it, if any. */
  private failing(method: DestinationMethod, relativePath: string | undefined): Extract<Fault, { kind: 'fail' }> | null {
    this.callCounts.set(method, (this.callCounts.get(method) ?? 0) + 1);
    let fired: Extract<Fault, { kind: 'fail' }> | null = null;
    for (const entry of this.active) {
      const fault = entry.fault;
      if (fault.kind !== 'fail' || (fault.method !== '*' && fault.method !== method)) continue;
      if (fault.path !== undefined && fault.path !== relativePath) continue;
      entry.matchingCalls++;
      if (fired === null && (fault.nth === undefined || fault.nth === entry.matchingCalls)) fired = fault;
    }
    return fired;
  }

  private throwIfFailing(method: DestinationMethod, relativePath: string | undefined): void {
    const fault = this.failing(method, relativePath);
    if (fault) throw this.injected(method, fault);
  }

  private injected(method: DestinationMethod, fault: Extract<Fault, { kind: 'fail' }>): DestinationUnavailableError {
    const which = fault.nth === undefined ? 'every call' : `call #${fault.nth}`;
    return new DestinationUnavailableError(this.name, method, `injected fault (${which} of ${fault.method}${fault.path === undefined ? '' : ` on ${fault.path}`})`);
  }

  /** The byte-level faults this read of the path is subject to, composed; null for none. */
  private byteTransform(relativePath: string): ((bytes: Buffer) => Buffer) | null {
    const transforms: ((bytes: Buffer) => Buffer)[] = [];
    for (const entry of this.active) {
      const fault = entry.fault;
      if (fault.kind === 'corrupt' && matches(fault.path, relativePath)) {
        transforms.push((bytes) => flipByte(bytes, fault.offset ?? 0));
      } else if (fault.kind === 'reread-differs' && matches(fault.path, relativePath)) {
        const reads = (entry.readsByPath.get(relativePath) ?? 0) + 1;
        entry.readsByPath.set(relativePath, reads);
        if (reads > 1) transforms.push((bytes) => flipByte(bytes, bytes.length - 1));
      }
    }
    if (transforms.length === 0) return null;
    return (bytes) => transforms.reduce((current, transform) => transform(current), bytes);
  }

  private async *readWithFaults(
    failure: Extract<Fault, { kind: 'fail' }> | null,
    transform: ((bytes: Buffer) => Buffer) | null,
    source: AsyncIterable<Uint8Array>,
  ): AsyncGenerator<Uint8Array> {
    if (failure && failure.afterBytes === undefined) throw this.injected('read', failure);
    if (!failure && !transform) {
      yield* source;
      return;
    }
    let bytes = await collect(source);
    if (transform) bytes = transform(bytes);
    const limitBytes = failure?.afterBytes ?? bytes.length;
    for (let offset = 0; offset < Math.min(limitBytes, bytes.length); offset += READ_CHUNK_BYTES) {
      yield bytes.subarray(offset, Math.min(offset + READ_CHUNK_BYTES, limitBytes));
    }
    if (failure) throw this.injected('read', failure);
  }

  private async *listWithFaults(
    prefix: string,
    failure: Extract<Fault, { kind: 'fail' }> | null,
    stale: ActiveFault | undefined,
    source: AsyncIterable<ListedFile> | null,
  ): AsyncGenerator<ListedFile> {
    if (failure) throw this.injected('list', failure);
    if (source) {
      yield* source;
      return;
    }
    if (!stale) return;
    if (!stale.snapshot) {
      const snapshot: ListedFile[] = [];
      for await (const file of this.inner.list('')) snapshot.push(file);
      stale.snapshot = snapshot;
    }
    const start = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    const under = start === '' ? '' : `${start}/`;
    for (const file of stale.snapshot) if (file.path.startsWith(under)) yield file;
  }
}

function matches(faultPath: string | undefined, relativePath: string): boolean {
  return faultPath === undefined || faultPath === relativePath;
}

function flipByte(bytes: Buffer, offset: number): Buffer {
  if (bytes.length === 0) return Buffer.from([0x01]);
  const copy = Buffer.from(bytes);
  const at = Math.min(Math.max(offset, 0), copy.length - 1);
  copy[at] ^= 0xff;
  return copy;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}
