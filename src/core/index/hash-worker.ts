// The hashing worker thread: receives batches of listed files, hashes each with one reusable
// read buffer, and answers with the outcomes in the same order. Tasks and hashes travel packed in
// one buffer (32 bytes a file) and the sizes and mtimes in typed arrays: cloning a small
// object and an ArrayBuffer per file cost more than hashing a small file. Loaded from dist/ only.

import { parentPort } from 'node:worker_threads';
import { HASH_READ_BYTES, hashListedFile } from './hash-file.js';
import { PackedOutcomes, PackedTasks, unpackTask } from './hash-wire.js';

const buffer = Buffer.allocUnsafe(HASH_READ_BYTES);

parentPort?.on('message', (batch: PackedTasks) => {
  const count = batch.paths.length;
  const packed: PackedOutcomes = { id: batch.id, hashes: new Uint8Array(32 * count), sizes: new Float64Array(count), mtimesNs: new BigInt64Array(count), failures: [] };
  for (let i = 0; i < count; i++) {
    const outcome = hashListedFile(unpackTask(batch, i), buffer);
    if (outcome.ok) {
      packed.hashes.set(outcome.hash, 32 * i);
      packed.sizes[i] = outcome.sizeBytes;
      packed.mtimesNs[i] = outcome.mtimeNs;
    } else {
      packed.failures.push([i, outcome.message]);
    }
  }
  parentPort?.postMessage(packed, [packed.hashes.buffer, packed.sizes.buffer, packed.mtimesNs.buffer] as ArrayBuffer[]);
});
