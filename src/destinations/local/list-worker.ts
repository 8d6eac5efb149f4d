// The listing worker thread: walks one local destination tree (listing.ts) and sends its files
// a page at a time, never more than `pagesAhead` pages beyond what the reader has taken, so
// the walk's lstat calls run beside the sync's own work and memory stays bounded. Loaded from
// dist/ only.

import { parentPort, workerData } from 'node:worker_threads';
import { walkInOrder } from './listing.js';
import { ListingRequest, ListingPage } from './list-thread.js';
import { toWireError } from './put-pool.js';

const { destination, location, start, pageFiles, pagesAhead } = workerData as ListingRequest;
let credits = pagesAhead;
let wake: (() => void) | null = null;
// Each message is a page taken by the reader: room for one more.
parentPort?.on('message', () => {
  credits++;
  const w = wake;
  wake = null;
  w?.();
});

async function send(page: ListingPage): Promise<void> {
  while (credits === 0) await new Promise<void>((resolve) => (wake = resolve));
  credits--;
  parentPort?.postMessage(page);
}

async function run(): Promise<void> {
  let page: ListingPage = { kind: 'page', paths: [], sizes: [], fingerprints: [] };
  try {
    for (const file of walkInOrder(destination, location, start)) {
      page.paths.push(file.path);
      page.sizes.push(file.sizeBytes);
      page.fingerprints.push(file.fingerprint ?? '');
      if (page.paths.length === pageFiles) {
        await send(page);
        page = { kind: 'page', paths: [], sizes: [], fingerprints: [] };
      }
    }
    if (page.paths.length > 0) await send(page);
    parentPort?.postMessage({ kind: 'end' });
  } catch (err) {
    parentPort?.postMessage({ kind: 'error', error: toWireError(err) });
  }
}

void run();
