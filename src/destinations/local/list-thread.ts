// A local destination's listing walked on a worker thread (list-worker.ts): a nothing-new sync
// of 10^5 files spends ~0.9 s in the walk's readdir and lstat calls, which then run beside the
// sync's reading of the index instead of before it. Without the compiled worker script (tests
// of the TypeScript sources) there is no thread and the caller walks in-thread.

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ListedFile } from '../destination.js';
import { fromWireError, WireError } from './put-pool.js';

/** What the worker is asked to walk (its workerData). */
export interface ListingRequest {
  destination: string;
  location: string;
  start: string;
  pageFiles: number;
  pagesAhead: number;
}

export interface ListingPage {
  kind: 'page';
  paths: string[];
  sizes: number[];
  /** '' where the walk gave none. */
  fingerprints: string[];
}

type ListingMessage = ListingPage | { kind: 'end' } | { kind: 'error'; error: WireError };

const PAGE_FILES = 1000;
const PAGES_AHEAD = 8;

/** The walk of `start` under `location` on a worker thread, or null when there is no compiled worker. */
export function listOnThread(destination: string, location: string, start: string, workerUrl = new URL('./list-worker.js', import.meta.url)): AsyncGenerator<ListedFile> | null {
  if (!workerUrl.href.endsWith('.js') || !fs.existsSync(fileURLToPath(workerUrl))) return null;
  return pages(new Worker(workerUrl, { workerData: { destination, location, start, pageFiles: PAGE_FILES, pagesAhead: PAGES_AHEAD } satisfies ListingRequest }));
}

async function* pages(worker: Worker): AsyncGenerator<ListedFile> {
  const arrived: ListingMessage[] = [];
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  worker.on('message', (message: ListingMessage) => {
    arrived.push(message);
    notify();
  });
  worker.on('error', (err) => {
    failure ??= new Error(`listing thread failed: ${err.message}`);
    notify();
  });
  worker.on('exit', (code) => {
    failure ??= new Error(`listing thread ended early (exit code ${code})`);
    notify();
  });
  // The thread keeps the process alive only while the reader waits on it: a reader that stops
  // early without closing the listing leaves nothing running.
  worker.unref();
  try {
    for (;;) {
      if (arrived.length === 0 && failure === null) {
        worker.ref();
        await new Promise<void>((resolve) => (wake = resolve));
        worker.unref();
      }
      const message = arrived.shift();
      if (message === undefined) throw failure!;
      if (message.kind === 'end') return;
      if (message.kind === 'error') throw fromWireError(message.error);
      worker.postMessage('taken');
      for (let i = 0; i < message.paths.length; i++) {
        const fingerprint = message.fingerprints[i];
        yield { path: message.paths[i], sizeBytes: message.sizes[i], ...(fingerprint === '' ? {} : { fingerprint }) };
      }
    }
  } finally {
    await worker.terminate();
  }
}
