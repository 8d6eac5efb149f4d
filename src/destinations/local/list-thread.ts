// A local destination's listing walked on a worker thread (list-worker.ts): a nothing-new sync
// of 10^5 files spends ~0.9 s in the walk's readdir and lstat calls, which then run beside the
// sync's reading of the index instead of before it. Without the compiled worker script (tests
// of the TypeScript sources) there is no thread and the caller walks in-thread.

import { pagesFromWorker } from '../../thread-pages.js';
import { ListedFile } from '../destination.js';
import { fromWireError, WireError } from './put-pool.js';

/** What the worker is asked to walk (its workerData). */
export interface ListingRequest {
  destination: string;
  location: string;
  start: string;
}

/** The walk of `start` under `location` on a worker thread, or null when there is no compiled worker. */
export function listOnThread(destination: string, location: string, start: string, workerUrl = new URL('./list-worker.js', import.meta.url)): AsyncGenerator<ListedFile> | null {
  const pages = pagesFromWorker<ListedFile>(workerUrl, { destination, location, start } satisfies ListingRequest, 'listing', (wire) => fromWireError(wire as WireError));
  return pages && files(pages);
}

async function* files(pages: AsyncGenerator<ListedFile[]>): AsyncGenerator<ListedFile> {
  for await (const page of pages) yield* page;
}
