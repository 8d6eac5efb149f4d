// The put worker thread: runs LocalDestination.put for the pool, several at a time, and
// answers each with nothing or the error it threw. Loaded from dist/ only.

import { parentPort } from 'node:worker_threads';
import { LocalDestination } from './local.js';
import { PutTask, toWireError } from './put-pool.js';

const destinations = new Map<string, LocalDestination>();

function destinationFor(task: PutTask): LocalDestination {
  const key = `${task.destination}\0${task.root}`;
  let destination = destinations.get(key);
  if (!destination) destinations.set(key, (destination = new LocalDestination(task.destination, task.root)));
  return destination;
}

parentPort?.on('message', ({ id, task }: { id: number; task: PutTask }) => {
  destinationFor(task)
    .put(task.relativePath, task.localFile, task.stagingPath, task.expected)
    .then(
      () => parentPort?.postMessage({ id, error: null }),
      (err: unknown) => parentPort?.postMessage({ id, error: toWireError(err) }),
    );
});
