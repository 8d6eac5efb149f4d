// Local puts on worker threads: a put is a dozen blocking calls and a sync makes thousands, which
// on the main thread queue behind each other and behind the read-backs. Each worker runs
// LocalDestination.put itself, so a put keeps its exact contract and errors. Without the compiled
// worker script (tests of the TypeScript sources) createPutPool returns null: puts run in-thread.

import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { compiledWorker } from '../../thread-pages.js';
import { DestinationUnavailableError, LocalSourceError, SourceExpectation, UnsafeDestinationPathError } from '../destination.js';

/** One put, addressed by the destination's name and absolute root (a worker keeps one LocalDestination per root). */
export interface PutTask {
  destination: string;
  root: string;
  relativePath: string;
  localFile: string;
  stagingPath: string;
  expected?: SourceExpectation;
}

export interface PutPool {
  readonly threads: number;
  put(task: PutTask): Promise<void>;
  close(): Promise<void>;
}

/** A put's failure as it crosses the thread boundary: enough to rebuild the same error. */
export type WireError =
  | { kind: 'destination-unavailable' | 'unsafe-path'; destination: string; operation: string; detail: string }
  | { kind: 'local-source'; localFile: string; detail: string }
  | { kind: 'other'; message: string };

export function toWireError(err: unknown): WireError {
  if (err instanceof DestinationUnavailableError) {
    const kind = err instanceof UnsafeDestinationPathError ? 'unsafe-path' : 'destination-unavailable';
    return { kind, destination: err.destination, operation: err.operation, detail: err.detail };
  }
  if (err instanceof LocalSourceError) return { kind: 'local-source', localFile: err.localFile, detail: err.detail };
  return { kind: 'other', message: err instanceof Error ? err.message : String(err) };
}

export function fromWireError(wire: WireError): Error {
  switch (wire.kind) {
    case 'destination-unavailable':
      return new DestinationUnavailableError(wire.destination, wire.operation, wire.detail);
    case 'unsafe-path':
      return new UnsafeDestinationPathError(wire.destination, wire.operation, wire.detail);
    case 'local-source':
      return new LocalSourceError(wire.localFile, wire.detail);
    case 'other':
      return new Error(wire.message);
  }
}

/** Puts each worker runs at once: enough that its flushes overlap on libuv's pool. */
export const PUTS_IN_FLIGHT_PER_WORKER = 16;

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: () => void; reject: (err: Error) => void }>;
}

class WorkerPutPool implements PutPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;

  constructor(
    private readonly workerUrl: URL,
    readonly threads: number,
  ) {}

  put(task: PutTask): Promise<void> {
    return new Promise((resolve, reject) => {
      const slot = this.leastBusy();
      const id = this.nextId++;
      // A worker keeps the process alive only while it has puts to answer.
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, task });
    });
  }

  /** Workers start on first use, one per thread; a worker that died is replaced. */
  private leastBusy(): Slot {
    if (this.slots.length < this.threads) {
      const slot = this.spawn();
      this.slots.push(slot);
      return slot;
    }
    return this.slots.reduce((best, slot) => (slot.pending.size < best.pending.size ? slot : best));
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(this.workerUrl), pending: new Map() };
    slot.worker.on('message', (message: { id: number; error: WireError | null }) => {
      const pending = slot.pending.get(message.id);
      if (!pending) return;
      slot.pending.delete(message.id);
      if (slot.pending.size === 0) slot.worker.unref();
      if (message.error) pending.reject(fromWireError(message.error));
      else pending.resolve();
    });
    const fail = (err: Error) => {
      const index = this.slots.indexOf(slot);
      if (index < 0) return;
      this.slots.splice(index, 1);
      for (const pending of slot.pending.values()) pending.reject(err);
      slot.pending.clear();
    };
    slot.worker.on('error', (err) => fail(new Error(`put worker failed: ${err.message}`)));
    slot.worker.on('exit', (code) => fail(new Error(`put worker exited with code ${code}`)));
    return slot;
  }

  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }
}

/**
 * A pool with one worker per core, or null when no compiled worker exists (put in-thread).
 * workerUrl: the compiled worker to run (tests of the TypeScript sources point it into dist/).
 */
export function createPutPool(options: { threads?: number; workerUrl?: URL } = {}): PutPool | null {
  const workerUrl = options.workerUrl ?? new URL('./put-worker.js', import.meta.url);
  if (!compiledWorker(workerUrl)) return null;
  return new WorkerPutPool(workerUrl, Math.max(1, options.threads ?? os.availableParallelism()));
}
