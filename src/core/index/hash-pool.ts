// BLAKE3 on all cores: a pool of worker threads fed small batches of files, several batches
// in flight per worker so none waits for a round trip. The worker script is the
// compiled dist/ file next to this module; when it is absent (tests running the TypeScript
// sources in-process) the pool falls back to hashing in this thread, one file per turn of
// the event loop, with identical results.

import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HASH_READ_BYTES, HashOutcome, HashTask, hashListedFile } from './hash-file.js';
import { PackedOutcomes, packTasks, unpackOutcomes } from './hash-wire.js';

const BATCH_MAX_FILES = 64;
const BATCH_MAX_BYTES = 8 << 20;
// A worker is handed more only when its answers are read, which the main thread does between
// its own work (walking, committing, unlinking). At least 4 batches, and up to 32 batches or
// 256 MiB per worker, keep it busy through ~50 ms of main-thread work; the tail stays about
// that well balanced.
const MIN_BATCHES_IN_FLIGHT_PER_WORKER = 4;
const MAX_BATCHES_IN_FLIGHT_PER_WORKER = 32;
const BYTES_IN_FLIGHT_PER_WORKER = 256 << 20;

export interface Hasher {
  readonly threads: number;
  hash(task: HashTask): Promise<HashOutcome>;
  close(): Promise<void>;
}

interface Pending {
  task: HashTask;
  resolve: (outcome: HashOutcome) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  batches: Map<number, Pending[]>;
  bytesInFlight: number;
  dead: boolean;
}

class WorkerPoolHasher implements Hasher {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextBatchId = 1;
  private closing = false;

  constructor(
    private readonly workerUrl: URL,
    readonly threads: number,
    eager: boolean,
  ) {
    if (eager) for (let i = 0; i < threads; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(this.workerUrl), batches: new Map(), bytesInFlight: 0, dead: false };
    slot.worker.on('message', (message: PackedOutcomes) => {
      const batch = slot.batches.get(message.id);
      if (!batch) return;
      slot.batches.delete(message.id);
      for (const pending of batch) slot.bytesInFlight -= pending.task.sizeBytes;
      const outcomes = unpackOutcomes(message);
      batch.forEach((pending, i) => pending.resolve(outcomes[i]));
      this.pump();
    });
    const fail = (err: Error) => {
      if (slot.dead) return;
      slot.dead = true;
      for (const batch of slot.batches.values()) for (const pending of batch) pending.reject(err);
      slot.batches.clear();
      if (this.slots.every((s) => s.dead)) for (const pending of this.queue.splice(0)) pending.reject(err);
      else this.pump();
    };
    slot.worker.on('error', (err) => fail(new Error(`hashing worker failed: ${err.message}`)));
    slot.worker.on('exit', (code) => {
      if (!this.closing) fail(new Error(`hashing worker exited with code ${code}`));
    });
    return slot;
  }

  hash(task: HashTask): Promise<HashOutcome> {
    return new Promise((resolve, reject) => {
      if (this.slots.length > 0 && this.slots.every((s) => s.dead)) return reject(new Error('no hashing worker is running'));
      this.queue.push({ task, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    // Lazily, workers start on first use (each boots a V8 isolate), one more while all are busy.
    if (this.slots.length < this.threads && this.queue.length > 0 && this.slots.every((s) => s.batches.size > 0)) {
      this.slots.push(this.spawn());
    }
    for (const slot of this.slots) {
      while (!slot.dead && this.queue.length > 0 && this.wantsMore(slot)) {
        const batch: Pending[] = [];
        let bytes = 0;
        while (this.queue.length > 0 && batch.length < BATCH_MAX_FILES && bytes < BATCH_MAX_BYTES) {
          const pending = this.queue.shift()!;
          batch.push(pending);
          bytes += pending.task.sizeBytes;
        }
        const id = this.nextBatchId++;
        slot.batches.set(id, batch);
        slot.bytesInFlight += bytes;
        const packed = packTasks(id, batch.map((p) => p.task));
        slot.worker.postMessage(packed, [packed.inos.buffer, packed.devs.buffer] as ArrayBuffer[]);
      }
    }
  }

  private wantsMore(slot: Slot): boolean {
    if (slot.batches.size < MIN_BATCHES_IN_FLIGHT_PER_WORKER) return true;
    return slot.batches.size < MAX_BATCHES_IN_FLIGHT_PER_WORKER && slot.bytesInFlight < BYTES_IN_FLIGHT_PER_WORKER;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/** Hashes in the calling thread; yields to the event loop before each file. */
export class InlineHasher implements Hasher {
  readonly threads = 1;
  private readonly buffer = Buffer.allocUnsafe(HASH_READ_BYTES);

  /** afterOpen: a test seam to change a file between its first stat and its read. */
  constructor(private readonly afterOpen?: (task: HashTask) => void) {}

  async hash(task: HashTask): Promise<HashOutcome> {
    await new Promise((resolve) => setImmediate(resolve));
    return hashListedFile(task, this.buffer, this.afterOpen && (() => this.afterOpen!(task)));
  }

  async close(): Promise<void> {}
}

/**
 * A pool with one worker per core, or the in-thread hasher when no compiled worker exists.
 * eager: start every worker now, so their boot overlaps the caller's setup (when most files
 * will be hashed); otherwise they start as work arrives (a shallow index may hash nothing).
 */
export function createHasher(options: { threads?: number; eager?: boolean } = {}): Hasher {
  const workerUrl = new URL('./hash-worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.js') || !fs.existsSync(fileURLToPath(workerUrl))) return new InlineHasher();
  return new WorkerPoolHasher(workerUrl, Math.max(1, options.threads ?? os.availableParallelism()), options.eager ?? false);
}
