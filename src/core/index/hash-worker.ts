// The hashing worker thread: receives batches of listed files, hashes each with one reusable
// read buffer, and answers with the outcomes in the same order. Loaded from dist/ only.

import { parentPort } from 'node:worker_threads';
import { HASH_READ_BYTES, HashTask, hashListedFile } from './hash-file.js';

const buffer = Buffer.allocUnsafe(HASH_READ_BYTES);

parentPort?.on('message', (batch: { id: number; tasks: HashTask[] }) => {
  const results = batch.tasks.map((task) => hashListedFile(task, buffer));
  parentPort?.postMessage({ id: batch.id, results });
});
