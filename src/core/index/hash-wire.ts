// What a hashing worker sends back for a batch: packed, so a batch is a handful of buffers to
// move between threads instead of an object (and an ArrayBuffer) per file.

import { HashOutcome, HashTask } from './hash-file.js';

/** A batch of files to hash, packed the same way: paths, then each file's inode and device. */
export interface PackedTasks {
  id: number;
  paths: string[];
  inos: BigInt64Array;
  devs: BigInt64Array;
}

export function packTasks(id: number, tasks: readonly HashTask[]): PackedTasks {
  const packed: PackedTasks = { id, paths: [], inos: new BigInt64Array(tasks.length), devs: new BigInt64Array(tasks.length) };
  tasks.forEach((task, i) => {
    packed.paths.push(task.absolutePath);
    packed.inos[i] = BigInt.asIntN(64, task.ino);
    packed.devs[i] = BigInt.asIntN(64, task.dev);
  });
  return packed;
}

/** The i-th task of a packed batch (its size, used only to balance the pool, is not sent). */
export function unpackTask(packed: PackedTasks, i: number): HashTask {
  return { absolutePath: packed.paths[i], ino: BigInt.asUintN(64, packed.inos[i]), dev: BigInt.asUintN(64, packed.devs[i]), sizeBytes: 0 };
}

export interface PackedOutcomes {
  id: number;
  /** 32 bytes a file, in task order; zeros for a failed file. */
  hashes: Uint8Array;
  sizes: Float64Array;
  mtimesNs: BigInt64Array;
  /** [task index, message] of each file that could not be hashed. */
  failures: [number, string][];
}

/** The outcomes in task order; each hash is a view into the packed buffer (no copy). */
export function unpackOutcomes(packed: PackedOutcomes): HashOutcome[] {
  const hashes = Buffer.from(packed.hashes.buffer, packed.hashes.byteOffset, packed.hashes.byteLength);
  const outcomes: HashOutcome[] = [];
  for (let i = 0; i < packed.sizes.length; i++) {
    outcomes.push({ ok: true, hash: hashes.subarray(32 * i, 32 * i + 32), sizeBytes: packed.sizes[i], mtimeNs: packed.mtimesNs[i] });
  }
  for (const [i, message] of packed.failures) outcomes[i] = { ok: false, message };
  return outcomes;
}
